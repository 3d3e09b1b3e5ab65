"""Several `lanterna serve --http` processes on one PostgreSQL: health endpoints, one quota, one audit chain."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import psycopg

from tests.team.servers import McpSession, Server, init_repo, make_home


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_healthz_needs_no_credentials_and_reports_an_unreachable_database(
    pg_server: Any, tmp_path: Path, cloud: Any
) -> None:
    url = pg_server.create_database("health_probe")
    home = make_home(tmp_path / "home", url, tmp_path / "audit.key", 10, {})
    server = Server(home, init_repo(tmp_path / "repo")).start()
    try:
        assert get(f"{server.url}/healthz") == (200, {"status": "ok", "problems": {}})
        assert get(f"{server.url}/readyz")[0] == 200
        with psycopg.connect(pg_server.url, autocommit=True) as conn:
            conn.execute("DROP DATABASE health_probe WITH (FORCE)")
        status, body = get(f"{server.url}/healthz")
        assert status == 503 and body["status"] == "fail"
        assert "cannot connect to PostgreSQL" in body["problems"]["cloud"]
        assert "health_probe" in body["problems"]["cloud"] and "@" not in body["problems"]["cloud"].split("at ")[0]
    finally:
        server.stop()


def test_two_servers_admit_exactly_the_quota_and_write_one_chain(cloud: Any, pg_url: str, tmp_path: Path) -> None:
    key_file = cloud.plugin.settings.audit_key_file  # the same head key on every server
    key = cloud.key("acme")
    repo = init_repo(tmp_path / "repo")
    homes = [make_home(tmp_path / f"s{n}", pg_url, key_file, 30, {"acme": repo}) for n in range(2)]
    servers = [Server(home, repo).start() for home in homes]
    outcomes: list[str] = []

    async def client(server: Server, calls: int) -> None:
        import httpx2

        async with httpx2.AsyncClient(timeout=60) as http:
            session = McpSession(http, server.url, key)
            await session.open()
            for _ in range(calls):
                result = await session.call("session_branch")
                text = result["content"][0]["text"] if result.get("content") else ""
                if not result.get("isError"):
                    outcomes.append("ok")
                else:
                    outcomes.append("denied" if "quota reached" in text else f"error: {text}")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(client, servers[n % 2], 10)

    try:
        anyio.run(main)
    finally:
        for server in servers:
            server.stop()
    assert outcomes.count("ok") == 30 and outcomes.count("denied") == 50, [o for o in outcomes if o.startswith("e")]
    with psycopg.connect(pg_url) as conn:
        usage = conn.execute("SELECT count(*) FROM lanterna_cloud.usage WHERE tenant = 'acme'").fetchone()
        audited = conn.execute(
            "SELECT count(*) FROM lanterna_cloud.audit_log WHERE record::jsonb->>'outcome' = 'success'"
        ).fetchone()
    assert usage == (30,) and audited == (30,)
    report = cloud.plugin.audit.verify()
    assert report.ok, report.problems
