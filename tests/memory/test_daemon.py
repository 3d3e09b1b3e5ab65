"""The memory daemon: memory commands answered by one warm per-user process over a Unix socket.

Real processes throughout: the `lanterna` console script, the daemon it starts, its embedded
PostgreSQL, kill -9.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanterna.daemon import client
from lanterna.memory.runtime import postgres_pid
from tests.helpers import subprocess_env

from .helpers import LANTERNA, write_tree

pytestmark = pytest.mark.slow


class Env:
    def __init__(self, home: Path, idle_s: int) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = subprocess_env(
            home,
            own_store=True,
            LANTERNA_LOAD_PLUGINS="",
            LANTERNA_EMBEDDER="hash-384",
            LANTERNA_NO_DAEMON="",
            LANTERNA_DAEMON_IDLE_S=str(idle_s),
        )
        self.pixeltable_home = home / "data" / "pixeltable"

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LANTERNA, *args], capture_output=True, text=True, env=self.env, cwd=cwd or self.home, timeout=180
        )

    def pid(self) -> int | None:
        out = self.run("daemon", "status", "--json").stdout
        info = json.loads(out)
        return info["pid"] if info else None


def gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def daemon_env(tmp_path: Path) -> Iterator[Env]:
    env = Env(tmp_path / "home", idle_s=120)
    yield env
    env.run("daemon", "stop")


def test_memory_commands_share_one_daemon_and_stop_leaves_no_process(daemon_env: Env, tmp_path: Path) -> None:
    write_tree(tmp_path / "shop", {"billing/refunds.py": "def refund_order(order_id):\n    return order_id\n"})
    first = daemon_env.run("ingest", "shop", "--service", "shop", cwd=tmp_path)  # relative to the client's cwd
    assert first.returncode == 0, first.stderr
    assert "1 added" in first.stdout
    pid = daemon_env.pid()
    assert pid and pid != os.getpid()

    searches = [
        subprocess.Popen(
            [*LANTERNA, "search", "refund_order", "--service", "shop", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=daemon_env.env,
        )
        for _ in range(6)
    ]
    for proc in searches:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert json.loads(out)[0]["path"] == "billing/refunds.py"
    # a reader that is gone before the results come (`| true`, `| head` once it has enough) ends
    # the command quietly
    piped = subprocess.run(
        f"{LANTERNA[0]} search refund_order --service shop | true; echo ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, env=daemon_env.env, timeout=120,
    )  # fmt: skip
    assert piped.stderr == "" and piped.stdout.strip() in {"0", "141"}
    again = daemon_env.run("ingest", str(tmp_path / "shop"), "--service", "shop")
    assert again.returncode == 0 and "1 unchanged" in again.stdout
    status = json.loads(daemon_env.run("daemon", "status", "--json").stdout)
    assert status["pid"] == pid and status["requests_served"] >= 8

    # user errors arrive as their one line and exit status, as without a daemon
    ghost = daemon_env.run("search", "x", "--service", "ghost")
    assert ghost.returncode == 1 and ghost.stderr.startswith("lanterna: unknown service 'ghost'")
    assert ghost.stderr.count("\n") == 1
    usage = daemon_env.run("search", "--limit", "many", "x")
    assert usage.returncode == 2 and "Invalid value for '--limit'" in usage.stderr

    folder = Path(status["socket"]).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(status["socket"]).stat().st_mode) == 0o600

    # a client of another version is refused: it never talks to a stale daemon
    with client._connect(Path(status["socket"])) as conn:
        replies = list(client.request(conn, {"protocol": client.PROTOCOL, "version": "0.0.1", "key": status["socket"]}))
    assert len(replies) == 1 and "refused" in replies[0] and "lanterna 0.1" in replies[0]["refused"]

    stopped = daemon_env.run("daemon", "stop")
    assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout
    assert gone(pid) and postgres_pid(daemon_env.pixeltable_home) is None
    assert not Path(status["socket"]).exists()


def test_a_killed_daemon_is_replaced_and_leaves_no_store_locked(daemon_env: Env, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "app", {"a.py": "def alpha():\n    return 1\n"})
    assert daemon_env.run("ingest", str(root), "--service", "app").returncode == 0
    pid = daemon_env.pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    (root / "b.py").write_text("def beta():\n    return 2\n")
    again = daemon_env.run("ingest", str(root), "--service", "app")  # takes the ingest lock the dead one held
    assert again.returncode == 0, again.stderr
    assert "1 added" in again.stdout and "1 unchanged" in again.stdout
    fresh = daemon_env.pid()
    assert fresh and fresh != pid
    found = daemon_env.run("search", "beta", "--service", "app", "--json")
    assert json.loads(found.stdout)[0]["path"] == "b.py"


def test_the_daemon_exits_after_its_idle_timeout_with_its_postgres(tmp_path: Path) -> None:
    env = Env(tmp_path / "home", idle_s=5)
    assert env.run("stats").returncode == 0
    pid = env.pid()
    assert pid
    assert gone(pid, timeout=60)
    deadline = time.monotonic() + 30
    while postgres_pid(env.pixeltable_home) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert postgres_pid(env.pixeltable_home) is None
    assert env.run("daemon", "status").stdout.startswith("no memory daemon is running")


def test_no_daemon_runs_the_command_in_its_own_process(tmp_path: Path) -> None:
    env = Env(tmp_path / "home", idle_s=120)
    # a memory command that fails before it needs the store: quick, and still a daemon command
    blank = env.run("--no-daemon", "search", " ")
    assert blank.returncode == 1 and "the search query is empty" in blank.stderr
    env.env["LANTERNA_NO_DAEMON"] = "1"
    assert env.run("search", " ").returncode == 1
    assert env.pid() is None


def test_ingest_path_is_made_absolute_for_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LANTERNA_NO_DAEMON")
    assert client.absolute_paths(["ingest", "--service", "docs", "docs"]) == [
        "ingest",
        "--service",
        "docs",
        str(tmp_path / "docs"),
    ]
    assert client.absolute_paths(["ingest", "github:acme/api", "-s", "api"]) == [
        "ingest",
        "github:acme/api",
        "-s",
        "api",
    ]
    assert client.absolute_paths(["search", "docs"]) == ["search", "docs"]
    assert (
        not client.wanted(["note", "-"]) and not client.wanted(["search", "--help"]) and client.wanted(["search", "x"])
    )
    assert not client.wanted(["status"]) and not client.wanted(["memory-purge", "--yes"])
    monkeypatch.setenv("LANTERNA_NO_DAEMON", "1")
    assert not client.wanted(["search", "x"])


def test_the_launcher_knows_every_daemon_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from lanterna.launch import MEMORY_COMMANDS

    monkeypatch.delenv("LANTERNA_NO_DAEMON", raising=False)

    assert client.DAEMON_COMMANDS | {"memory-purge"} == MEMORY_COMMANDS
    assert client.wanted(["memory", "reembed", "--embedder", "minilm-static"])  # searches go on meanwhile


def test_the_key_follows_the_environment_but_not_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    base = client.daemon_key()
    monkeypatch.setenv("PWD", "/somewhere/else")
    monkeypatch.setenv("TERM", "xterm-kitty")
    assert client.daemon_key() == base
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_another_token_for_another_account")
    changed = client.daemon_key()
    assert changed != base and "ghp_" not in changed
    assert changed.partition("-")[0] == base.partition("-")[0]  # the same Lanterna home
