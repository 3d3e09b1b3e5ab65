"""The real server in a subprocess: stdio (raw stdout must be pure JSON-RPC) and streamable HTTP."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.core.server_helpers import audit_events, commit_file, init_repo, text_of
from tests.helpers import subprocess_env

pytestmark = pytest.mark.anyio

SERVE = [sys.executable, "-m", "lanterna", "serve"]


#: The first message of a raw JSON-RPC session.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"},
    },
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo", branch="stdio-branch")
    commit_file(repo, "a.txt", "a\n", "First")
    return repo


def _rpc(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()


def _read_response(proc: subprocess.Popen[bytes], request_id: int, lines: list[bytes]) -> dict[str, Any]:
    """Read stdout lines until the response to ``request_id``; every line must be a JSON-RPC message."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, f"server closed stdout; stderr: {proc.stderr.read().decode() if proc.stderr else ''}"
        lines.append(line)
        message = json.loads(line)  # a non-JSON line fails the test here
        assert message.get("jsonrpc") == "2.0", line
        if message.get("id") == request_id:
            return message


def test_stdio_subprocess_stdout_is_pure_json_rpc(repo: Path, lanterna_home: Path) -> None:
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="mcp_tools,guard_probe")
    proc = subprocess.Popen(
        SERVE, cwd=repo, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[bytes] = []
    try:
        _rpc(proc, INITIALIZE)
        init = _read_response(proc, 1, lines)
        assert init["result"]["serverInfo"]["name"] == "lanterna"
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        names = {t["name"] for t in _read_response(proc, 2, lines)["result"]["tools"]}
        assert {"session_branch", "session_diff", "probe_noisy", "probe_boom"} <= names
        calls = {
            3: ("session_branch", {}),
            4: ("probe_noisy", {}),
            5: ("probe_boom", {"text": "x"}),
            6: ("probe_whoami", {}),
            7: ("session_file_history", {"path": "../outside"}),
        }
        results = {}
        for request_id, (name, arguments) in calls.items():
            _rpc(
                proc,
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": "tools/call",
                    "params": {"name": name, "arguments": arguments},
                },
            )
            results[name] = _read_response(proc, request_id, lines)["result"]
        assert results["session_branch"]["structuredContent"]["branch"] == "stdio-branch"
        assert results["probe_noisy"]["structuredContent"] == {"result": "quiet answer"}
        assert results["probe_boom"]["isError"] is True
        assert results["probe_whoami"]["structuredContent"]["transport"] == "stdio"
        assert results["probe_whoami"]["structuredContent"]["tenant"] == "local"
        assert results["session_file_history"]["isError"] is True
    finally:
        try:  # communicate() closes stdin: the server sees EOF and exits
            rest, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, stderr = proc.communicate()
    for line in rest.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0", line
    assert proc.returncode == 0, stderr.decode()
    assert b"noise" not in b"".join(lines) + rest
    assert b"noise written to fd 1" in stderr and b"noise from print()" in stderr
    assert (lanterna_home / "probe-lifecycle.txt").read_text().split() == ["startup", "shutdown"]
    actions = [e["action"] for e in audit_events(lanterna_home)]
    assert actions == ["session.branch", "tool.probe_noisy", "tool.probe_boom", "probe.whoami", "session.file_history"]


async def test_stdio_subprocess_with_the_sdk_client(repo: Path, lanterna_home: Path) -> None:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=SERVE[0], args=SERVE[1:], cwd=str(repo), env=subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="")
    )
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "session_status" in names
        result = await client.call_tool("session_log", {"limit": 1})
    assert not result.is_error
    assert result.structured_content["commits"][0]["subject"] == "First"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not start listening")


