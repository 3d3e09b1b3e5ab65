"""Every memory tool's user errors reach the MCP client as their one line, and are not counted
as plugin failures; the tools authorize ``service:<name>`` and serve the host they were built for."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from lanterna import hookimpl
from lanterna.config import Config
from lanterna.plugins import PluginHost, get_host, recorded_hook_failures
from lanterna.server.app import build_server
from tests.helpers import subprocess_env

from .helpers import LANTERNA, memory, operation, write_tree

pytestmark = pytest.mark.anyio


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@contextlib.contextmanager
def http_server(host: PluginHost) -> Iterator[str]:
    """``build_server(host)`` served over streamable HTTP on a free loopback port, in this process."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = build_server(host, transport="http").streamable_http_app(host="127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.asynccontextmanager
async def http_client(url: str) -> AsyncIterator[Client]:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client()
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        yield client


async def error_of(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} {arguments} succeeded: {result.structured_content}"
    text = text_of(result).removeprefix(f"Error executing tool {tool}: ")  # the SDK's prefix
    assert "\n" not in text.strip(), text
    assert "failed (" not in text and "server log" not in text, text  # the user's line, not a plugin failure
    return text


def assert_nothing_counted(host: PluginHost, lanterna_home: Path) -> None:
    assert dict(host.hook_failures) == {}
    assert dict(recorded_hook_failures()) == {}
    status = subprocess.run(
        [*LANTERNA, "status", "--json"],
        env=subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS=""),
        capture_output=True,
    )
    assert status.returncode == 0, status.stderr.decode()
    assert json.loads(status.stdout)["hook_failures"] == []


