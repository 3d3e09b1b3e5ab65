"""Usage events in SQLite (WAL, synchronous=FULL), an idempotent insert, quotas, and an outbox.

Every event is stored once under its idempotency id (``INSERT OR IGNORE``) together with an
outbox row shaped like a Stripe meter event (``event_name``, ``identifier``, ``timestamp``,
``payload.stripe_customer_id``, ``payload.value``), so a real sink can drain the outbox in
place of the local one. Quotas count the tenant's events of the current UTC day plus the
operations admitted but not yet recorded, so concurrent calls cannot overshoot. A per-day
counter kept in the same transaction as each event makes the quota check one row lookup.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanterna.types import Plan, UsageEvent, UsageSummary

log = logging.getLogger("lanterna.cloud.metering")

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    user TEXT,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    units INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_tenant_time ON usage (tenant, time);
CREATE TABLE IF NOT EXISTS usage_daily (
    tenant TEXT NOT NULL,
    day INTEGER NOT NULL,
    units INTEGER NOT NULL,
    PRIMARY KEY (tenant, day)
);
CREATE TABLE IF NOT EXISTS outbox (
    identifier TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    created REAL NOT NULL,
    sent REAL
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (sent) WHERE sent IS NULL;
"""

QUOTA_LIMIT = "operations_per_day"
PENDING_TTL = 600.0  # seconds an admitted operation holds its quota slot without a usage event
#: SQLite waits this long for a lock; a write still locked out retries for ``RETRY_S``, then
#: stays in memory and is written with the next event (or at close) instead of being dropped.
BUSY_TIMEOUT_S = 5.0
RETRY_S = 30.0


def usage_row(event: UsageEvent) -> tuple[Any, ...]:
    """The ``usage`` table's columns for ``event``, in order (SQLite and PostgreSQL alike)."""
    return (
        event.id,
        event.tenant,
        event.user,
        event.action,
        event.resource,
        event.units,
        event.outcome,
        event.duration_ms,
        event.time,
    )


@dataclass(frozen=True)
class MeterEvent:
    """One outbox entry, in the shape of Stripe's ``POST /v1/billing/meter_events`` body."""

    identifier: str
    event: dict[str, Any]


