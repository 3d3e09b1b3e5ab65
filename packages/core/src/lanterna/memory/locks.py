"""Locks that hold across processes: one ingest per (tenant, service), one schema set-up at a
time, one filler of the rerank vectors per store.

With an external PostgreSQL (``[memory] db_connect_str``) they are PostgreSQL advisory locks,
so they hold across every server on every machine that shares the database; with the
embedded store, an ``flock`` on a file under the Pixeltable home. A second ingest of the same
service waits for the first and then finds its files already stored: no duplicates, no lost
files. Locks end with their connection or process, so a crash never leaves one behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanterna.memory.settings import MemorySettings

log = logging.getLogger("lanterna.memory")
#: Shown while a process waits to open a store that another one has to itself.
WAITING = "waiting for another process's memory purge, reembed or bulk load to finish"

#: First key of the two-int advisory locks ("LNM"): apart from other applications' locks.
LOCK_SPACE = 0x4C4E4D
SCHEMA_KEY = 0


def _key(*parts: str) -> int:
    """A stable signed 32-bit key (PostgreSQL's int4) for ``parts``."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big", signed=True) or 1


def _psycopg_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return "postgresql://" + rest if sep and scheme.startswith("postgresql+") else url


def _connect(url: str) -> Any:
    """An autocommit connection to the external PostgreSQL; unreachable is a ``StoreError`` line."""
    import psycopg

    try:
        return psycopg.connect(_psycopg_url(url), autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        from lanterna.memory.runtime import StoreError

        detail = " ".join(str(exc).split())[:300]
        raise StoreError(
            f"cannot start the memory store: the configured database refused the connection ({detail});"
            " check [memory] db_connect_str"
        ) from None


@contextmanager
def _advisory(url: str, key: int) -> Iterator[None]:
    with _connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, key))
        try:
            yield
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, key))


def _lock_file(path: os.PathLike[str] | str) -> int:
    """A descriptor of the lock file ``path`` (created, with its folder, if missing)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


@contextmanager
def _flock(path: os.PathLike[str] | str) -> Iterator[None]:
    import fcntl

    fd = _lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def ingest_lock(settings: MemorySettings, tenant: str, service: str) -> Iterator[None]:
    """Held for a whole ingest of ``service`` for ``tenant``: the next one waits for it."""
    key = _key("ingest", tenant, service)
    if settings.db_connect_str:
        with _advisory(settings.db_connect_str, key):
            yield
    else:
        with _flock(settings.pixeltable_home / "locks" / f"ingest-{key & 0xFFFFFFFF:08x}.lock"):
            yield


@contextmanager
def schema_lock(settings: MemorySettings) -> Iterator[None]:
    """Held while a process starts the store and sets up or migrates its schema.

    On a new embedded home, starting it creates the Postgres cluster and its database: two
    processes doing that at once collide (``CREATE DATABASE`` fails with a duplicate key).
    """
    if settings.db_connect_str:
        with _advisory(settings.db_connect_str, SCHEMA_KEY):
            yield
    else:
        with _flock(settings.pixeltable_home / "locks" / "schema.lock"):
            yield


class Claim:
    """A lock taken only if free, held until ``release()`` or the end of the process."""

    def __init__(self, release: Any) -> None:
        self._release = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


def try_claim(settings: MemorySettings, name: str) -> Claim | None:
    """``name``'s claim on the store, or None while another process holds it; with an external
    PostgreSQL it holds for every machine that shares the database."""
    if settings.db_connect_str:
        conn = _connect(settings.db_connect_str)
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, _key("claim", name))).fetchone()
        if not (row and row[0]):
            conn.close()
            return None
        return Claim(conn.close)
    import fcntl

    fd = _lock_file(settings.pixeltable_home / "locks" / f"{name}.lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return Claim(lambda: os.close(fd))


STORE_KEY = 1


class StoreInUse(Exception):
    """Another process has the store open, so it cannot be rewritten now."""


class StoreUse:
    """A shared hold on the store for as long as this process has it open.

    ``memory-purge`` rewrites the tables for every process: ``exclusively()`` swaps the
    shared hold for an exclusive one, and refuses (``StoreInUse``) while any other process,
    such as a running server, holds the store. Embedded store: ``flock`` on a file under the
    Pixeltable home; external PostgreSQL: a shared advisory lock on a connection of its own.
    """

    def __init__(self, settings: MemorySettings) -> None:
        import fcntl

        self._fd: int | None = None
        self._conn = None
        if settings.db_connect_str:
            self._conn = _connect(settings.db_connect_str)
            row = self._conn.execute("SELECT pg_try_advisory_lock_shared(%s, %s)", (LOCK_SPACE, STORE_KEY)).fetchone()
            if not (row and row[0]):
                log.warning(WAITING)
                self._conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (LOCK_SPACE, STORE_KEY))
        else:
            self._fd = _lock_file(settings.pixeltable_home / "locks" / "store.lock")
            try:
                fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # a purge, reembed or bulk load has the store to itself
                log.warning(WAITING)
                fcntl.flock(self._fd, fcntl.LOCK_SH)

    @contextmanager
    def exclusively(self) -> Iterator[None]:
        import fcntl

        if self._conn is not None:
            self._conn.execute("SELECT pg_advisory_unlock_shared(%s, %s)", (LOCK_SPACE, STORE_KEY))
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, STORE_KEY)).fetchone()
            if not (row and row[0]):
                self._conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (LOCK_SPACE, STORE_KEY))
                raise StoreInUse
            try:
                yield
            finally:
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, STORE_KEY))
                self._conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (LOCK_SPACE, STORE_KEY))
            return
        assert self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # a failed conversion may have dropped the shared hold
            raise StoreInUse from None
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
