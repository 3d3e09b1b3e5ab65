"""The client side of the memory daemon: run a memory command in a warm per-user process.

A memory command pays seconds of start-up in a fresh process (Pixeltable, its embedded
PostgreSQL, the embedding model). ``lanterna search`` and the other memory commands therefore
ask a per-user daemon to run them: the first command starts it, later ones reach it over a Unix
socket in a folder only the user can open, and it exits after an idle timeout. This module is
imported on those commands' path, so it imports nothing heavy (no typer, no pluggy).

A daemon serves exactly one environment: its key hashes the Lanterna version, the Python
interpreter, the modification times of Lanterna's own source and of every ``sys.path`` entry
(an installed or removed plugin), the config file's, and the environment (but for the shell's
own variables, ``VOLATILE_ENV``). A client whose key differs never reaches it; a daemon that answers for
another version refuses the client, which then runs the command itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from lanterna.launch import EXCLUSIVE_COMMANDS, MEMORY_COMMANDS

#: Commands run by the daemon (the memory commands but those that rewrite the store, which stop
#: it); the rest run in the process.
DAEMON_COMMANDS = MEMORY_COMMANDS - EXCLUSIVE_COMMANDS
#: Options of those commands that take a value (so the value is not mistaken for an argument).
VALUE_OPTIONS = frozenset(
    {"--service", "-s", "--kind", "-k", "--path", "--limit", "-n", "--per-file", "--title", "-t", "--status"}
)
#: Environment variables of the shell that change nothing a command does: left out of the key,
#: so that two terminals share a daemon. Every other variable is part of it (hashed, never
#: stored): a plugin may read any (a code host's token, a proxy), and the daemon runs every
#: command with the environment of the client that started it.
VOLATILE_ENV = frozenset(
    {"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES", "PS1", "PS2", "PROMPT_COMMAND", "HISTFILE", "LS_COLORS"}
    | {"TERM", "COLORTERM", "WINDOWID", "STY", "TMUX", "TMUX_PANE", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY"}
    | {"LANTERNA_NO_DAEMON", "LANTERNA_DAEMON_IDLE_S"}
)
VOLATILE_PREFIXES = ("TERM_", "PYTEST_", "VSCODE_", "ITERM_")
NO_DAEMON_ENV = "LANTERNA_NO_DAEMON"
START_TIMEOUT_S = 120.0
PROTOCOL = 1


class DaemonUnavailable(Exception):
    """The daemon cannot be used here; the command runs in this process instead."""


def version() -> str:
    from lanterna import __version__

    return __version__


def _source_stamp() -> list[Any]:
    """Modification times of Lanterna's own modules: an edited checkout is a new daemon."""
    package = Path(__file__).resolve().parent.parent
    stamp: list[Any] = []
    stack = [package]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    stack.append(Path(entry.path))
                elif entry.name.endswith(".py"):
                    stamp.append([entry.path, entry.stat().st_mtime_ns])
    return sorted(stamp)


def daemon_key() -> str:
    from lanterna.config import config_path, state_dir

    def mtime(path: str | Path) -> int | None:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None

    env = sorted((k, v) for k, v in os.environ.items() if k not in VOLATILE_ENV and not k.startswith(VOLATILE_PREFIXES))
    parts = [
        PROTOCOL,
        version(),
        sys.executable,
        str(state_dir()),
        [(entry, mtime(entry or ".")) for entry in sys.path],
        mtime(config_path()),
        env,
        _source_stamp(),
    ]
    return f"{_home_prefix()}-{hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]}"


def _home_prefix() -> str:
    """What the keys of daemons of one Lanterna home have in common (a daemon of the same home
    with another key is stale: an older version, another plugin set, an edited config)."""
    from lanterna.config import state_dir

    return hashlib.sha256(str(state_dir()).encode()).hexdigest()[:8]