async def test_streamable_http_on_loopback_takes_identity_from_headers(repo: Path, lanterna_home: Path) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    port = _free_port()
    secret = "Bearer very-secret-token-value"
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="mcp_tools,guard_probe")
    # guard_probe resolves tenants, so over HTTP a tenant is served only the repository configured for it
    (lanterna_home / "config.toml").write_text(f'[session.repos]\nacme = "{repo}"\n', encoding="utf-8")
    proc = subprocess.Popen(
        [*SERVE, "--http", "--port", str(port)], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _wait_for_port(port, proc)
        headers = {"X-Tenant-Id": "acme", "Authorization": secret}
        http = create_mcp_http_client(headers=headers)
        async with http, Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client:
            assert "session_branch" in {t.name for t in (await client.list_tools()).tools}
            who = (await client.call_tool("probe_whoami", {})).structured_content
            branch = await client.call_tool("session_branch", {})
            boom = await client.call_tool("probe_boom", {"text": "x"})
        assert who["transport"] == "http"
        assert who["tenant"] == "acme" and who["x_tenant_id"] == "acme"
        assert who["user"] == "http-user" and who["has_authorization"] is True
        assert branch.structured_content["branch"] == "stdio-branch"
        assert boom.is_error and "probe_boom" in text_of(boom)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert err.decode().rstrip().endswith("lanterna: stopped serving MCP over HTTP")
    assert b"Traceback" not in err
    assert (lanterna_home / "probe-lifecycle.txt").read_text().split() == ["startup", "shutdown"]
    events = audit_events(lanterna_home)
    assert {e["tenant"] for e in events} == {"acme"}
    assert {e["transport"] for e in events} == {"http"}
    assert b"very-secret-token-value" not in out + err
    assert b"very-secret-token-value" not in (lanterna_home / "probe-audit.jsonl").read_bytes()


def test_stdio_server_stops_cleanly_on_sigterm_and_runs_shutdown(repo: Path, lanterna_home: Path) -> None:
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="mcp_tools")
    proc = subprocess.Popen(
        SERVE, cwd=repo, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[bytes] = []
    _rpc(proc, INITIALIZE)
    _read_response(proc, 1, lines)
    marker = lanterna_home / "probe-lifecycle.txt"
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert marker.read_text().split() == ["startup", "shutdown"]
    assert b"Traceback" not in err
    for line in out.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"


def test_http_refuses_a_public_address_without_an_authorizing_plugin(lanterna_home: Path) -> None:
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="")
    proc = subprocess.run([*SERVE, "--http", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "refusing to serve on 0.0.0.0" in proc.stderr and "--allow-unauthenticated" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stdout == ""


def test_http_public_address_allowed_explicitly_with_a_warning(lanterna_home: Path) -> None:
    port = _free_port()
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="")
    proc = subprocess.Popen(
        [*SERVE, "--http", "--host", "0.0.0.0", "--port", str(port), "--allow-unauthenticated"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, proc)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert b"WARNING: serving on 0.0.0.0 with no plugin authorizing requests" in err


def _post_initialize(address: str, port: int, **headers: str) -> int:
    import http.client

    conn = http.client.HTTPConnection(address, port, timeout=20)
    body = json.dumps(INITIALIZE)
    conn.request(
        "POST",
        "/mcp",
        body,
        {"content-type": "application/json", "accept": "application/json, text/event-stream", **headers},
    )
    status = conn.getresponse().status
    conn.close()
    return status


def test_http_on_any_loopback_address_refuses_foreign_host_and_origin(repo: Path, lanterna_home: Path) -> None:
    """DNS rebinding: on 127.0.0.2 (not one of the SDK's three protected names) a foreign Host is refused."""
    port = _free_port()
    (lanterna_home / "config.toml").write_text("[server]\nmax_sessions = 2\n", encoding="utf-8")
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="")
    proc = subprocess.Popen(
        [*SERVE, "--http", "--host", "127.0.0.2", "--port", str(port)],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.2", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.1)
        assert _post_initialize("127.0.0.2", port, host=f"attacker.example:{port}") == 421
        assert _post_initialize("127.0.0.2", port, host=f"127.0.0.2:{port}", origin="http://attacker.example") == 403
        assert _post_initialize("127.0.0.2", port, host=f"127.0.0.2:{port}") == 200
        assert _post_initialize("127.0.0.2", port, host=f"localhost:{port}", origin=f"http://localhost:{port}") == 200
        # [server] max_sessions = 2: a third open session is refused, not allocated
        assert _post_initialize("127.0.0.2", port, host=f"127.0.0.2:{port}") == 503
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
