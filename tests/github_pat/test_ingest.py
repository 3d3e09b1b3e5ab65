"""``lanterna ingest github:OWNER/REPO``: one archive for a fresh ingest, blob ids for re-ingests,
the same rules as a local folder (secrets, binaries), and the token stored nowhere."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from lanterna import hookimpl
from lanterna.errors import UserError
from lanterna.memory.memory import memory_service
from lanterna.plugins import get_host
from tests.github_pat.conftest import TOKEN
from tests.github_pat.helpers import guarded
from tests.helpers import subprocess_env


@pytest.fixture(autouse=True)
def own_tenant(monkeypatch: pytest.MonkeyPatch) -> str:
    import uuid

    tenant = f"t-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("LANTERNA_TENANT", tenant)
    return tenant


def ingest(spec: str, service: str = "billing") -> dict:
    return guarded(memory_service(get_host()).ingest_path, spec, service)


def test_fresh_ingest_downloads_one_archive_then_reingest_costs_one_request(github):
    report = ingest("github:acme/billing")
    assert report["root"].startswith("github:acme/billing@")
    assert report["added"] == 4 and report["skipped_secrets"] == [".env"]
    assert report["skipped_binary"] == ["assets/logo.png"]
    # fresh: resolve HEAD, list the tree, the tarball (302) and the codeload download; no blob requests
    paths = [s.path for s in github.requests()]
    assert len(paths) <= 5, paths
    assert not [p for p in paths if "/git/blobs/" in p or "/contents/" in p]
    assert report["source"]["requests"] == len(paths)
    hits = guarded(memory_service(get_host()).search, "total_invoice", "billing")
    assert hits and hits[0]["path"] == "src/billing/invoice.py"

    github.reset()
    again = ingest("github:acme/billing")
    assert again["unchanged"] == 4 and again["added"] == again["updated"] == again["removed"] == 0
    seen = github.requests()
    assert len(seen) <= 2 and all(s.headers.get("if-none-match") for s in seen), [s.path for s in seen]
    assert again["source"]["not_modified"] == len(seen)


def test_reingest_after_a_change_fetches_only_the_changed_blobs(github):
    ingest("github:acme/billing")
    files = github.files("acme/billing")
    files["src/billing/tax.py"] = "VAT_RATE = 0.25\n"
    files["src/billing/refund.py"] = "def refund_invoice(invoice):\n    return -invoice.total\n"
    del files["docs/adr/0001-use-postgres.md"]
    github.commit("acme/billing", files)
    github.reset()
    report = ingest("github:acme/billing")
    assert (report["added"], report["updated"], report["removed"], report["unchanged"]) == (1, 1, 1, 2)
    blobs = [s.path for s in github.requests() if "/git/blobs/" in s.path]
    assert len(blobs) == 2 and not [s for s in github.requests() if "tarball" in s.path]
    assert guarded(memory_service(get_host()).search, "refund_invoice", "billing")[0]["path"] == "src/billing/refund.py"


def test_a_ref_pins_the_ingested_commit(github):
    first = github.repos["acme/billing"].branches["main"]
    github.commit("acme/billing", {"only.py": "X = 1\n"})
    report = ingest(f"github:acme/billing@{first}")
    assert report["root"] == f"github:acme/billing@{first}" and report["added"] == 4


class AuditRecorder:
    def __init__(self) -> None:
        self.events: list[object] = []

    @hookimpl
    def record_audit_event(self, event: object) -> None:
        self.events.append(event)

    @hookimpl
    def record_security_event(self, event: object) -> None:
        self.events.append(event)


def test_the_token_is_in_no_table_cache_log_audit_or_report(github, caplog, lanterna_home, own_tenant):
    caplog.set_level(logging.DEBUG)
    recorder = AuditRecorder()
    get_host().register(recorder, "audit-recorder")
    report = ingest("github:acme/billing")
    with pytest.raises(UserError) as missing:
        ingest("github:acme/nope")
    assert TOKEN not in str(missing.value)
    assert len(recorder.events) == 2 and "acme/nope" not in str(recorder.events[0])
    assert TOKEN not in repr(recorder.events)
    store = guarded(memory_service(get_host()).store)
    stored = str(store.list_documents(own_tenant, limit=1000)) + str(
        guarded(memory_service(get_host()).search, "invoice", "billing", limit=50)
    )
    assert "invoice" in stored and TOKEN not in stored
    assert TOKEN not in str(report) and TOKEN not in caplog.text
    for path in Path(lanterna_home).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_cli_ingest_of_a_github_repository(github, lanterna_home, own_tenant):
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="github", GITHUB_TOKEN=TOKEN, LANTERNA_TENANT=own_tenant)
    lanterna = str(Path(sys.executable).with_name("lanterna"))
    result = subprocess.run(
        [lanterna, "ingest", "github:acme/billing", "--service", "billing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("billing: 4 added, 0 updated, 0 unchanged, 0 removed")
    assert "skipped (secret, not stored): .env" in result.stdout
    missing = subprocess.run(
        [lanterna, "ingest", "github:acme/nope", "--service", "billing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert missing.returncode != 0 and TOKEN not in missing.stderr
    assert missing.stderr.startswith("lanterna: GitHub has no repository acme/nope") and missing.stderr.count("\n") == 1


@pytest.mark.anyio
async def test_the_memory_ingest_tool_takes_a_repository(github):
    from mcp import Client

    from lanterna.server.app import build_server

    async with Client(build_server()) as client:
        result = await client.call_tool("memory_ingest", {"path": "github:acme/billing", "service": "billing"})
        unknown = await client.call_tool("memory_ingest", {"path": "gitlab:acme/app", "service": "billing"})
    assert not result.is_error, result.content
    assert result.structured_content["added"] == 4 and result.structured_content["root"].startswith("github:")
    text = unknown.content[0].text
    assert unknown.is_error and len(text.splitlines()) == 1
    assert text.endswith("install it with `lanterna install lanterna-gitlab-pat`")
