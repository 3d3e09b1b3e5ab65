"""API keys: random tokens handed out once, stored only as SHA-256 hashes with tenant and roles.

The file (``[cloud] keys_file``, default ``<state>/cloud/api-keys.json``) holds no key in
clear; with a shared PostgreSQL configured, keys live in its ``api_keys`` table instead.
Writes to the file are serialised by an flock and replace it atomically. A key is ``lnt_`` +
43 url-safe characters (256 random bits), so a plain SHA-256 is a sound hash for it: there is
nothing to brute-force.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanterna_cloud_stubs.database import SCHEMA

if TYPE_CHECKING:
    from lanterna_cloud_stubs.database import Database

KEY_PREFIX = "lnt_"


class KeyFileError(Exception):
    """The key file cannot be read; the message says how to fix it."""


@dataclass(frozen=True)
class KeyRecord:
    id: str
    hash: str
    tenant: str
    user: str
    roles: tuple[str, ...]
    revoked: bool = False

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"] = list(self.roles)
        return data


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The key file, re-read when it changes on disk (another process may add keys)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, KeyRecord] = {}

    def records(self) -> list[KeyRecord]:
        self._refresh()
        return list(self._by_hash.values())

    def tenants(self) -> set[str]:
        return {r.tenant for r in self.records() if not r.revoked}

    def lookup(self, key: str) -> KeyRecord | None:
        """The live record of ``key``, or None; compares hashes in constant time."""
        self._refresh()
        wanted = hash_key(key)
        record = self._by_hash.get(wanted)
        if record is None or not hmac.compare_digest(record.hash, wanted) or record.revoked:
            return None
        return record

    def create(self, tenant: str, user: str, roles: tuple[str, ...]) -> tuple[str, KeyRecord]:
        """Make a new key; returns it in clear once (the caller shows it) and its record."""
        key, record = new_key(tenant, user, roles)
        with self._exclusive():
            records = [r.as_json() for r in self._read()]
            records.append(record.as_json())
            self._write(records)
        return key, record

    def revoke(self, key_id: str) -> bool:
        with self._exclusive():
            records = self._read()
            found = any(r.id == key_id for r in records)
            self._write([(r.as_json() | {"revoked": True}) if r.id == key_id else r.as_json() for r in records])
        return found

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise read-modify-write of the file across threads and processes (an flock)."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        with self._lock:
            records = self._read() if stamp is not None else []
            self._by_hash = {r.hash: r for r in records}
            self._stamp = stamp

    def _read(self) -> list[KeyRecord]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise KeyFileError(
                f"API key file {self.path} is unreadable ({type(exc).__name__}); restore it or create keys again"
            ) from None
        try:
            return [
                KeyRecord(
                    id=str(r["id"]),
                    hash=str(r["hash"]),
                    tenant=str(r["tenant"]),
                    user=str(r.get("user") or r["id"]),
                    roles=tuple(str(x) for x in r.get("roles", [])),
                    revoked=bool(r.get("revoked", False)),
                )
                for r in raw["keys"]
            ]
        except (KeyError, TypeError) as exc:
            raise KeyFileError(
                f"API key file {self.path} is malformed (missing {exc}); each key needs id, hash, tenant and roles"
            ) from None

    def _write(self, records: list[dict[str, Any]]) -> None:
        """Replace the file atomically (a temporary file of this writer's own, then rename)."""
        import tempfile

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"keys": records}, fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._stamp = None


def new_key(tenant: str, user: str, roles: tuple[str, ...]) -> tuple[str, KeyRecord]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(key)
    return key, KeyRecord(id="key_" + digest[7:19], hash=digest, tenant=tenant, user=user, roles=tuple(roles))


class PgKeyStore:
    """API keys in the shared PostgreSQL: every server sees a new or revoked key at once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def records(self) -> list[KeyRecord]:
        with self.db.connection() as conn:
            rows = conn.execute(
                f'SELECT id, hash, tenant, "user", roles, revoked FROM {SCHEMA}.api_keys ORDER BY id'
            ).fetchall()
        return [KeyRecord(i, h, t, u, tuple(r), bool(rv)) for i, h, t, u, r, rv in rows]

    def tenants(self) -> set[str]:
        with self.db.connection() as conn:
            return {t for (t,) in conn.execute(f"SELECT DISTINCT tenant FROM {SCHEMA}.api_keys WHERE NOT revoked")}

    def lookup(self, key: str) -> KeyRecord | None:
        wanted = hash_key(key)
        with self.db.connection() as conn:
            row = conn.execute(
                f'SELECT id, hash, tenant, "user", roles, revoked FROM {SCHEMA}.api_keys WHERE hash = %s', (wanted,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[1], wanted) or row[5]:
            return None
        return KeyRecord(row[0], row[1], row[2], row[3], tuple(row[4]), False)

    def create(self, tenant: str, user: str, roles: tuple[str, ...]) -> tuple[str, KeyRecord]:
        key, record = new_key(tenant, user, roles)
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.api_keys VALUES (%s, %s, %s, %s, %s, false)",
                (record.id, record.hash, record.tenant, record.user, list(record.roles)),
            )
        return key, record

    def revoke(self, key_id: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(f"UPDATE {SCHEMA}.api_keys SET revoked = true WHERE id = %s", (key_id,))
            return cur.rowcount == 1
