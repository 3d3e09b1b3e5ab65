"""API keys: random tokens handed out once, stored only as SHA-256 hashes with tenant and roles.

The file (``[cloud] keys_file``, default ``<state>/cloud/api-keys.json``) holds no key in
clear. A key is ``lnt_`` + 43 url-safe characters (256 random bits), so a plain SHA-256
is a sound hash for it: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(key)
        record = KeyRecord(id="key_" + digest[7:19], hash=digest, tenant=tenant, user=user, roles=tuple(roles))
        with self._lock:
            records = [r.as_json() for r in self._read()]
            records.append(record.as_json())
            self._write(records)
        return key, record

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            records = self._read()
            found = any(r.id == key_id for r in records)
            self._write([(r.as_json() | {"revoked": True}) if r.id == key_id else r.as_json() for r in records])
        return found

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"keys": records}, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._stamp = None
