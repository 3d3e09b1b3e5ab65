"""Metering on a shared PostgreSQL: the same events, outbox and quotas, exact across processes.

A quota check locks the tenant's row in ``quota_tenant`` (``SELECT … FOR UPDATE``), so the
checks of one tenant run one at a time in every process; in one statement it then counts
the tenant's units of the day plus its admitted operations not yet recorded
(``quota_pending``), and admits by inserting a pending row. Recording an event moves it from
pending to the day's total in one transaction, so a check never sees it in both or neither.
With a limit of N, any number of processes admit exactly N. A process killed between
admission and record leaves a pending row that stops counting after ``PENDING_TTL``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from lanterna.types import Plan, UsageEvent, UsageSummary
from lanterna_cloud_stubs.database import SCHEMA, Database
from lanterna_cloud_stubs.metering import PENDING_TTL, QUOTA_LIMIT, MeterEvent, _duration, meter_event, usage_row

S = SCHEMA


class PgMetering:
    def __init__(self, db: Database, event_name: str, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.event_name = event_name
        self.clock = clock
        self.write_seconds = 0.0

    # -- quota -------------------------------------------------------------------------

    def check_quota(self, tenant: str, request_id: str, plan: Plan) -> str | None:
        limit = plan.limits.get(QUOTA_LIMIT)
        if limit is None:
            return None
        now = self.clock()
        day_start = now - now % 86400
        with self.db.transaction() as conn:
            conn.execute(f"INSERT INTO {S}.quota_tenant VALUES (%s) ON CONFLICT DO NOTHING", (tenant,))
            conn.execute(f"SELECT 1 FROM {S}.quota_tenant WHERE tenant = %s FOR UPDATE", (tenant,))
            used, pending = conn.execute(
                f"SELECT (SELECT coalesce(sum(units), 0) FROM {S}.usage_daily WHERE tenant = %s AND day = %s),"
                f" (SELECT count(*) FROM {S}.quota_pending WHERE tenant = %s AND admitted_at > %s)",
                (tenant, int(day_start // 86400), tenant, now - PENDING_TTL),
                # (ignored for mypy) an aggregate query always returns one row; psycopg types fetchone() as optional
            ).fetchone()  # type: ignore[misc]
            if used + pending >= limit:
                wait = _duration(day_start + 86400 - now)
                return (
                    f"quota reached: {used} of {limit} operations today on the {plan.tier} plan;"
                    f" wait {wait} (00:00 UTC) or activate a license with a higher limit"
                )
            conn.execute(
                f"INSERT INTO {S}.quota_pending VALUES (%s, %s, %s)"
                " ON CONFLICT (request_id) DO UPDATE SET admitted_at = excluded.admitted_at",
                (request_id, tenant, now),
            )
        return None

    def release(self, request_id: str) -> None:
        """Free the slot of an operation that was admitted but then refused."""
        with self.db.transaction() as conn:
            conn.execute(f"DELETE FROM {S}.quota_pending WHERE request_id = %s", (request_id,))

    # -- events ------------------------------------------------------------------------

    def record(self, event: UsageEvent, request_id: str | None = None) -> bool:
        """Store ``event`` once; returns False when its id was already recorded."""
        meter = self.meter_event(event)
        started = time.perf_counter()
        with self.db.transaction() as conn:
            cur = conn.execute(
                f"INSERT INTO {S}.usage VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                usage_row(event),
            )
            inserted = cur.rowcount == 1
            if inserted:
                conn.execute(
                    f"INSERT INTO {S}.usage_daily VALUES (%s, %s, %s)"
                    " ON CONFLICT (tenant, day) DO UPDATE SET units = usage_daily.units + excluded.units",
                    (event.tenant, int(event.time // 86400), event.units),
                )
                conn.execute(
                    f"INSERT INTO {S}.outbox VALUES (%s, %s, %s, NULL) ON CONFLICT DO NOTHING",
                    (meter.identifier, json.dumps(meter.event, sort_keys=True), event.time),
                )
            if request_id is not None:
                conn.execute(f"DELETE FROM {S}.quota_pending WHERE request_id = %s", (request_id,))
        self.write_seconds += time.perf_counter() - started
        return inserted

    def meter_event(self, event: UsageEvent) -> MeterEvent:
        return meter_event(self.event_name, event)

    def summary(self, tenant: str, since: float, until: float) -> UsageSummary:
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT action, sum(units) FROM {S}.usage WHERE tenant = %s AND time >= %s AND time < %s"
                " GROUP BY action",
                (tenant, since, until),
            ).fetchall()
        by_action = {action: int(n) for action, n in rows}
        return UsageSummary(tenant=tenant, since=since, until=until, total=sum(by_action.values()), by_action=by_action)

    def tenants(self) -> list[str]:
        with self.db.connection() as conn:
            return [t for (t,) in conn.execute(f"SELECT DISTINCT tenant FROM {S}.usage ORDER BY tenant")]

    # -- outbox ------------------------------------------------------------------------

    def unsent(self, limit: int = 100) -> list[MeterEvent]:
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT identifier, event FROM {S}.outbox WHERE sent IS NULL ORDER BY created, identifier LIMIT %s",
                (limit,),
            ).fetchall()
        return [MeterEvent(identifier, json.loads(event)) for identifier, event in rows]

    def flush(self, sink: Callable[[list[dict[str, Any]]], list[str]], batch: int = 100) -> int:
        """Hand unsent meter events to ``sink``; one process drains at a time (the rows stay locked)."""
        sent = 0
        while True:
            with self.db.transaction() as conn:
                rows = conn.execute(
                    f"SELECT identifier, event FROM {S}.outbox WHERE sent IS NULL ORDER BY created, identifier"
                    " LIMIT %s FOR UPDATE SKIP LOCKED",
                    (batch,),
                ).fetchall()
                if not rows:
                    return sent
                accepted = set(sink([json.loads(event) for _, event in rows]))
                now = self.clock()
                with conn.cursor() as cur:
                    cur.executemany(
                        f"UPDATE {S}.outbox SET sent = %s WHERE identifier = %s", [(now, i) for i in accepted]
                    )
            sent += len(accepted)
            if len(accepted) < len(rows):
                return sent

    def close(self) -> None:
        self.db.close()
