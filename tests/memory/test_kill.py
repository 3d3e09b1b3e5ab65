"""kill -9 in the middle of an ingest, then the same command again: complete, no duplicate,
no half-stored file. A real `lanterna ingest` subprocess shares the session's Postgres."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

from .helpers import LANTERNA, memory, operation, write_tree

FILES = 600


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun(tmp_path: Path, pxt_home: Path, tenant: str) -> None:
    root = write_tree(
        tmp_path / "corpus",
        {
            f"pkg{i % 20}/mod_{i}.py": f"def handler_{i}(event):\n    return event['id'] * {i}\n" * 3
            for i in range(FILES)
        },
    )
    with operation():
        store = memory().store()  # this process keeps the shared Postgres alive across the kill
    env = subprocess_env(
        tmp_path / "home",
        own_store=True,
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_PIXELTABLE_HOME=str(pxt_home),
        LANTERNA_EMBEDDER="hash-384",
        LANTERNA_TENANT=tenant,
    )
    command = [*LANTERNA, "ingest", str(root), "--service", "killed", "--json"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if store.known_documents(tenant, "killed"):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed: make the corpus bigger"
    stored_at_kill = len(store.known_documents(tenant, "killed"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert 0 < stored_at_kill < FILES

    done = subprocess.run(command, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    docs = store.known_documents(tenant, "killed")
    assert len(docs) == FILES
    c, d = store.chunks, store.documents
    chunks = list(
        c.where((c.tenant == tenant) & (c.service == "killed")).select(c.doc_id, c.path, c.start_line).collect()
    )
    per_doc = Counter(r["doc_id"] for r in chunks)
    expected = {r["doc_id"]: r["n_chunks"] for r in d.where(d.tenant == tenant).select(d.doc_id, d.n_chunks).collect()}
    assert per_doc == Counter(expected), "a file is half-stored or has chunks of two ingests"
    assert not [k for k, n in Counter((r["path"], r["start_line"]) for r in chunks).items() if n > 1], "duplicates"
    assert {r["doc_id"] for r in chunks} == {doc_id for doc_id, _ in docs.values()}
