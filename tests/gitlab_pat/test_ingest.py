"""``lanterna ingest gitlab:GROUP/PROJECT``: an archive for a fresh ingest, blob ids afterwards."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lanterna.memory.memory import memory_service
from lanterna.plugins import get_host
from tests.gitlab_pat.conftest import PROJECT, TOKEN
from tests.gitlab_pat.helpers import guarded
from tests.helpers import subprocess_env


@pytest.fixture(autouse=True)
def own_tenant(monkeypatch: pytest.MonkeyPatch) -> str:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("LANTERNA_TENANT", tenant)
    return tenant


def ingest(spec: str) -> dict:
    return guarded(memory_service(get_host()).ingest_path, spec, "billing")


def test_fresh_ingest_unchanged_reingest_and_a_change(gitlab, lanterna_home):
    report = ingest(f"gitlab:{PROJECT}")
    assert report["added"] == 4 and report["skipped_secrets"] == ["id_rsa"]
    paths = [s.path for s in gitlab.requests()]
    assert sum(p.endswith("/repository/archive.tar.gz") for p in paths) == 1 and len(paths) <= 5, paths
    assert not [p for p in paths if "/blobs/" in p]
    assert guarded(memory_service(get_host()).search, "total_invoice", "billing")[0]["path"] == "src/billing/invoice.py"

    gitlab.reset()
    again = ingest(f"gitlab:{PROJECT}")
    assert again["unchanged"] == 4 and again["added"] == again["updated"] == again["removed"] == 0
    assert len(gitlab.requests()) == 2 and again["source"]["not_modified"] == 2

    files = gitlab.files(PROJECT)
    files["src/billing/tax.py"] = "VAT_RATE = 0.25\n"
    gitlab.commit(PROJECT, files)
    gitlab.reset()
    changed = ingest(f"gitlab:{PROJECT}")
    assert (changed["updated"], changed["unchanged"]) == (1, 3)
    assert len([s for s in gitlab.requests() if "/blobs/" in s.path]) == 1
    for path in Path(lanterna_home).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_cli_ingest_of_a_gitlab_project(gitlab, lanterna_home, own_tenant):
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="gitlab", GITLAB_TOKEN=TOKEN, LANTERNA_TENANT=own_tenant)
    lanterna = str(Path(sys.executable).with_name("lanterna"))
    result = subprocess.run(
        [lanterna, "ingest", f"gitlab:{PROJECT}@main", "--service", "billing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("billing: 4 added, 0 updated, 0 unchanged, 0 removed")
