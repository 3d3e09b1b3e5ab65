"""A large ingest with a fast embedder loads in bulk after its first batch (the vector index
built once, at the end) when no other process has the store open: all of it searchable
afterwards; a crash before the swap keeps what was stored before, a crash in the swap is
finished by the next open and the next ingest."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .helpers import own_store_env, run_lanterna, write_tree

FILES = 500

CRASH = textwrap.dedent(
    """
    import os, sys
    import pixeltable as pxt
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    moves, real_move = [], pxt.move
    def move(*args, **kwargs):  # the process dies at the n-th rename of the swap
        moves.append(args)
        if len(moves) == int(sys.argv[1]):
            os._exit(3)
        return real_move(*args, **kwargs)
    pxt.move = move
    with Guard(get_host()).operation(RequestContext(transport="cli"), "memory.ingest", "service:big"):
        memory_service(get_host()).ingest_path(sys.argv[2], "big")
    """
)

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    with Guard(get_host()).operation(RequestContext(transport="stdio"), "memory.stats", "memory"):
        memory_service(get_host()).stats()
    Path(sys.argv[1]).touch()
    deadline = time.monotonic() + 300
    while not Path(sys.argv[2]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    """
)


def _big_tree(root: Path) -> Path:
    """About 1.4 MB of Python in ``FILES`` files: enough new chunks for a bulk load."""
    body = "".join(
        f"def step_{j}(order, attempt):\n    '''Move the order one step on: stage {j} of the pipeline.'''\n"
        f"    return order.advance({j}, attempt=attempt)\n\n"
        for j in range(20)
    )
    files = {f"pkg{i % 10}/module_{i}.py": f"def unique_marker_{i}():\n    return {i}\n\n{body}" for i in range(FILES)}
    return write_tree(root, files)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return own_store_env(tmp_path, LANTERNA_EMBEDDER="hash-384")


def _ingest(env: dict[str, str], root: Path, service: str) -> dict:
    return json.loads(run_lanterna(env, "ingest", str(root), "--service", service, "--json").stdout)


def _check_store(env: dict[str, str], root: Path, big_files: int) -> None:
    """Every file of ``root`` stored once under "big", each with all its chunks, and found."""
    script = textwrap.dedent(
        """
        import json
        from collections import Counter
        from lanterna.guard import Guard
        from lanterna.memory.memory import memory_service
        from lanterna.plugins import get_host
        from lanterna.types import RequestContext

        with Guard(get_host()).operation(RequestContext(transport="cli"), "memory.stats", "memory"):
            store = memory_service(get_host()).store()
            c, d = store.chunks, store.documents
            docs = list(d.where(d.service == "big").select(d.doc_id, d.path, d.n_chunks).collect())
            chunks = Counter(r["doc_id"] for r in c.where(c.service == "big").select(c.doc_id).collect())
            print(json.dumps({"docs": [[r["doc_id"], r["path"], r["n_chunks"]] for r in docs], "chunks": chunks}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert len(found["docs"]) == big_files
    assert len({path for _, path, _ in found["docs"]}) == big_files, "a file is stored twice"
    assert found["chunks"] == {doc_id: n for doc_id, _, n in found["docs"]}, "a file is half-stored"
    top = json.loads(run_lanterna(env, "search", "unique_marker_123", "--service", "big", "--json").stdout)[0]
    assert top["path"] == "pkg3/module_123.py"


def test_a_large_ingest_loads_in_bulk_and_is_all_searchable(tmp_path: Path, env: dict[str, str]) -> None:
    small = write_tree(tmp_path / "small", {"notes.md": "# Kept\n\nThe small service stays as it was.\n"})
    assert _ingest(env, small, "small")["bulk"] is False  # a few chunks: row by row

    report = _ingest(env, _big_tree(tmp_path / "big"), "big")
    assert report["bulk"] is True and report["added"] == FILES
    _check_store(env, tmp_path / "big", FILES)
    stats = json.loads(run_lanterna(env, "stats", "--json").stdout)
    assert stats["documents"] == FILES + 1 and stats["chunks"] == report["chunks"] + 1
    kept = json.loads(run_lanterna(env, "search", "small service stays", "--service", "small", "--json").stdout)
    assert kept[0]["path"] == "notes.md"

    again = _ingest(env, tmp_path / "big", "big")
    assert again["unchanged"] == FILES and again["chunks"] == 0 and again["bulk"] is False


def test_a_bulk_load_steps_aside_while_another_process_has_the_store_open(tmp_path: Path, env: dict[str, str]) -> None:
    ready, go = tmp_path / "ready", tmp_path / "go"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ready), str(go)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert holder.poll() is None, holder.stderr.read().decode()[-2000:] if holder.stderr else ""
            assert time.monotonic() < deadline, "the holder did not open the store within 120 s"
            time.sleep(0.1)
        report = _ingest(env, _big_tree(tmp_path / "big"), "big")
    finally:
        go.touch()
        holder.wait(60)
    assert report["bulk"] is False and report["added"] == FILES
    _check_store(env, tmp_path / "big", FILES)


@pytest.mark.parametrize("dies_at_move", [1, 2], ids=["before-the-swap", "in-the-swap"])
def test_a_bulk_load_killed_loses_nothing_stored_and_the_next_ingest_completes(
    tmp_path: Path, env: dict[str, str], dies_at_move: int
) -> None:
    small = write_tree(tmp_path / "small", {"notes.md": "# Kept\n\nThe small service stays as it was.\n"})
    _ingest(env, small, "small")
    root = _big_tree(tmp_path / "big")
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(dies_at_move), str(root)], env=env, capture_output=True, timeout=300
    )
    assert crashed.returncode == 3, crashed.stderr.decode()[-2000:]

    stats = json.loads(run_lanterna(env, "stats", "--json").stdout)
    assert 1 < stats["documents"] < FILES  # the first batch, stored as usual; the rest only after a swap
    kept = json.loads(run_lanterna(env, "search", "small service stays", "--service", "small", "--json").stdout)
    assert kept[0]["path"] == "notes.md"

    report = _ingest(env, root, "big")
    assert report["added"] == FILES - (stats["documents"] - 1) and report["unchanged"] == stats["documents"] - 1
    _check_store(env, root, FILES)
    assert json.loads(run_lanterna(env, "stats", "--json").stdout)["documents"] == FILES + 1
