"""Start-up and tool-call latency of `lanterna serve` (stdio), against a minimal MCP SDK server.

Spawns each server, speaks raw JSON-RPC over its stdin/stdout (initialize, initialized,
tools/list) and measures the time from spawn to the tools/list answer. The two servers
are run interleaved (A, B, A, B...) so machine noise hits both alike. Then one lanterna
session calls git tools repeatedly and reports the median latency per call.

    python bench/server_startup.py [--rounds 15] [--calls 40]

Run from an environment where `lanterna` and `mcp` are installed. Target: ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MINIMAL_SERVER = '''
from mcp.server import MCPServer

server = MCPServer("minimal")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


server.run("stdio")
'''

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}


class Session:
    """A spawned stdio MCP server spoken to in raw JSON-RPC."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.next_id = 1

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.read(self.next_id)

    def read(self, request_id: int) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server closed stdout")
            message = json.loads(line)
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message["result"]

    def handshake_and_list(self) -> tuple[float, int]:
        self.send(INITIALIZE)
        self.read(1)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = self.request("tools/list")["tools"]
        return time.perf_counter() - self.started, len(tools)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "b@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    for i in range(50):
        (repo / f"file{i % 10}.txt").write_text(f"revision {i}\n" * 20)
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", f"Change {i}"], check=True, env=env)
    (repo / "file1.txt").write_text("dirty\n")
    return repo


def lanterna_command() -> list[str]:
    script = Path(sys.executable).parent / "lanterna"
    return [str(script), "serve"] if script.exists() else [sys.executable, "-m", "lanterna", "serve"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15, help="spawns of each server (interleaved)")
    parser.add_argument("--calls", type=int, default=40, help="git tool calls per tool in one session")
    args = parser.parse_args()
    if shutil.which("git") is None:
        sys.exit("bench: git is not on PATH")

    with tempfile.TemporaryDirectory(prefix="lanterna-bench-") as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        minimal = root / "minimal_server.py"
        minimal.write_text(MINIMAL_SERVER)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANTERNA_")}
        env.update({"LANTERNA_HOME": str(root / "home"), "LANTERNA_LOAD_PLUGINS": ""})
        commands = {"lanterna serve": lanterna_command(), "minimal MCPServer": [sys.executable, str(minimal)]}

        # One warm-up spawn of each so the OS file cache is hot for both.
        for command in commands.values():
            session = Session(command, repo, env)
            session.handshake_and_list()
            session.close()

        times: dict[str, list[float]] = {name: [] for name in commands}
        tool_counts: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, command in commands.items():
                session = Session(command, repo, env)
                elapsed, count = session.handshake_and_list()
                session.close()
                times[name].append(elapsed)
                tool_counts[name] = count

        print(f"spawn -> tools/list answered, {args.rounds} interleaved rounds, cwd = a 50-commit git repo")
        for name, values in times.items():
            print(
                f"  {name:<18} median {statistics.median(values) * 1000:7.1f} ms"
                f"  (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}; {tool_counts[name]} tools)"
            )
        ratio = statistics.median(times["lanterna serve"]) / statistics.median(times["minimal MCPServer"])
        print(f"  ratio lanterna/minimal: {ratio:.2f}  (target <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")

        session = Session(commands["lanterna serve"], repo, env)
        session.handshake_and_list()
        print(f"git tool call latency over stdio, {args.calls} calls each, same session:")
        cases = [
            ("session_branch", {}),
            ("session_status", {}),
            ("session_log", {"limit": 20}),
            ("session_diff", {}),
            ("session_file_history", {"path": "file3.txt", "limit": 10}),
            ("session_search_commits", {"query": "change 4"}),
        ]
        for tool, arguments in cases:
            latencies = []
            for _ in range(args.calls):
                start = time.perf_counter()
                result = session.request("tools/call", {"name": tool, "arguments": arguments})
                latencies.append(time.perf_counter() - start)
                if result.get("isError"):
                    raise RuntimeError(f"{tool} failed: {result['content']}")
            print(
                f"  {tool:<24} median {statistics.median(latencies) * 1000:6.1f} ms"
                f"  (p90 {sorted(latencies)[int(len(latencies) * 0.9) - 1] * 1000:.1f} ms)"
            )
        session.close()


if __name__ == "__main__":
    main()
