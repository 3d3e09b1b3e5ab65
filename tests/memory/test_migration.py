"""A store of the previous schema version is upgraded in place when opened.

Runs in a subprocess: Pixeltable allows one home per process, and the version-1 store needs
a home of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import subprocess_env

from .helpers import write_tree

SCRIPT = textwrap.dedent(
    """
    import datetime as dt, json, sys, uuid
    from pathlib import Path

    import numpy as np

    from lanterna.config import Config
    from lanterna.memory import runtime, schema
    from lanterna.memory.ingest import ingest
    from lanterna.memory.search import search
    from lanterna.memory.memory import memory_service
    from lanterna.memory.settings import MemorySettings
    from lanterna.memory.store import MemoryStore
    from lanterna.plugins import get_host

    folder, tenant = Path(sys.argv[1]), "t1"
    settings = MemorySettings.from_config(Config())
    embedder_named = memory_service(get_host()).embedder

    # the tables as schema version 1 had them: no roots, no symbols
    documents_v2, chunks_v2 = schema.document_columns, schema.chunk_columns
    schema.document_columns = lambda: {k: v for k, v in documents_v2().items() if k != "root"}
    schema.chunk_columns = lambda n: {k: v for k, v in chunks_v2(n).items() if k not in ("root", "symbol")}
    schema.SCHEMA_VERSION = 1
    old = MemoryStore.open(settings, embedder_named)
    text = (folder / "retry.py").read_text()
    import hashlib
    common = {"tenant": tenant, "service": "shop", "kind": "code", "path": "retry.py"}
    common["ingested_at"] = dt.datetime.now(dt.UTC)
    old.chunks.insert([{**common, "chunk_id": uuid.uuid4().hex, "doc_id": "d1", "start_line": 1, "end_line": 3,
                        "text": text, "embedding": np.asarray(old.embedder.embed([text])[0], dtype=np.float32)}])
    old.documents.insert([{**common, "doc_id": "d1", "title": "retry.py", "n_chunks": 1,
                           "content_hash": hashlib.sha256(text.encode()).hexdigest()}])

    schema.document_columns, schema.chunk_columns, schema.SCHEMA_VERSION = documents_v2, chunks_v2, 2
    store = MemoryStore.open(settings, embedder_named)
    out = {"marker": schema.read_marker(settings.pixeltable_home)["schema_version"]}
    out["meta"] = {r["key"]: r["value"] for r in store.meta_table.select().collect()}["schema_version"]
    out["before"] = search(store, tenant, "RetryPolicy backoff", limit=1)[0].as_dict()
    report = ingest(store, tenant, folder, "shop")
    out["report"] = {"unchanged": report.unchanged, "chunks": report.chunks}
    out["after"] = search(store, tenant, "RetryPolicy backoff", limit=1)[0].as_dict()
    out["services"] = store.services(tenant)
    runtime.stop()
    print(json.dumps(out))
    """
)


def test_a_version_1_store_gains_roots_and_symbols(tmp_path: Path) -> None:
    folder = write_tree(
        tmp_path / "shop", {"retry.py": "class RetryPolicy:\n    def backoff(self, n):\n        return n\n"}
    )
    env = subprocess_env(
        tmp_path / "home",
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_PIXELTABLE_HOME=str(tmp_path / "pxt"),
        LANTERNA_EMBEDDER="hash-384",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["marker"] == out["meta"] == "2"
    assert out["before"]["path"] == "retry.py" and out["before"]["root"] is None  # kept, root not known yet
    assert out["before"]["symbol"] is None
    assert out["report"] == {"unchanged": 1, "chunks": 0}  # nothing re-embedded
    assert out["after"]["root"] == str(folder.resolve())
    assert out["services"][0]["roots"] == [str(folder.resolve())]
