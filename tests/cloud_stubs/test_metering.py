"""Metering through the real guard: SQLite durability settings, quotas, idempotency, outbox."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest
from cloud_harness import Cloud

from lanterna.guard import Denied, Guard
from lanterna.types import RequestContext
from lanterna_cloud_stubs.metering import FileSink


def rows(cloud: Cloud, sql: str) -> list[tuple]:
    with sqlite3.connect(cloud.plugin.settings.usage_db) as conn:
        return conn.execute(sql).fetchall()


def test_usage_db_is_wal_with_full_sync(cloud: Cloud) -> None:
    cloud.run(cloud.http(cloud.key("acme")))
    conn = cloud.plugin.metering.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_fifty_concurrent_guarded_operations_make_exactly_fifty_events(cloud: Cloud) -> None:
    cloud.other["cloud.plans.free"] = {"operations_per_day": 1000}
    cloud.reload()
    key = cloud.key("acme")
    guard = Guard(cloud.host)
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            with guard.operation(
                RequestContext(transport="http", headers={"authorization": f"Bearer {key}"}), "memory.search", "repo:/r"
            ):
                time.sleep(0.001)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert rows(cloud, "SELECT COUNT(*), COUNT(DISTINCT id) FROM usage") == [(50, 50)]
    assert rows(cloud, "SELECT COUNT(*) FROM outbox WHERE sent IS NULL") == [(50,)]
    audit = [json.loads(line) for line in cloud.audit_lines()]
    assert len([e for e in audit if e["outcome"] == "success"]) == 50
    assert cloud.plugin.audit.verify().ok


def test_free_quota_denies_the_eleventh_operation_before_it_runs(cloud: Cloud) -> None:
    key = cloud.key("acme")
    for _ in range(10):
        cloud.run(cloud.http(key))
    ran = []
    with pytest.raises(Denied) as caught, cloud.op(cloud.http(key)):
        ran.append(True)
    assert not ran
    assert caught.value.stage == "quota"
    message = str(caught.value)
    assert message.startswith("quota reached: 10 of 10 operations today on the free plan; wait ")
    assert message.endswith("(00:00 UTC) or activate a license with a higher limit")
    assert rows(cloud, "SELECT COUNT(*) FROM usage") == [(10,)]
    other = cloud.key("other-tenant")
    assert cloud.run(cloud.http(other)) == "other-tenant"


def test_a_license_sets_the_quota(cloud: Cloud) -> None:
    path = cloud.dev_key.license(cloud.home / "acme.license", "acme", limits={"operations_per_day": 3})
    cloud.plugin.entitlements.activate(path)
    key = cloud.key("acme")
    for _ in range(3):
        cloud.run(cloud.http(key))
    with pytest.raises(Denied, match="quota reached: 3 of 3 operations today on the pro plan"):
        cloud.run(cloud.http(key))


def test_retrying_the_same_request_counts_once(cloud: Cloud) -> None:
    request = cloud.http(cloud.key("acme"))
    cloud.run(request)
    cloud.run(request)  # same request id: a retry
    assert rows(cloud, "SELECT COUNT(*) FROM usage") == [(1,)]
    assert rows(cloud, "SELECT COUNT(*) FROM outbox") == [(1,)]


def test_outbox_holds_stripe_shaped_meter_events_until_sent(cloud: Cloud) -> None:
    request = cloud.http(cloud.key("acme"))
    cloud.run(request)
    (event,) = [e.event for e in cloud.plugin.metering.unsent()]
    assert set(event) == {"event_name", "identifier", "timestamp", "payload"}
    assert event["event_name"] == "lanterna_operations"
    assert event["identifier"] == f"{request.request_id}:memory.search"
    assert event["payload"] == {"stripe_customer_id": "acme", "value": "1"}
    assert abs(event["timestamp"] - time.time()) < 60
    sink = FileSink(cloud.home / "sent.jsonl")
    assert cloud.plugin.metering.flush(sink) == 1
    assert cloud.plugin.metering.flush(sink) == 0
    assert [json.loads(line) for line in (cloud.home / "sent.jsonl").read_text().splitlines()] == [event]


def test_usage_summary_by_action(cloud: Cloud) -> None:
    key = cloud.key("acme")
    for action in ("memory.search", "memory.search", "session.diff"):
        cloud.run(cloud.http(key), action)
    now = time.time()
    summary = cloud.host.call("usage_summary", tenant="acme", since=now - 60, until=now + 1)
    assert summary.total == 3
    assert dict(summary.by_action) == {"memory.search": 2, "session.diff": 1}


def test_a_locked_usage_database_delays_events_but_loses_none(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    from lanterna_cloud_stubs import metering

    monkeypatch.setattr(metering, "BUSY_TIMEOUT_S", 0.1, raising=False)
    monkeypatch.setattr(metering, "RETRY_S", 0.5, raising=False)
    key = cloud.key("acme")
    cloud.run(cloud.http(key))
    cloud.plugin.metering.close()  # reconnect with the short busy timeout
    locker = sqlite3.connect(cloud.plugin.settings.usage_db, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock

    unlock = threading.Timer(0.3, lambda: locker.execute("COMMIT"))
    unlock.start()
    cloud.run(cloud.http(key))  # waits for the lock, then writes
    unlock.join()
    assert rows(cloud, "SELECT COUNT(*) FROM usage") == [(2,)]

    locker.execute("BEGIN EXCLUSIVE")
    cloud.run(cloud.http(key))  # locked out for longer than the retries: kept, not dropped
    cloud.run(cloud.http(key))
    locker.execute("COMMIT")
    assert rows(cloud, "SELECT COUNT(*) FROM usage") == [(2,)]
    cloud.run(cloud.http(key))  # the next write takes the kept events along
    assert rows(cloud, "SELECT COUNT(*) FROM usage") == [(5,)]
    assert rows(cloud, "SELECT units FROM usage_daily") == [(5,)]
    assert rows(cloud, "SELECT COUNT(*) FROM outbox") == [(5,)]
    assert cloud.host.hook_failures[("record_usage", "cloud")] == 0

    locker.execute("BEGIN EXCLUSIVE")
    cloud.run(cloud.http(key))
    locker.execute("COMMIT")
    cloud.plugin.metering.close()  # closing writes what is still kept
    assert rows(cloud, "SELECT COUNT(*) FROM usage") == [(6,)]
    locker.close()
