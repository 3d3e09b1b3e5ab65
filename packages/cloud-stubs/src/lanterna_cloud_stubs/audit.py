"""An append-only audit log: one JSON line per event, fsync'd, each hash-chained to the previous.

Each line carries ``seq`` (1, 2, …), ``prev`` (the previous line's hash) and ``hash``
(SHA-256 of the line's other fields, canonical JSON). A small head file next to the log
remembers the last ``seq``/``hash`` written, so cutting events off the end is detected too.
Writers in several processes serialize on an ``flock`` of the log.
"""

from __future__ import annotations

import fcntl
import hashlib
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
_HEAD_WIDTH = 20 + 1 + 64 + 1


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")
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
        # Not fsync'd: after a crash the head can only lag behind the fsync'd log, and a log
        # longer than its head is accepted by verify; a head ahead of the log is truncation.
        if self._head_fd is None:
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o600)
        os.pwrite(self._head_fd, f"{seq:020d} {digest}\n".encode(), 0)

    def read_head(self) -> tuple[int, str] | None:
        try:
            text = self.head_path.read_text(encoding="ascii")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        seq, _, digest = text.strip().partition(" ")
        if len(text) != _HEAD_WIDTH or not seq.isdigit() or len(digest) != 64:
            return None
        return int(seq), digest

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

    def tail(self, count: int) -> list[dict[str, Any]]:
        from collections import deque

        return list(deque(self.records(), maxlen=count))

    def verify(self) -> VerifyReport:
        return verify_log(self.path, self.read_head(), self.head_path.exists())

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


def verify_log(path: Path, head: tuple[int, str] | None, head_exists: bool) -> VerifyReport:
    """Check every line of the log; each problem says where and what happened."""
    problems: list[str] = []
    prev_hash, expected, count = GENESIS, 1, 0
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
    last_seq = expected - 1
    if head is None:
        if lines or head_exists:
            problems.append("the head file is missing or damaged: truncation at the end cannot be ruled out")
    elif head[0] > last_seq:
        problems.append(
            f"the log ends at seq {last_seq} but seq {head[0]} was written: events were truncated from the end"
        )
    elif head[0] == last_seq and head[1] != prev_hash:
        problems.append(f"the last event (seq {last_seq}) is not the one written: it was replaced")
    return VerifyReport(events=count, problems=problems)


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
