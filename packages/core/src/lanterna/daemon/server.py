"""The memory daemon: runs the memory CLI commands of one user's environment in a warm process.

    python -m lanterna.daemon.server SOCKET KEY    (started by ``lanterna.daemon.client``)

It listens on a Unix socket (mode 0600, in a folder of mode 0700, and only peers of the same
uid are served), opens the memory store and loads the embedder once, and runs each request's
command on a thread of its own with that thread's output sent back to its client. It exits
after ``[daemon] idle_timeout_s`` (``LANTERNA_DAEMON_IDLE_S``; default 900 s) without a
request (and, while it fills the store's rerank vectors in the background, after that), or
when asked to stop; either way calls in flight finish, the store is closed and its embedded
PostgreSQL stopped, unless another process still uses it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from lanterna.daemon.client import PROTOCOL, version

log = logging.getLogger("lanterna.daemon")
DEFAULT_IDLE_S = 900.0


class _Local(threading.local):
    out: Any = None
    err: Any = None


_local = _Local()


class _ThreadStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of the daemon: each request thread writes to its own client."""

    def __init__(self, which: str, fallback: Any) -> None:
        self.which = which
        self.fallback = fallback

    def _target(self) -> Any:
        return getattr(_local, self.which) or self.fallback

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self._target().fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # (ignored for mypy) a property where TextIOBase has an attribute
        return "utf-8"


class _ClientStream(io.TextIOBase):
    """One request's stdout or stderr: each write goes to the client as a JSON line."""

    def __init__(self, reply: Any, tag: str, tty: bool) -> None:
        self.reply = reply
        self.tag = tag
        self.tty = tty

    def write(self, text: str | bytes) -> int:  # click's echo may write bytes
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if text:
            self.reply({self.tag: text})
        return len(text)

    def isatty(self) -> bool:
        return self.tty

    @property
    def encoding(self) -> str:  # type: ignore[override]  # (ignored for mypy) as above
        return "utf-8"


