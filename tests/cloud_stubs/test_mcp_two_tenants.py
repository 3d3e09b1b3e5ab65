"""End to end over MCP streamable HTTP: tenant A can neither see, count nor delete tenant B's data.

It drives whatever tools the server registers, generically (arguments made from each tool's
input schema). How it works: tenant B calls every tool with strings carrying B's unique marker (so any
"remember"/"write" tool stores B data), tenant A does the same with A's marker. Then A calls
every tool again with words that match B's data (but not B's marker, which A's own writes
would then contain), and with every id B's results exposed; no answer to A may contain B's
marker, and every answer that showed B its data before A's pass still shows it after
(nothing of B's was deleted or changed by A). Checked against a throwaway two-tool server:
it passes for an isolated one and fails for one whose search ignores the tenant.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from typing import Any

import pytest
from cloud_harness import Cloud


def build_app(host: Any) -> Any:
    from lanterna.server.app import build_server

    return build_server(host, transport="http").streamable_http_app()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the MCP server did not start within 30 s")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/mcp"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def arguments(schema: dict[str, Any], text: str, ids: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type")
        if name == "id" or name.endswith("_id"):
            args[name] = ids[0] if ids else text
        elif kind == "string":
            args[name] = text
        elif kind in ("integer", "number"):
            args[name] = 50
        elif kind == "boolean":
            args[name] = False
        elif kind == "array":
            args[name] = [text] if (prop.get("items") or {}).get("type") == "string" else []
        elif name in (schema.get("required") or []):
            args[name] = {}
    return args


def text_of(result: Any) -> str:
    parts = [getattr(c, "text", "") for c in result.content or []]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, default=str))
    return "\n".join(parts)


def ids_in(result: Any) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if (k == "id" or k.endswith("_id")) and isinstance(v, str):
                    found.append(v)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(result.structured_content)
    return found


async def call_all(url: str, key: str, text: str, ids: list[str]) -> dict[str, Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    answers = {}
    http = httpx2.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        tools = (await client.list_tools()).tools
        for tool in sorted(tools, key=lambda t: t.name):
            answers[tool.name] = await client.call_tool(tool.name, arguments(tool.input_schema, text, ids))
    return answers


@pytest.mark.anyio
async def test_tenant_a_cannot_reach_tenant_b_over_mcp(cloud: Cloud) -> None:
    cloud.other["cloud.plans.free"] = {"operations_per_day": 100_000}
    cloud.reload()
    key_a, key_b = cloud.key("tenant-a", "owner"), cloud.key("tenant-b", "owner")
    marker_a, marker_b = f"isoA{uuid.uuid4().hex[:12]}", f"isoB{uuid.uuid4().hex[:12]}"
    with Served(build_app(cloud.host)) as url:
        await call_all(url, key_b, f"lanterna isolation probe {marker_b}", [])
        await call_all(url, key_a, f"lanterna isolation probe {marker_a}", [])
        b_before = await call_all(url, key_b, "lanterna isolation probe", [])
        b_ids = [i for r in b_before.values() for i in ids_in(r)]
        b_sees = {name for name, r in b_before.items() if marker_b in text_of(r)}
        assert b_sees, "no tool showed tenant B its own data: the probe cannot tell isolation from emptiness"
        a_answers = await call_all(url, key_a, "lanterna isolation probe", b_ids)
        leaks = sorted(name for name, r in a_answers.items() if marker_b in text_of(r))
        assert leaks == [], f"tools that showed tenant A tenant B's data: {leaks}"
        assert any(marker_a in text_of(r) for r in a_answers.values()), "tenant A does not see its own data"
        b_after = await call_all(url, key_b, "lanterna isolation probe", [])
        lost = sorted(name for name in b_sees if marker_b not in text_of(b_after[name]))
        assert lost == [], f"tenant B's data changed after tenant A's calls: {lost}"
