"""A shared PostgreSQL for several server processes: connections, schema and migrations.

``[cloud] db_connect_str`` (or, when that is unset, ``[memory] db_connect_str``) names a
PostgreSQL server; the plugin then keeps metering, quotas, API keys, license state and the
audit log there, in the schema ``lanterna_cloud``, instead of files under one machine's
state directory. Every process opens a few connections (a small pool); the schema is
created and migrated under an advisory lock, so several processes may start at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lanterna.errors import UserError

if TYPE_CHECKING:
    import psycopg

SCHEMA = "lanterna_cloud"
#: Advisory lock keys (first argument of the two-int form): one namespace for this plugin.
LOCK_SPACE = 0x4C4E54  # "LNT"
SCHEMA_LOCK = 1
AUDIT_LOCK = 2

MIGRATIONS: list[str] = [
    # 1: metering, quotas, keys, license state, audit log
    f"""
    CREATE SCHEMA IF NOT EXISTS {SCHEMA};
    CREATE TABLE {SCHEMA}.usage (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        "user" TEXT,
        action TEXT NOT NULL,
        resource TEXT NOT NULL,
        units INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL,
        time DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX usage_tenant_time ON {SCHEMA}.usage (tenant, time);
    CREATE TABLE {SCHEMA}.usage_daily (
        tenant TEXT NOT NULL,
        day INTEGER NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (tenant, day)
    );
    CREATE TABLE {SCHEMA}.outbox (
        identifier TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        sent DOUBLE PRECISION
    );
    CREATE INDEX outbox_unsent ON {SCHEMA}.outbox (created) WHERE sent IS NULL;
    CREATE TABLE {SCHEMA}.quota_tenant (tenant TEXT PRIMARY KEY);
    CREATE TABLE {SCHEMA}.quota_pending (
        request_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        admitted_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX quota_pending_tenant ON {SCHEMA}.quota_pending (tenant, admitted_at);
    CREATE TABLE {SCHEMA}.api_keys (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        "user" TEXT NOT NULL,
        roles TEXT[] NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT false
    );
    CREATE TABLE {SCHEMA}.license_state (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE {SCHEMA}.audit_log (
        seq BIGINT PRIMARY KEY,
        record TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE {SCHEMA}.audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    """,
]


class DatabaseError(UserError):
    """The configured PostgreSQL cannot be used; the message says what to check."""


def psycopg_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+psycopg://``), as Pixeltable's setting uses."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        return "postgresql://" + rest
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in creds else url


class Database:
    """A small pool of autocommit connections; ``with db.transaction() as conn`` runs one transaction."""

    def __init__(self, url: str, size: int = 4, connect_timeout: float = 10.0) -> None:
        self.url = psycopg_url(url)
        self.size = size
        self.connect_timeout = connect_timeout
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._ready = False
        self._ready_lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout))
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseError(
                f"cannot connect to PostgreSQL at {redact(self.url)} ({first}); check [cloud] db_connect_str"
                " and that the server is running"
            ) from None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._slots.acquire()
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
                if conn.closed or conn.broken:
                    conn = None
            except queue.Empty:
                pass
            if conn is None:
                conn = self._connect()
            if not self._ready:
                self._migrate(conn)
            yield conn
        except BaseException:
            if conn is not None and (conn.broken or conn.info.transaction_status != 0):
                conn.close()
                conn = None
            raise
        finally:
            if conn is not None and not conn.closed:
                self._idle.put(conn)
            self._slots.release()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self.connection() as conn, conn.transaction():
            yield conn

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with self._ready_lock:
            if self._ready:
                return
            migrate(conn)
            self._ready = True

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the schema to the newest version; safe when several processes start at once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, SCHEMA_LOCK))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version INTEGER NOT NULL)")
        row = conn.execute(f"SELECT max(version) FROM {SCHEMA}.schema_version").fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version > len(MIGRATIONS):
            raise DatabaseError(
                f"the cloud schema in PostgreSQL is at version {version}, newer than this lanterna-cloud-stubs"
                f" ({len(MIGRATIONS)}); upgrade lanterna-cloud-stubs on every server"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute(script)
            conn.execute(f"INSERT INTO {SCHEMA}.schema_version VALUES (%s)", (number,))
        return len(MIGRATIONS)


_shared: dict[str, Database] = {}
_shared_lock = threading.Lock()


def shared_database(url: str) -> Database:
    """One pool per URL in a process: metering, keys, audit and licenses share it."""
    with _shared_lock:
        db = _shared.get(url)
        if db is None:
            db = _shared[url] = Database(url)
        return db
