"""cloud-stubs on a real PostgreSQL: quotas exact across processes, idempotent events, outbox, keys."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lanterna.guard import Denied
from tests.cloud_stubs.cloud_harness import write_config
from tests.helpers import subprocess_env

WORKER = Path(__file__).with_name("guarded_calls.py")
ROOT = Path(__file__).parents[2]


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def server_home(base: Path, name: str, pg_url: str, quota: int) -> Path:
    """A separate Lanterna home (as on another machine) whose only shared state is PostgreSQL."""
    home = base / name
    home.mkdir()
    write_config(
        home / "config.toml",
        {"cloud": {"db_connect_str": pg_url}, "cloud.plans.free": {"operations_per_day": quota}},
    )
    return home


def test_a_quota_of_40_admits_exactly_40_across_four_processes(cloud: Any, pg_url: str, tmp_path: Path) -> None:
    key = cloud.key("acme")
    procs = []
    for n in range(4):
        home = server_home(tmp_path, f"server{n}", pg_url, quota=40)
        env = subprocess_env(home, LANTERNA_LOAD_PLUGINS="cloud", PYTHONPATH=str(ROOT))
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), "8", "4", key], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out))
    admitted = [rid for r in results for rid in r["admitted"]]
    assert [r["errors"] for r in results] == [[], [], [], []]
    assert len(admitted) == 40
    assert sum(len(r["denied"]) for r in results) == 4 * 8 * 4 - 40
    assert all(re.match(r"quota reached: \d+ of 40 operations today", why) for r in results for why in r["denied"])
    assert query(pg_url, "SELECT count(*), count(DISTINCT id) FROM lanterna_cloud.usage") == [(40, 40)]
    recorded = {i.split(":")[0] for (i,) in query(pg_url, "SELECT id FROM lanterna_cloud.usage")}
    assert recorded == set(admitted)
    assert query(pg_url, "SELECT units FROM lanterna_cloud.usage_daily") == [(40,)]
    assert query(pg_url, "SELECT count(*) FROM lanterna_cloud.quota_pending") == [(0,)]
    assert query(pg_url, "SELECT count(*) FROM lanterna_cloud.outbox WHERE sent IS NULL") == [(40,)]


def test_concurrent_threads_in_one_process_admit_exactly_the_limit(cloud: Any, pg_url: str) -> None:
    cloud.other["cloud.plans.free"] = {"operations_per_day": 25}
    cloud.reload()
    key = cloud.key("acme")
    barrier = threading.Barrier(40)
    outcomes: list[str] = []

    def call() -> None:
        barrier.wait()
        try:
            cloud.run(cloud.http(key))
            outcomes.append("ok")
        except Denied:
            outcomes.append("denied")

    threads = [threading.Thread(target=call) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 25
    assert query(pg_url, "SELECT count(*) FROM lanterna_cloud.usage") == [(25,)]


def test_the_same_event_recorded_by_two_processes_counts_once(cloud: Any, pg_url: str, tmp_path: Path) -> None:
    from lanterna.types import UsageEvent

    event = UsageEvent(id="req-1:memory.search", tenant="acme", user="u", action="memory.search", resource="r")
    script = (
        "import sys\n"
        "from lanterna.plugins import get_host\n"
        "from lanterna.types import UsageEvent\n"
        "p = get_host().pm.get_plugin('cloud')\n"
        "print(p.metering.record(UsageEvent(id='req-1:memory.search', tenant='acme', user='u',"
        " action='memory.search', resource='r', time=float(sys.argv[1]))))\n"
    )
    assert cloud.plugin.metering.record(event) is True
    home = server_home(tmp_path, "other", pg_url, quota=10)
    env = subprocess_env(home, LANTERNA_LOAD_PLUGINS="cloud", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", script, str(event.time)], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "False", out.stderr[-2000:]
    assert query(pg_url, "SELECT count(*) FROM lanterna_cloud.usage") == [(1,)]
    assert query(pg_url, "SELECT sum(units) FROM lanterna_cloud.usage_daily") == [(1,)]
    assert query(pg_url, "SELECT count(*) FROM lanterna_cloud.outbox") == [(1,)]


def test_an_admitted_call_that_is_denied_later_frees_its_slot(cloud: Any, pg_url: str) -> None:
    cloud.other["cloud.plans.free"] = {"operations_per_day": 1}
    cloud.reload()
    viewer = cloud.key("acme", "viewer")
    with pytest.raises(Denied):
        cloud.run(cloud.http(viewer), action="memory.delete")
    assert query(pg_url, "SELECT count(*) FROM lanterna_cloud.quota_pending") == [(0,)]
    assert cloud.run(cloud.http(viewer)) == "acme"
    with pytest.raises(Denied, match="quota reached: 1 of 1"):
        cloud.run(cloud.http(viewer))


def test_the_outbox_is_drained_once_by_two_flushers(cloud: Any, pg_url: str) -> None:
    key = cloud.key("acme")
    cloud.other["cloud.plans.free"] = {"operations_per_day": 100}
    cloud.reload()
    for _ in range(30):
        cloud.run(cloud.http(key))
    received: list[str] = []
    lock = threading.Lock()

    def sink(events: list[dict[str, Any]]) -> list[str]:
        with lock:
            received.extend(e["identifier"] for e in events)
        return [e["identifier"] for e in events]

    from lanterna_cloud_stubs.database import Database
    from lanterna_cloud_stubs.pg_metering import PgMetering

    second = PgMetering(Database(pg_url), "lanterna_operations")
    threads = [
        threading.Thread(target=cloud.plugin.metering.flush, args=(sink, 7)),
        threading.Thread(target=second.flush, args=(sink, 7)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.close()
    assert len(received) == 30 == len(set(received))
    assert query(pg_url, "SELECT count(*) FROM lanterna_cloud.outbox WHERE sent IS NULL") == [(0,)]


def test_keys_created_in_one_process_are_seen_and_revoked_in_another(cloud: Any, pg_url: str) -> None:
    from lanterna_cloud_stubs.database import Database
    from lanterna_cloud_stubs.keys import PgKeyStore

    other = PgKeyStore(Database(pg_url))
    key = cloud.key("acme")
    record = other.lookup(key)
    assert record is not None and record.tenant == "acme"
    assert other.revoke(record.id) is True
    with pytest.raises(Denied, match="unknown or revoked API key"):
        cloud.run(cloud.http(key))
    assert not (cloud.home / "state").exists() or not list((cloud.home).rglob("api-keys.json"))


def test_an_unreachable_database_is_one_clear_line_without_the_password(lanterna_home: Path, load_plugins) -> None:
    from tests.cloud_stubs.cloud_harness import write_config as write

    write(lanterna_home / "config.toml", {"cloud": {"db_connect_str": "postgresql://u:s3cret@127.0.0.1:1/db"}})
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="cloud")
    out = subprocess.run(
        [sys.executable, "-m", "lanterna", "usage"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr.startswith("lanterna: cannot connect to PostgreSQL at postgresql://u:***@127.0.0.1:1/db")
    assert "s3cret" not in out.stderr + out.stdout
    assert "check [cloud] db_connect_str" in out.stderr
    assert os.environ.get("LANTERNA_TEST_PG_URL", "x") != ""