def runtime_dir() -> Path:
    """The user's own folder for daemon sockets (mode 0700), created if needed.

    Sockets live under ``$XDG_RUNTIME_DIR`` or ``/tmp/lanterna-<uid>``, not the state folder:
    a Unix socket path may hold only ~100 bytes.
    """
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "lanterna" if base else Path(f"/tmp/lanterna-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DaemonUnavailable(f"{folder} is not a private folder of this user")
    return folder


def socket_path(key: str) -> Path:
    return runtime_dir() / f"{key}.sock"


def wanted(args: list[str]) -> bool:
    """Whether ``lanterna ARGS`` should run in the daemon."""
    if os.environ.get(NO_DAEMON_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if os.name != "posix" or not hasattr(socket, "AF_UNIX"):
        return False
    if not args or args[0] not in DAEMON_COMMANDS:
        return False
    # help is typer's; "-" reads standard input, which stays with this process
    return not ({"--help", "-h", "-"} & set(args))


def absolute_paths(args: list[str]) -> list[str]:
    """``args`` with the path argument of ``ingest`` made absolute: the daemon has its own cwd."""
    if args[:1] != ["ingest"]:
        return args
    out = list(args)
    skip = False
    for index, arg in enumerate(out[1:], 1):
        if skip:
            skip = False
            continue
        if arg in VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-") and os.path.exists(arg):
            out[index] = os.path.abspath(arg)
            break
        elif not arg.startswith("-"):
            break
    return out


def _connect(path: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        raise
    return conn


def _spawn(path: Path, key: str) -> None:
    import subprocess

    from lanterna.config import state_dir

    log_dir = state_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "daemon.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "lanterna.daemon.server", str(path), key],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,  # not killed with the terminal that started it
            close_fds=True,
        )


def connect(key: str, *, start: bool = True) -> socket.socket:
    """A connection to the daemon of ``key``, started first if none answers."""
    path = socket_path(key)
    try:
        return _connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        if not start:
            raise DaemonUnavailable("no daemon is running") from None
    import fcntl

    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one client starts it; the others wait, then connect
        try:
            return _connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a daemon that died left its socket behind
        for stale in siblings(key):
            stop(stale, timeout=0)  # it would keep the store open for nothing
        _spawn(path, key)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                return _connect(path)
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.02)
    raise DaemonUnavailable(f"the daemon did not start within {START_TIMEOUT_S:.0f} s")


def _header(key: str) -> dict[str, Any]:
    """What every request starts with: the daemon checks it before anything else."""
    return {"protocol": PROTOCOL, "version": version(), "key": key}


def request(conn: socket.socket, message: dict[str, Any]) -> Any:
    """Send ``message``; yield each reply line as a dict until the daemon closes the connection."""
    conn.sendall((json.dumps(message) + "\n").encode())
    with conn.makefile("r", encoding="utf-8") as replies:
        for line in replies:
            yield json.loads(line)


def run(args: list[str]) -> int | None:
    """Run ``lanterna ARGS`` in the daemon: its exit status, or None to run it in this process."""
    try:
        key = daemon_key()
        conn = connect(key)
    except (DaemonUnavailable, OSError):
        return None
    message = {
        **_header(key),
        "argv": absolute_paths(args),
        "stdout_tty": sys.stdout.isatty(),
        "stderr_tty": sys.stderr.isatty(),
    }
    with conn:
        try:
            for reply in request(conn, message):
                if "o" in reply or "e" in reply:
                    stream, text = (sys.stdout, reply["o"]) if "o" in reply else (sys.stderr, reply["e"])
                    try:
                        stream.write(text)
                        stream.flush()
                    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as cat would
                        with contextlib.suppress(OSError):
                            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
                        return 141  # 128 + SIGPIPE
                elif "exit" in reply:
                    return int(reply["exit"])
                elif "refused" in reply:
                    return None  # a daemon of another version: never talk to it
        except (OSError, ValueError):
            pass
    print(
        "lanterna: the background daemon stopped while running the command; run it again, or pass --no-daemon",
        file=sys.stderr,
    )
    return 1


def stop(key: str | None = None, timeout: float = 30.0) -> int | None:
    """Ask the daemon of ``key`` (this environment's by default) to stop, and wait until it has.

    Calls in flight finish first. Returns its pid, or None when none was running.
    """
    key = key or daemon_key()
    try:
        conn = connect(key, start=False)
    except (DaemonUnavailable, OSError):
        return None
    pid = None
    with conn:
        for reply in request(conn, {**_header(key), "stop": True}):
            pid = reply.get("stopping", pid)
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    return pid


def status(key: str | None = None) -> dict[str, Any] | None:
    """What the daemon of ``key`` reports about itself, or None when none is running."""
    key = key or daemon_key()
    try:
        conn = connect(key, start=False)
    except (DaemonUnavailable, OSError):
        return None
    with conn:
        for reply in request(conn, {**_header(key), "status": True}):
            return dict(reply)
    return None


def siblings(key: str) -> list[str]:
    """Keys of the other daemons of the same Lanterna home as ``key``."""
    prefix = key.partition("-")[0] + "-"
    return [k for k in running_keys() if k.startswith(prefix) and k != key]


def running_keys() -> list[str]:
    """Keys of every daemon socket of this user (some may belong to daemons that died)."""
    try:
        folder = runtime_dir()
    except (DaemonUnavailable, OSError):
        return []
    return sorted(p.stem for p in folder.glob("*.sock"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # the daemon runs in a session of its own: never our child, never a zombie of ours
    except ProcessLookupError:
        return False
    except PermissionError:  # a pid now used by another user's process
        return True
    return True
