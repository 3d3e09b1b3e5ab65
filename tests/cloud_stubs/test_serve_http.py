"""`lanterna serve --http` with cloud-stubs, as an operator runs it: every MCP request needs a
key, and each tenant's session tools see only the repository configured for that tenant."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cloud_harness import Cloud

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_repo(path: Path, message: str, dirty: str = "") -> Path:
    path.mkdir(parents=True)
    env = {**os.environ, **GIT_ENV}
    (path / "README.md").write_text(message + "\n", encoding="utf-8")
    for args in (["init", "-q", "-b", "main"], ["add", "README.md"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, env=env)
    if dirty:
        (path / "README.md").write_text(dirty, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cloud: Cloud, cwd: Path) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LANTERNA_API_KEY", "LANTERNA_TENANT")}
    env.update({"LANTERNA_HOME": str(cloud.home), "LANTERNA_LOAD_PLUGINS": "cloud"})
    script = Path(sys.executable).parent / "lanterna"
    proc = subprocess.Popen(
        [str(script), "serve", "--http", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return f"http://127.0.0.1:{port}/mcp", proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)


def stop_server(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C, as an operator stops it; returns its stderr."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "lanterna: stopped serving MCP over HTTP" in err and "Traceback" not in err
    return err


@pytest.fixture
def operator_repo(tmp_path: Path) -> Path:
    """The repository the operator starts the server in, with uncommitted work of its own."""
    return make_repo(tmp_path / "operator", "operator secret roadmap", dirty="operator uncommitted plan\n")


def post(url: str, message: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(
        "POST",
        parts.path,
        json.dumps(message),
        {"content-type": "application/json", "accept": "application/json, text/event-stream", **headers},
    )
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, json.loads(body) if body.startswith("{") else {"raw": body}


def test_every_mcp_request_needs_a_valid_key(cloud: Cloud, operator_repo: Path) -> None:
    key = cloud.key("acme", "member")
    url, proc = start_server(cloud, operator_repo)
    try:
        status, body = post(url, INITIALIZE)
        assert status == 401
        assert body["error"]["message"] == (
            "request refused: no API key: send `authorization: Bearer <key>`"
            " (create one with `lanterna tenant key-create`)"
        )
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        status, body = post(url, listing, authorization="Bearer lnt_" + "x" * 43)
        assert status == 401 and "unknown or revoked API key" in body["error"]["message"]
        assert "x" * 43 not in json.dumps(body)
        status, _ = post(url, INITIALIZE, authorization=f"Bearer {key}")
        assert status == 200
        # a key claiming another tenant is refused, and the audit says whose key tried it
        status, body = post(url, INITIALIZE, authorization=f"Bearer {key}", **{"x-tenant-id": "beta"})
        assert status == 401 and "belongs to another tenant" in body["error"]["message"]
    finally:
        stop_server(proc)
    record = next(r for r in cloud.plugin.keys.records() if r.tenant == "acme")
    events = [json.loads(line) for line in cloud.audit_lines()]
    spoof = [e for e in events if e["kind"] == "security" and "another tenant" in e["message"]]
    assert len(spoof) == 1, events
    assert spoof[0]["tenant"] == "acme" and spoof[0]["actor"] == "acme-user"
    assert spoof[0]["detail"]["key_id"] == record.id and spoof[0]["detail"]["path"] == "/mcp"
    assert key not in "\n".join(cloud.audit_lines())


async def session_calls(url: str, key: str) -> dict[str, Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=60)
    answers = {}
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        for tool in ("session_log", "session_diff", "session_branch", "session_status"):
            result = await client.call_tool(tool, {})
            text = "\n".join(getattr(block, "text", "") for block in result.content)
            answers[tool] = (result.is_error, text + json.dumps(result.structured_content or {}))
    return answers


async def test_each_tenant_sees_only_its_own_repository_over_http(
    cloud: Cloud, operator_repo: Path, tmp_path: Path
) -> None:
    repo_a = make_repo(tmp_path / "a", "alpha first commit", dirty="alpha work in progress\n")
    repo_b = make_repo(tmp_path / "b", "bravo first commit")
    cloud.other["session.repos"] = {"tenant-a": str(repo_a), "tenant-b": [str(repo_b)]}
    cloud.other["cloud.plans.free"] = {"operations_per_day": 1000}
    cloud.reload()
    key_a, key_b = cloud.key("tenant-a", "viewer"), cloud.key("tenant-b", "member")
    key_c = cloud.key("tenant-c", "owner")
    url, proc = start_server(cloud, operator_repo)
    try:
        a = await session_calls(url, key_a)
        b = await session_calls(url, key_b)
        c = await session_calls(url, key_c)
    finally:
        stop_server(proc)
    served = json.dumps([a, b, c])
    for operator_data in ("operator secret roadmap", "operator uncommitted plan", str(operator_repo)):
        assert operator_data not in served, "a tenant was served the operator's repository"
    assert all(not error for error, _ in a.values()), a  # the viewer role may use the read-only session tools
    assert "alpha first commit" in a["session_log"][1] and "alpha work in progress" in a["session_diff"][1]
    assert "bravo" not in json.dumps(a)
    assert "bravo first commit" in b["session_log"][1] and "alpha" not in json.dumps(b)
    for error, text in c.values():
        assert error and "no repository is configured for tenant 'tenant-c'" in text and "[session.repos]" in text
    # authorization and the audit name the repository each tenant was served, never the operator's
    events = [json.loads(line) for line in cloud.audit_lines()]
    resources: dict[str, set[str]] = {}
    for event in events:
        if event.get("kind") == "audit" and event["action"].startswith("session."):
            resources.setdefault(event["tenant"], set()).add(event["resource"])
    assert resources == {
        "tenant-a": {f"repo:{repo_a.resolve()}"},
        "tenant-b": {f"repo:{repo_b.resolve()}"},
        "tenant-c": {"repo:(none)"},
    }
    assert str(operator_repo) not in "\n".join(cloud.audit_lines())