class Daemon:
    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.active = 0
        self.served = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.idle_s = DEFAULT_IDLE_S
        self.command: Any = None

    # -- set-up ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Every command registered once, the click command built once."""
        import typer

        from lanterna import cli
        from lanterna.plugins import get_host

        host = get_host()
        raw = os.environ.get("LANTERNA_DAEMON_IDLE_S") or host.config.get("daemon", "idle_timeout_s", DEFAULT_IDLE_S)
        self.idle_s = float(raw)
        with contextlib.redirect_stdout(sys.stderr):
            host.call("register_commands", isolate=True, cli=cli.app)
        self.command = typer.main.get_command(cli.app)

    def warm_up(self) -> None:
        """Open the store and load the embedder before the first request needs them."""
        try:
            from lanterna.memory.memory import memory_service
            from lanterna.plugins import get_host

            store = memory_service(get_host()).store()
            store.embedder.embed(["warm up"])
        except Exception as exc:  # noqa: BLE001 - the request that needs the store reports it
            log.warning("warming up the memory store failed: %s", exc)

    # -- serving ---------------------------------------------------------------------------

    def serve(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        inode = self.path.stat().st_ino
        listener.listen(64)
        listener.settimeout(0.5)
        threading.Thread(target=self.warm_up, name="lanterna-daemon-warm-up", daemon=True).start()
        try:
            while not self.stopping.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    with self.lock:
                        if _refining():  # the background filler counts as activity until it is done
                            self.last_activity = time.monotonic()
                        idle = self.active == 0 and time.monotonic() - self.last_activity > self.idle_s
                    if idle:
                        log.info("idle for %.0f s: stopping", self.idle_s)
                        break
                    continue
                with self.lock:
                    self.active += 1
                    self.last_activity = time.monotonic()
                threading.Thread(target=self.handle, args=(conn,), name="lanterna-daemon-request", daemon=True).start()
        finally:
            self.stopping.set()
            # no new client reaches a daemon that is going away: the next one starts a fresh one
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_ino == inode:  # not a successor's socket
                    self.path.unlink()
            listener.close()
            self.drain()

    def drain(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.active == 0:
                    return
            time.sleep(0.05)

    def handle(self, conn: socket.socket) -> None:
        send_lock = threading.Lock()

        def reply(message: dict[str, Any]) -> None:
            with send_lock:
                conn.sendall((json.dumps(message) + "\n").encode())

        try:
            with conn:
                if not _same_user(conn):
                    return
                with conn.makefile("r", encoding="utf-8") as lines:
                    message = json.loads(lines.readline() or "{}")
                if message.get("stop"):  # from any version: an upgrade stops the daemons it replaces
                    reply({"stopping": os.getpid()})
                    self.stopping.set()
                elif message.get("protocol") != PROTOCOL or message.get("version") != version():
                    reply({"refused": f"this daemon runs lanterna {version()}; start one of your own version"})
                elif message.get("key") != self.key:
                    reply({"refused": "this daemon serves another environment"})
                elif message.get("status"):
                    reply(self.status())
                else:
                    reply({"exit": self.run_command(message, reply)})
        except (OSError, ValueError):
            pass  # the client went away: its command (if any) stopped at its next output
        finally:
            with self.lock:
                self.active -= 1
                self.served += 1
                self.last_activity = time.monotonic()

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "pid": os.getpid(),
                "version": version(),
                "socket": str(self.path),
                "uptime_s": round(time.time() - self.started, 1),
                "idle_timeout_s": self.idle_s,
                "requests_served": self.served,
                "requests_running": self.active - 1,  # not counting this one
            }

    def run_command(self, message: dict[str, Any], reply: Any) -> int:
        import typer

        from lanterna.errors import UserError

        out = _ClientStream(reply, "o", bool(message.get("stdout_tty")))
        err = _ClientStream(reply, "e", bool(message.get("stderr_tty")))
        _local.out, _local.err = out, err
        try:
            result = self.command.main(args=list(message["argv"]), prog_name="lanterna", standalone_mode=False)
            return result if isinstance(result, int) else 0
        except typer.Abort:
            err.write("Aborted!\n")
            return 1
        except UserError as exc:
            err.write(f"lanterna: {' '.join(str(exc).split())}\n")
            return 1
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except OSError:
            raise  # the client is gone
        except Exception as exc:  # noqa: BLE001 - reported to the client like an uncaught error in its own process
            show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
            if callable(show) and isinstance(code, int):
                show()  # a usage error, shown by typer's click as in a process of its own
                return code
            err.write(traceback.format_exc())
            return 1
        finally:
            _local.out = _local.err = None


def _refining() -> bool:
    """Whether the store's background filler found work at its last step (``memory.refine``)."""
    from lanterna.memory.store import opened_store

    opened = opened_store()
    return bool(opened is not None and opened.refiner is not None and opened.refiner.working)


def _same_user(conn: socket.socket) -> bool:
    """Whether the peer runs as this process's user (SO_PEERCRED, where the OS has it)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True  # the socket's folder (0700) and mode (0600) already keep others out
    creds = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid == os.getuid()


def main() -> None:
    path, key = Path(sys.argv[1]), sys.argv[2]
    sys.stdout = _ThreadStream("out", sys.__stderr__)  # stray output of the daemon itself goes to its log
    sys.stderr = _ThreadStream("err", sys.__stderr__)
    from lanterna.cli import _configure_logging

    _configure_logging()
    logging.getLogger("lanterna").setLevel(logging.INFO)
    daemon = Daemon(path, key)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stopping.set())
    daemon.prepare()
    from lanterna.memory.store import refine_in_background

    refine_in_background()
    try:
        daemon.serve()
    finally:
        from lanterna.memory.store import close_store

        close_store()  # stops the embedded PostgreSQL unless another process still uses it
        log.info("stopped (pid %d, %d requests served)", os.getpid(), daemon.served)


if __name__ == "__main__":
    main()
