"""The audit log and license state in a real PostgreSQL: one chain with several writers, verify in the DB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from tests.cloud_stubs.cloud_harness import lanterna, write_config
from tests.helpers import subprocess_env

ROOT = Path(__file__).parents[2]
WORKER = Path(__file__).with_name("guarded_calls.py")


def execute(url: str, sql: str, *args: Any) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, args)


def test_four_processes_write_one_chain_that_verifies_in_the_database(cloud: Any, pg_url: str, tmp_path: Path) -> None:
    key = cloud.key("acme")
    key_file = cloud.plugin.settings.audit_key_file
    cloud.run(cloud.http(key))  # creates the head key, shared by every server below
    procs = []
    for n in range(4):
        home = tmp_path / f"server{n}"
        home.mkdir()
        write_config(
            home / "config.toml",
            {"cloud": {"db_connect_str": pg_url, "audit_key_file": str(key_file)}, "cloud.plans.free": {"x": 1}},
        )
        env = subprocess_env(home, LANTERNA_LOAD_PLUGINS="cloud", PYTHONPATH=str(ROOT))
        procs.append(subprocess.Popen([sys.executable, str(WORKER), "6", "5", key], env=env, stderr=subprocess.PIPE))
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    report = cloud.plugin.audit.verify()
    assert report.ok, report.problems
    assert report.events == 1 + 4 * 6 * 5
    with psycopg.connect(pg_url) as conn:
        seqs = [s for (s,) in conn.execute("SELECT seq FROM lanterna_cloud.audit_log ORDER BY seq")]
    assert seqs == list(range(1, 122))
    result = lanterna(cloud.home, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit log intact: 121 events, chain and head agree (the shared PostgreSQL)")


def test_deleting_rows_or_rewriting_the_head_in_the_database_fails_verify(cloud: Any, pg_url: str) -> None:
    key = cloud.key("acme")
    for _ in range(5):
        cloud.run(cloud.http(key))
    assert cloud.plugin.audit.verify().ok
    execute(pg_url, "DELETE FROM lanterna_cloud.audit_log WHERE seq = 3")
    assert any("seq 4 where 3 was expected" in p for p in cloud.plugin.audit.verify().problems)
    execute(pg_url, "DELETE FROM lanterna_cloud.audit_log WHERE seq >= 3")
    problems = cloud.plugin.audit.verify().problems
    assert any("events were truncated from the end" in p for p in problems), problems
    row = psycopg.connect(pg_url).execute("SELECT hash FROM lanterna_cloud.audit_log WHERE seq = 2").fetchone()
    assert row is not None
    execute(pg_url, "UPDATE lanterna_cloud.audit_head SET seq = 2, hash = %s", row[0])
    problems = cloud.plugin.audit.verify().problems
    assert any("the head's signature does not match" in p for p in problems), problems
    execute(pg_url, "DELETE FROM lanterna_cloud.audit_head")
    result = lanterna(cloud.home, "audit", "verify")
    assert result.returncode == 1 and "the head is missing" in result.stderr


def test_license_state_lives_in_the_database(cloud: Any, pg_url: str) -> None:
    cloud.plugin.entitlements.evaluate("acme")
    cloud.plugin.audit.append({"kind": "audit", "action": "memory.search"})
    with psycopg.connect(pg_url) as conn:
        (value,) = conn.execute("SELECT value FROM lanterna_cloud.license_state WHERE name = 'state'").fetchone()
    assert json.loads(value)["last_trusted_time"] > 0
    assert not cloud.plugin.settings.license_state.exists()
    execute(pg_url, "DELETE FROM lanterna_cloud.license_state")
    cloud.reload()
    cloud.plugin.entitlements.evaluate("acme")
    kinds = [r.get("type") for r in cloud.plugin.audit.tail(5)]
    assert "license.state_reset" in kinds
