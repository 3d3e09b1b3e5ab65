"""`lanterna serve --http` processes sharing one PostgreSQL, and a small MCP client over raw HTTP.

Used by the team tests and by ``bench/team_load.py``. Each server gets its own Lanterna home
(as it would on its own machine); the only state they share is the database.
"""

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

ROOT = Path(__file__).parents[2]
PROTOCOL = "2025-06-18"
ISOLATED_ENV = ("LANTERNA_CONFIG", "LANTERNA_DATA_DIR", "LANTERNA_TENANT", "LANTERNA_USER", "LANTERNA_API_KEY")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_table(name: str, values: dict[str, Any]) -> str:
    return f"[{name}]\n" + "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in values.items())


def make_home(path: Path, pg_url: str, key_file: Path, quota: int, repos: dict[str, Path]) -> Path:
    """A server's home: the shared database and audit key, the quota, each tenant's repository."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text(
        toml_table("cloud", {"db_connect_str": pg_url, "audit_key_file": str(key_file)})
        + toml_table("cloud.plans.free", {"operations_per_day": quota})
        # load, not back-pressure, is what is measured: a quarter of hook_threads (one credential's
        # share) stays above bench/team_load.py's 90 clients of one key on a single server
        + toml_table("guard", {"hook_threads": 512})
        + toml_table("session.repos", {tenant: str(repo) for tenant, repo in repos.items()})
    )
    return path


class Server:
    """One ``lanterna serve --http`` on 127.0.0.1, in the git repository ``repo``."""

    def __init__(self, home: Path, repo: Path, port: int | None = None) -> None:
        self.home, self.repo, self.port = home, repo, port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        env = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV}
        env.update({"LANTERNA_HOME": str(self.home), "LANTERNA_LOAD_PLUGINS": "cloud", "PYTHONPATH": str(ROOT)})
        command = [sys.executable, "-m", "lanterna", "serve", "--http", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=self.repo, env=env, stdout=log, stderr=log)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout:.0f} s: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    run = {"cwd": path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q", "-b", "main"], **run)  # type: ignore[call-overload]
    (path / "README.md").write_text("team\n")
    subprocess.run(["git", "add", "."], **run)  # type: ignore[call-overload]
    subprocess.run(  # type: ignore[call-overload]
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first"], **run
    )
    return path


class McpSession:
    """An MCP session over streamable HTTP with plain POSTs (JSON or SSE answers)."""

    def __init__(self, client: Any, base: str, key: str) -> None:
        self.client, self.url, self.key = client, f"{base}/mcp", key
        self.session_id: str | None = None
        self._ids = 0

    def _headers(self) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {self.key}",
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "mcp-protocol-version": PROTOCOL,
        }
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        return headers

    async def _post(self, message: dict[str, Any]) -> dict[str, Any] | None:
        response = await self.client.post(self.url, json=message, headers=self._headers())
        response.raise_for_status()
        self.session_id = response.headers.get("mcp-session-id", self.session_id)
        if "id" not in message:
            return None
        text = response.text
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
            for item in data:
                parsed = json.loads(item)
                if parsed.get("id") == message["id"]:
                    return dict(parsed)
            raise ValueError("no answer in the event stream")
        return dict(json.loads(text))

    async def open(self) -> None:
        params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "team", "version": "1"}}
        await self._post({"jsonrpc": "2.0", "id": self._next(), "method": "initialize", "params": params})
        await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The tool result (``isError``, ``content``); raises on a transport failure."""
        message = {
            "jsonrpc": "2.0",
            "id": self._next(),
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments or {}},
        }
        answer = await self._post(message)
        assert answer is not None
        if "error" in answer:
            raise RuntimeError(f"JSON-RPC error: {answer['error']}")
        return dict(answer["result"])

    def _next(self) -> int:
        self._ids += 1
        return self._ids
