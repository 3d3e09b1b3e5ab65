"""Long-term memory of several processes on one PostgreSQL (with pgvector) through db_connect_str.

Each process has its own Lanterna and Pixeltable home, as on its own machine; the only thing
they share is the database. Every step is a real `lanterna` command in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import subprocess_env

pytestmark = pytest.mark.slow


def machine(base: Path, name: str, pg_url: str) -> dict[str, str]:
    home = base / name
    home.mkdir()
    return subprocess_env(
        home, LANTERNA_DB_CONNECT_STR=pg_url, LANTERNA_PIXELTABLE_HOME=str(home / "pixeltable"), LANTERNA_TENANT="acme"
    )


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lanterna", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run(env: dict[str, str], *args: str) -> Any:
    proc = start(env, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out) if "--json" in args else out


def service_tree(root: Path, files: int) -> Path:
    root.mkdir()
    for n in range(files):
        body = f'"""Module {n}."""\n\n\ndef handler_{n}(order):\n    return order * {n}\n'
        (root / f"module_{n}.py").write_text(body)
    return root


def test_two_machines_share_ingest_notes_search_and_forget(pg_url: str, tmp_path: Path) -> None:
    a, b, c = (machine(tmp_path, name, pg_url) for name in ("a", "b", "c"))
    tree = service_tree(tmp_path / "tree", 40)
    # the same service ingested on two machines at once: one waits for the other, then skips
    procs = [start(env, "ingest", str(tree), "--service", "billing") for env in (a, b)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    services = run(c, "services", "--json")
    billing = [s for s in services if s["service"] == "billing"]
    assert len(billing) == 1 and billing[0]["documents"] == 40, services
    # a note written on one machine is found and forgotten on another
    made = run(a, "note", "The invoice retry window is nine minutes", "--json")
    hits = run(b, "search", "invoice retry window", "--json")
    assert made["id"] in [h["doc_id"] for h in hits], hits
    run(b, "forget", made["id"])
    hits = run(c, "search", "invoice retry window", "--json")
    assert made["id"] not in [h["doc_id"] for h in hits]
    assert any(h["service"] == "billing" for h in run(c, "search", "handler order", "--json"))


HOLD_REFINE_CLAIM = """
import sys
from lanterna.guard import Guard
from lanterna.memory.memory import memory_service
from lanterna.plugins import get_host
from lanterna.types import RequestContext

with Guard(get_host()).operation(RequestContext(transport="cli"), "memory.stats", "service:*"):
    store = memory_service(get_host()).store()
print("claimed" if store.refiner.claim() else "not claimed", flush=True)
sys.stdin.readline()
"""


def test_one_machine_at_a_time_fills_the_shared_rerank_vectors(pg_url: str, tmp_path: Path) -> None:
    a, b = (machine(tmp_path, name, pg_url) for name in ("a", "b"))
    for env in (a, b):
        env.update(LANTERNA_EMBEDDER="hash-384", LANTERNA_RERANK="minilm-static", LANTERNA_LOAD_PLUGINS="")
    run(a, "ingest", str(service_tree(tmp_path / "tree", 12)), "--service", "billing")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_REFINE_CLAIM], env=a, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        refused = subprocess.run(
            [sys.executable, "-m", "lanterna", "memory", "refine"], env=b, capture_output=True, text=True, timeout=300
        )
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            "lanterna: another process (a memory daemon or a server) is refining this store;"
            " `lanterna stats` shows its progress"
        ]
    finally:
        holder.communicate("\n", timeout=120)
    done = run(b, "memory", "refine", "--json")
    assert done["chunks_pending"] == 0 and done["chunks_done"] == 12
    assert run(a, "stats", "--json")["refined"] == done
