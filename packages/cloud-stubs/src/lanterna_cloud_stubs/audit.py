"""An append-only audit log: one JSON line per event, fsync'd, each hash-chained to the previous.

Each line carries ``seq`` (1, 2, …), ``prev`` (the previous line's hash) and ``hash``
(SHA-256 of the line's other fields, canonical JSON). A head file remembers the last
``seq``/``hash`` written, signed with HMAC-SHA256 under a key that is created with the first
event. By default head and key live in the state directory, apart from the log in the data
directory: someone who can rewrite the log cannot rewrite or replay the head, and without the
key nobody can write a head that verifies. Writers in several processes serialize on an
``flock`` of the log. What ``verify`` does and does not detect is listed in docs/operating.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanterna_cloud_stubs.scrub import scrub

GENESIS = "0" * 64
_HEAD_WIDTH = 20 + 1 + 64 + 1 + 64 + 1


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


class HeadKey:
    """The secret that signs audit heads: 32 random bytes in a file created once (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, create: bool = False) -> bytes | None:
        if self._key is None:
            try:
                self._key = bytes.fromhex(self.path.read_text(encoding="ascii").strip())
            except FileNotFoundError:
                if not create:
                    return None
                self._key = self._create()
            except ValueError:
                raise AuditError(
                    f"the audit head key {self.path} is damaged; restore it from a backup"
                    " (a new key cannot vouch for the events already written)"
                ) from None
        return self._key

    def _create(self) -> bytes:
        import secrets

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, self.path)  # fails if another process created it first: use theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return bytes.fromhex(self.path.read_text(encoding="ascii").strip())

    def sign(self, seq: int, digest: str) -> str:
        key = self.load(create=True)
        assert key is not None
        return hmac.new(key, f"{seq} {digest}".encode("ascii"), hashlib.sha256).hexdigest()

    def check(self, seq: int, digest: str, signature: str) -> bool:
        key = self.load()
        if key is None:
            return False
        expected = hmac.new(key, f"{seq} {digest}".encode("ascii"), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)


