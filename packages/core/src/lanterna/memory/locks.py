"""Locks that hold across processes: one ingest per (tenant, service), one schema set-up at a time.

With an external PostgreSQL (``[memory] db_connect_str``) they are PostgreSQL advisory locks,
so they hold across every server on every machine that shares the database; with the
embedded store, an ``flock`` on a file under the Pixeltable home. A second ingest of the same
service waits for the first and then finds its files already stored: no duplicates, no lost
files. Locks end with their connection or process, so a crash never leaves one behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lanterna.memory.settings import MemorySettings

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


@contextmanager
def _advisory(url: str, key: int) -> Iterator[None]:
    import psycopg

    with psycopg.connect(_psycopg_url(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, key))
        try:
            yield
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, key))


@contextmanager
def _flock(path: os.PathLike[str] | str) -> Iterator[None]:
    import fcntl

    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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
    """Held while a process sets up or migrates the schema in a shared PostgreSQL."""
    if settings.db_connect_str:
        with _advisory(settings.db_connect_str, SCHEMA_KEY):
            yield
    else:
        yield
