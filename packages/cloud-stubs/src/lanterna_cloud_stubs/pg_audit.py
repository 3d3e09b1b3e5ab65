"""The audit log in a shared PostgreSQL: one hash chain, however many processes write to it.

Appends take a transaction-scoped advisory lock, read the head row, insert the next event and
move the head in the same transaction, so writers in every process form one chain with no
gap and no fork. The head row is signed with the same HMAC key as the file log's head (kept
outside the database, ``[cloud] audit_key_file``, identical on every server): someone who can
write to the database can delete or edit rows, but cannot sign a head that hides it.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from lanterna_cloud_stubs.audit import GENESIS, HeadKey, VerifyReport, canonical, chain_hash, check_head
from lanterna_cloud_stubs.database import AUDIT_LOCK, LOCK_SPACE, SCHEMA, Database
from lanterna_cloud_stubs.scrub import scrub

S = SCHEMA


class PgAuditLog:
    def __init__(self, db: Database, key: HeadKey) -> None:
        self.db = db
        self.key = key
        self.fsync_seconds = 0.0  # the database commits durably; kept for the benchmark's report

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        record = scrub(fields)
        record.setdefault("time", time.time())
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, AUDIT_LOCK))
            row = conn.execute(f"SELECT seq, hash FROM {S}.audit_head WHERE id = 1").fetchone()
            seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
            record = {**record, "seq": seq + 1, "prev": prev}
            record["hash"] = chain_hash(record)
            conn.execute(
                f"INSERT INTO {S}.audit_log VALUES (%s, %s, %s)", (record["seq"], canonical(record), record["hash"])
            )
            signature = self.key.sign(record["seq"], record["hash"])
            conn.execute(
                f"INSERT INTO {S}.audit_head VALUES (1, %s, %s, %s) ON CONFLICT (id) DO UPDATE"
                " SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature",
                (record["seq"], record["hash"], signature),
            )
        return record

    def records(self, batch: int = 5000) -> Any:
        last = 0
        while True:
            with self.db.connection() as conn:
                rows = conn.execute(
                    f"SELECT seq, record FROM {S}.audit_log WHERE seq > %s ORDER BY seq LIMIT %s", (last, batch)
                ).fetchall()
            for seq, text in rows:
                last = seq
                yield json.loads(text)
            if len(rows) < batch:
                return

    def last_time(self) -> float:
        with self.db.connection() as conn:
            row = conn.execute(f"SELECT record FROM {S}.audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        try:
            return float(json.loads(row[0])["time"]) if row else 0.0
        except (ValueError, KeyError, TypeError):
            return 0.0

    def tail(self, count: int) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT record FROM {S}.audit_log ORDER BY seq DESC LIMIT %s", (max(count, 0),)
            ).fetchall()
        return [json.loads(text) for (text,) in reversed(rows)]

    def verify(self) -> VerifyReport:
        problems: list[str] = []
        prev_hash, expected, count = GENESIS, 1, 0
        hashes: dict[int, str] = {}
        recent: deque[int] = deque(maxlen=2)
        for record in self.records():
            count += 1
            try:
                seq, prev, digest = int(record["seq"]), str(record["prev"]), str(record["hash"])
            except (KeyError, TypeError, ValueError):
                problems.append(f"event {count}: not a valid audit event: the row was edited")
                prev_hash, expected = "", expected + 1
                continue
            if chain_hash(record) != digest:
                problems.append(f"seq {seq}: content does not match its hash: the event was edited")
            if seq != expected:
                what = "events before it were deleted" if seq > expected else "it was duplicated"
                problems.append(f"seq {seq} where {expected} was expected: {what}")
            elif prev != prev_hash and prev_hash:
                problems.append(f"seq {seq}: does not chain to seq {seq - 1}: an event before it was changed")
            prev_hash, expected = digest, seq + 1
            recent.append(seq)
            hashes = {k: v for k, v in hashes.items() if k in recent} | {seq: digest}
        with self.db.connection() as conn:
            row = conn.execute(f"SELECT seq, hash, signature FROM {S}.audit_head WHERE id = 1").fetchone()
        head = (int(row[0]), str(row[1]), str(row[2])) if row else None
        problems += check_head(head, count > 0 or self.key.exists(), expected - 1, hashes, self.key)
        if head is not None and head[0] == expected - 2:
            # Appends move the head in the same transaction: a lag is not a crash here.
            problems.append(f"the chain goes on to seq {expected - 1} past the signed head at seq {head[0]}: forged")
        return VerifyReport(events=count, problems=problems)

    def close(self) -> None:
        self.db.close()