class Metering:
    def __init__(self, path: Path, event_name: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.event_name = event_name
        self.clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pending: dict[str, tuple[str, float]] = {}  # request id -> (tenant, admitted at)
        self._backlog: dict[str, UsageEvent] = {}  # events a locked database kept out, by id
        self.write_seconds = 0.0  # time spent in usage writes (read by the benchmark)

    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    # -- quota -------------------------------------------------------------------------

    def check_quota(self, tenant: str, request_id: str, plan: Plan) -> str | None:
        limit = plan.limits.get(QUOTA_LIMIT)
        if limit is None:
            return None
        now = self.clock()
        day_start = now - now % 86400
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if now - v[1] < PENDING_TTL}
            pending = sum(1 for t, _ in self._pending.values() if t == tenant)
            row = (
                self.connection()
                .execute(
                    "SELECT units FROM usage_daily WHERE tenant = ? AND day = ?", (tenant, int(day_start // 86400))
                )
                .fetchone()
            )
            used = row[0] if row else 0
            if used + pending >= limit:
                wait = _duration(day_start + 86400 - now)
                return (
                    f"quota reached: {used} of {limit} operations today on the {plan.tier} plan;"
                    f" wait {wait} (00:00 UTC) or activate a license with a higher limit"
                )
            self._pending[request_id] = (tenant, now)
        return None

    def release(self, request_id: str) -> None:
        """Free the slot of an operation that was admitted but then refused."""
        with self._lock:
            self._pending.pop(request_id, None)

    # -- events ------------------------------------------------------------------------

    def record(self, event: UsageEvent, request_id: str | None = None) -> bool:
        """Store ``event`` once; returns False when its id was already recorded.

        A database locked by another process is retried; an event it keeps out longer than
        ``RETRY_S`` is kept in memory and written before the next one.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + RETRY_S
        delay = 0.05
        while True:
            try:
                with self._lock:
                    events = [*self._backlog.values(), event]
                    inserted = self._write(events)[-1]
                    self._backlog.clear()
                    if request_id is not None:
                        self._pending.pop(request_id, None)
                    self.write_seconds += time.perf_counter() - started
                return inserted
            except sqlite3.OperationalError as exc:
                if not _locked_out(exc):
                    raise
                if time.monotonic() >= deadline:
                    with self._lock:
                        self._backlog[event.id] = event
                    log.warning(
                        "usage database %s is locked; %d event(s) kept to write later", self.path, len(self._backlog)
                    )
                    return True
            time.sleep(delay)  # outside the lock: quota checks go on meanwhile
            delay = min(delay * 2, 1.0)

    def _write(self, events: list[UsageEvent]) -> list[bool]:
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = [self._insert(conn, event) for event in events]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return inserted

    def _insert(self, conn: sqlite3.Connection, event: UsageEvent) -> bool:
        meter = self.meter_event(event)
        cur = conn.execute(
            "INSERT OR IGNORE INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            usage_row(event),
        )
        if cur.rowcount != 1:
            return False
        conn.execute(
            "INSERT INTO usage_daily VALUES (?, ?, ?)"
            " ON CONFLICT (tenant, day) DO UPDATE SET units = units + excluded.units",
            (event.tenant, int(event.time // 86400), event.units),
        )
        conn.execute(
            "INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, NULL)",
            (meter.identifier, json.dumps(meter.event, sort_keys=True), event.time),
        )
        return True

    def meter_event(self, event: UsageEvent) -> MeterEvent:
        return meter_event(self.event_name, event)

    def summary(self, tenant: str, since: float, until: float) -> UsageSummary:
        with self._lock:
            rows = (
                self.connection()
                .execute(
                    "SELECT action, SUM(units) FROM usage WHERE tenant = ? AND time >= ? AND time < ? GROUP BY action",
                    (tenant, since, until),
                )
                .fetchall()
            )
        by_action = {action: int(n) for action, n in rows}
        return UsageSummary(tenant=tenant, since=since, until=until, total=sum(by_action.values()), by_action=by_action)

    def tenants(self) -> list[str]:
        with self._lock:
            return [t for (t,) in self.connection().execute("SELECT DISTINCT tenant FROM usage ORDER BY tenant")]

    # -- outbox ------------------------------------------------------------------------

    def unsent(self, limit: int = 100) -> list[MeterEvent]:
        with self._lock:
            rows = (
                self.connection()
                .execute("SELECT identifier, event FROM outbox WHERE sent IS NULL ORDER BY created LIMIT ?", (limit,))
                .fetchall()
            )
        return [MeterEvent(identifier, json.loads(event)) for identifier, event in rows]

    def flush(self, sink: Callable[[list[dict[str, Any]]], list[str]], batch: int = 100) -> int:
        """Hand unsent meter events to ``sink``, which returns the identifiers it accepted."""
        sent = 0
        while events := self.unsent(batch):
            accepted = set(sink([e.event for e in events]))
            if not accepted:
                break
            now = self.clock()
            with self._lock:
                self.connection().executemany(
                    "UPDATE outbox SET sent = ? WHERE identifier = ?", [(now, i) for i in accepted]
                )
            sent += len(accepted)
            if len(accepted) < len(events):
                break
        return sent

    def close(self) -> None:
        with self._lock:
            if self._backlog:
                try:
                    self._write(list(self._backlog.values()))
                    self._backlog.clear()
                except sqlite3.OperationalError as exc:
                    log.error("usage database %s: %d event(s) not written: %s", self.path, len(self._backlog), exc)
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def meter_event(event_name: str, event: UsageEvent) -> MeterEvent:
    return MeterEvent(
        identifier=event.id,
        event={
            "event_name": event_name,
            "identifier": event.id,
            "timestamp": int(event.time),
            "payload": {"stripe_customer_id": event.tenant, "value": str(event.units)},
        },
    )


class FileSink:
    """The local sink: appends meter events to a JSON-lines file, as a hosted sink would POST them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, events: list[dict[str, Any]]) -> list[str]:
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for event in events:
                fh.write(json.dumps(event, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return [e["identifier"] for e in events]


def _locked_out(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"