async def test_every_memory_tool_sends_its_user_error_to_the_client(
    tmp_path: Path, lanterna_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = get_host()
    async with Client(build_server(host)) as client:
        note = await client.call_tool("memory_remember", {"text": "the cache is warmed at 06:00"})
        note_id = note.structured_content["id"]
        assert not (await client.call_tool("memory_forget", {"id": note_id})).is_error
        errors = {
            "get unknown": await error_of(client, "memory_get", {"id": "0" * 32}),
            "get forgotten": await error_of(client, "memory_get", {"id": note_id}),
            "forget unknown": await error_of(client, "memory_forget", {"id": "f" * 32}),
            "search blank": await error_of(client, "memory_search", {"query": "   "}),
            "search service": await error_of(client, "memory_search", {"query": "cache", "service": "ghost"}),
            "search kind": await error_of(client, "memory_search", {"query": "cache", "kind": "poem"}),
            "search limit": await error_of(client, "memory_search", {"query": "cache", "limit": 0}),
            "search per_file": await error_of(client, "memory_search", {"query": "cache", "per_file": 0}),
            "search long": await error_of(client, "memory_search", {"query": "cache " * 200}),
            "search name": await error_of(client, "memory_search", {"query": "cache", "service": "bad name!"}),
            "list name": await error_of(client, "memory_list", {"service": "bad name!"}),
            "note name": await error_of(client, "memory_remember", {"text": "x", "service": "bad name!"}),
            "list kind": await error_of(client, "memory_list", {"kind": "poem"}),
            "list negative": await error_of(client, "memory_list", {"limit": -1}),
            "list zero": await error_of(client, "memory_list", {"limit": 0}),
            "list huge": await error_of(client, "memory_list", {"limit": 10**9}),
            "remember empty": await error_of(client, "memory_remember", {"text": " "}),
            "adr empty": await error_of(client, "memory_add_adr", {"title": "Queues", "text": ""}),
            "incident empty": await error_of(client, "memory_add_incident", {"title": "Outage", "text": "\n"}),
            "ingest missing": await error_of(
                client, "memory_ingest", {"path": str(tmp_path / "nope"), "service": "shop"}
            ),
            "ingest kind": await error_of(
                client, "memory_ingest", {"path": str(tmp_path), "service": "s", "kind": "x"}
            ),
            "ingest service": await error_of(client, "memory_ingest", {"path": str(tmp_path), "service": " "}),
        }
    assert errors["get unknown"] == f"no memory with id '{'0' * 32}'; `lanterna search` or the list tools show ids"
    assert errors["get forgotten"].startswith(f"no memory with id '{note_id}'")
    assert errors["forget unknown"].startswith(f"no memory with id '{'f' * 32}' to forget")
    assert errors["search blank"] == "the search query is empty; say what you are looking for"
    assert errors["search service"] == (
        "unknown service 'ghost': nothing was ingested under it; `lanterna services` lists the ingested ones,"
        " `lanterna ingest PATH --service ghost` adds it"
    )
    assert errors["search kind"].startswith("unknown kind 'poem'; use one of code, doc")
    assert errors["search limit"] == "limit must be between 1 and 200"
    assert errors["search per_file"] == "per_file must be at least 1 (chunks of one file among the results)"
    # 200 x "cache ", stripped: 1,199 characters
    assert errors["search long"] == (
        "the search query has 1199 characters; use at most 1000 (a question or a few identifiers)"
    )
    bad_name = "'bad name!' is not a service name: use 1-100 letters, digits and . _ - / : @ + (no spaces)"
    assert errors["search name"].startswith(bad_name)
    assert errors["list name"] == errors["note name"] == errors["search name"]
    assert errors["list kind"].startswith("unknown kind 'poem'")
    assert errors["list negative"] == errors["list zero"] == errors["list huge"] == "limit must be between 1 and 200"
    assert errors["remember empty"] == "the note is empty; give its text"
    assert errors["adr empty"] == "the adr is empty; give its text"
    assert errors["incident empty"] == "the incident is empty; give its text"
    assert errors["ingest missing"] == f"path {tmp_path / 'nope'} does not exist; pass a folder or file to ingest"
    assert errors["ingest kind"].startswith("unknown kind 'x'")
    assert "service name is required" in errors["ingest service"]

    # The two tools without arguments fail only when the store cannot be used: a host configured
    # for a second store in a process that already has one.
    monkeypatch.delenv("LANTERNA_PIXELTABLE_HOME")
    other = PluginHost(Config(data={"memory": {"pixeltable_home": str(tmp_path / "other-store")}}))
    async with Client(build_server(other)) as client:
        services = await error_of(client, "memory_services", {})
        stats = await error_of(client, "memory_stats", {})
    assert services == stats
    assert services.startswith("this process already uses the memory store at") and "one store per process" in stats
    assert_nothing_counted(host, lanterna_home)
    assert dict(other.hook_failures) == {}


class DenySecret:
    """A policy: nobody may touch the service 'secret'."""

    @hookimpl
    def authorize(self, request: Any, action: str, resource: str) -> str | None:
        if resource == "service:secret":
            return "the service 'secret' is off limits; ask its owner for access"
        return None


async def test_errors_and_resource_scoped_denials_over_streamable_http(tmp_path: Path, lanterna_home: Path) -> None:
    host = get_host()
    host.register(DenySecret(), "deny-secret")
    root = write_tree(tmp_path / "src", {"app.py": "def launch_rocket():\n    return 'go'\n"})
    with operation(resource="service:public"):
        memory().ingest_path(str(root), "public")
        memory().ingest_path(str(root), "secret")
    with http_server(host) as url:
        async with http_client(url) as client:
            ingest = await error_of(client, "memory_ingest", {"path": str(root), "service": "public"})
            missing = await error_of(client, "memory_get", {"id": "0" * 32})
            denied_search = await error_of(client, "memory_search", {"query": "launch_rocket", "service": "secret"})
            denied_list = await error_of(client, "memory_list", {"service": "secret"})
            denied_note = await error_of(client, "memory_remember", {"text": "x", "service": "secret"})
            allowed = await client.call_tool("memory_search", {"query": "launch_rocket", "service": "public"})
    assert ingest == (
        "ingesting server paths over HTTP is off; run `lanterna ingest` on the server,"
        ' or list the folders HTTP clients may ingest in [memory]: allow_remote_ingest = ["/srv/code"]'
    )
    assert missing.startswith("no memory with id")
    assert denied_search == denied_list == denied_note == "the service 'secret' is off limits; ask its owner for access"
    assert not allowed.is_error
    assert {h["service"] for h in allowed.structured_content["result"]} == {"public"}
    assert_nothing_counted(host, lanterna_home)


async def test_a_server_built_for_its_own_host_uses_that_hosts_memory_config(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "src", {"ops.py": "def rotate_keys():\n    return 'rotated'\n"})
    own = PluginHost(Config(data={"memory": {"allow_remote_ingest": [str(tmp_path)]}}))

    def no_global_host() -> PluginHost:
        raise AssertionError("memory reached for the process-wide plugin host")

    with pytest.MonkeyPatch.context() as patch, http_server(own) as url:
        patch.setattr("lanterna.plugins.get_host", no_global_host)
        async with http_client(url) as client:
            ingested = await client.call_tool("memory_ingest", {"path": str(root), "service": "ops"})
            found = await client.call_tool("memory_search", {"query": "rotate_keys", "service": "ops"})
    assert not ingested.is_error, text_of(ingested)
    assert ingested.structured_content["added"] == 1
    assert found.structured_content["result"][0]["path"] == "ops.py"
    default = get_host()  # the process-wide host keeps the default: no ingest over HTTP
    with http_server(default) as url:
        async with http_client(url) as client:
            refused = await error_of(client, "memory_ingest", {"path": str(root), "service": "ops"})
    assert "over HTTP is off" in refused