class AuditLog:
    def __init__(self, path: Path, head_path: Path | None = None, key_path: Path | None = None) -> None:
        self.path = path
        self.head_path = head_path or path.with_name(path.name + ".head")
        self.key = HeadKey(key_path or self.head_path.with_name(self.head_path.name + ".key"))
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._head_fd: int | None = None
        self._last: tuple[int, str, int] | None = None  # seq, hash, file size after it
        self.fsync_seconds = 0.0  # time spent in fsync (read by the benchmark)

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Scrub ``fields``, chain them to the log and fsync; returns the written record."""
        record = scrub(fields)
        record.setdefault("time", time.time())
        with self._lock:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                seq, prev = self._tail(fd)
                record = {**record, "seq": seq + 1, "prev": prev}
                record["hash"] = chain_hash(record)
                os.write(fd, (canonical(record) + "\n").encode("utf-8"))
                started = time.perf_counter()
                os.fsync(fd)
                self.fsync_seconds += time.perf_counter() - started
                self._last = (record["seq"], record["hash"], os.fstat(fd).st_size)
                self._write_head(record["seq"], record["hash"])
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        return record

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def _tail(self, fd: int) -> tuple[int, str]:
        """The last seq and hash, from memory when no other writer appended since."""
        size = os.fstat(fd).st_size
        if self._last is not None and self._last[2] == size:
            return self._last[0], self._last[1]
        line = _last_line(self.path, size)
        if line is None:
            return 0, GENESIS
        try:
            record = json.loads(line)
            return int(record["seq"]), str(record["hash"])
        except (ValueError, KeyError, TypeError):
            raise AuditError(
                f"the last line of the audit log {self.path} is damaged;"
                " run `lanterna audit verify` before writing more"
            ) from None

    def _write_head(self, seq: int, digest: str) -> None:
        # fsync'd after the log: a crash between the two leaves the log one event ahead of its
        # head, which verify accepts; more than one, or a head ahead of the log, is tampering.
        if self._head_fd is None:
            self.head_path.parent.mkdir(parents=True, exist_ok=True)
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o600)
        os.pwrite(self._head_fd, f"{seq:020d} {digest} {self.key.sign(seq, digest)}\n".encode(), 0)
        os.fsync(self._head_fd)

    def read_head(self) -> tuple[int, str, str] | None:
        try:
            text = self.head_path.read_text(encoding="ascii")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        parts = text.split()
        if len(text) != _HEAD_WIDTH or len(parts) != 3 or not parts[0].isdigit() or len(parts[1]) != 64:
            return None
        return int(parts[0]), parts[1], parts[2]

    def records(self) -> Iterator[dict[str, Any]]:
        try:
            fh = self.path.open("r", encoding="utf-8")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    def last_time(self) -> float:
        """The time of the newest event (0 when there is none or it is unreadable)."""
        try:
            line = _last_line(self.path, self.path.stat().st_size)
            return float(json.loads(line)["time"]) if line else 0.0
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def tail(self, count: int) -> list[dict[str, Any]]:
        from collections import deque

        return list(deque(self.records(), maxlen=count))

    def verify(self) -> VerifyReport:
        report = verify_log(self.path, self.read_head(), self.head_path.exists(), self.key)
        if not self.path.exists() and (self.head_path.exists() or self.key.exists()):
            report.problems.insert(
                0, f"the audit log {self.path} is missing, but events were written (its head or key exists): deleted"
            )
        return report

    def close(self) -> None:
        with self._lock:
            for fd in (self._fd, self._head_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._head_fd = None
            self._last = None


class AuditError(Exception):
    """The audit log cannot be appended to safely; the message says what to do."""


@dataclass
class VerifyReport:
    events: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(path: Path, head: tuple[int, str, str] | None, head_exists: bool, key: HeadKey) -> VerifyReport:
    """Check every line of the log; each problem says where and what happened."""
    problems: list[str] = []
    prev_hash, expected, count = GENESIS, 1, 0
    hashes: dict[int, str] = {}
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        problems.append(f"line {len(lines)}: the last event is cut off (no line end): the log was truncated")
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
            seq, prev, digest = int(record["seq"]), str(record["prev"]), str(record["hash"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {number}: not a valid audit event: the line was edited or truncated")
            prev_hash, expected = "", expected + 1
            continue
        count += 1
        if chain_hash(record) != digest:
            problems.append(f"line {number} (seq {seq}): content does not match its hash: the event was edited")
        if seq != expected:
            what = "events before it were deleted or moved" if seq > expected else "it was moved or duplicated"
            problems.append(f"line {number}: seq {seq} where {expected} was expected: {what}")
        elif prev != prev_hash and prev_hash:
            problems.append(
                f"line {number} (seq {seq}): does not chain to line {number - 1}: an event before it was changed"
            )
        prev_hash, expected = digest, seq + 1
    problems += check_head(head, head_exists or bool(lines) or key.exists(), expected - 1, hashes, key)
    return VerifyReport(events=count, problems=problems)


def check_head(
    head: tuple[int, str, str] | None, expected: bool, last_seq: int, hashes: dict[int, str], key: HeadKey
) -> list[str]:
    """Compare the signed head with the end of the chain (``hashes``: seq -> hash of the last two)."""
    problems: list[str] = []
    if head is None:
        if expected:
            problems.append("the head is missing or damaged: truncation at the end cannot be ruled out")
        return problems
    if not key.exists():
        problems.append(f"the head key {key.path} is missing: the head cannot be trusted; restore the key")
    elif not key.check(*head):
        problems.append("the head's signature does not match: the head was rewritten or copied from elsewhere")
    if head[0] > last_seq:
        problems.append(
            f"the log ends at seq {last_seq} but seq {head[0]} was written: events were truncated from the end"
        )
    elif head[0] in hashes and head[1] != hashes[head[0]]:
        problems.append(f"the event at seq {head[0]} is not the one written: it was replaced")
    elif head[0] < last_seq - 1:
        problems.append(
            f"the log goes on to seq {last_seq} but the head was signed at seq {head[0]}: events after it were"
            " appended without the key (forged) or the head was replaced by an older one"
        )
    return problems


def _last_line(path: Path, size: int) -> bytes | None:
    if size == 0:
        return None
    with path.open("rb") as fh:
        block = 4096
        pos = size
        buf = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            buf = fh.read(step) + buf
            body = buf.rstrip(b"\n")
            cut = body.rfind(b"\n")
            if cut >= 0:
                return body[cut + 1 :]
        return buf.rstrip(b"\n") or None
