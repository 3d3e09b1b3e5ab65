"""Pixeltable's known traps, each defused: HTTP server, stdout, Postgres left running,
short filtered similarity results."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lanterna.memory import runtime
from lanterna.memory.runtime import postgres_pid
from lanterna.memory.store import ChunkIn, DocumentIn
from tests.helpers import subprocess_env

from .helpers import memory, operation


def _listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def _my_socket_inodes() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def test_no_http_server_is_left_listening() -> None:
    with operation():
        memory().stats()
    from lanterna.memory import pxt_adapter

    assert not pxt_adapter.web_server_running()
    assert not (_listening_inodes() & _my_socket_inodes()), "this process listens on a TCP port"


OPEN_AND_SEARCH = textwrap.dedent(
    """
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext
    memory = memory_service(get_host())
    with Guard(get_host()).operation(RequestContext(transport="stdio"), "memory.search", "service:*"):
        memory.add_record("note", "stdout must stay clean")
        hits = memory.search("stdout clean")
    assert hits, hits
    """
)


def test_fresh_store_prints_nothing_on_stdout_and_stops_postgres(tmp_path: Path) -> None:
    home = tmp_path / "pxt"
    env = subprocess_env(
        tmp_path / "lanterna",
        own_store=True,
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_PIXELTABLE_HOME=str(home),
        LANTERNA_EMBEDDER="hash-384",
    )
    done = subprocess.run([sys.executable, "-c", OPEN_AND_SEARCH], env=env, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == b""
    assert (home / "pgdata").is_dir()  # the embedded Postgres ran for this store...
    assert postgres_pid(home) is None  # ...and was stopped when the process exited


def _analyze(store) -> None:
    """Refresh Postgres' statistics, as autovacuum does on a live store: only then does the
    planner choose the HNSW index for a tenant holding most rows (and results come back short)."""
    from lanterna.memory import pxt_adapter

    pxt_adapter.analyze(store.chunks)


@contextlib.contextmanager
def vector_settings(settings: dict[str, str]):
    from lanterna.memory.pxt_adapter import engine

    saved = dict(runtime.VECTOR_SETTINGS)
    runtime.VECTOR_SETTINGS.clear()
    runtime.VECTOR_SETTINGS.update(settings)
    engine().dispose()  # new connections get the settings
    try:
        yield
    finally:
        runtime.VECTOR_SETTINGS.clear()
        runtime.VECTOR_SETTINGS.update(saved)
        engine().dispose()


@pytest.mark.slow
def test_filtered_similarity_results_are_complete() -> None:
    """A tenant filter on an HNSW search: a top-100 is full and ordered (pgvector's default
    stops after ef_search=40 candidates, before the filter)."""
    rng = np.random.default_rng(7)
    with operation(tenant="crowd-" + os.urandom(4).hex()):
        store = memory().store()
        crowd = [
            DocumentIn("code", f"crowd/{i}.py", "h", [ChunkIn(1, 1, f"crowd chunk {i} {rng.integers(1e9)}")])
            for i in range(1000)
        ]
        store.write(memory().tenant(), "crowd", crowd)
    with operation():
        mine = [
            DocumentIn("code", f"mine/{i}.py", "h", [ChunkIn(1, 1, f"my chunk {i} {rng.integers(1e9)}")])
            for i in range(6000)
        ]
        store.write(memory().tenant(), "mine", mine)
        _analyze(store)
        query = store.embedder.embed(["my chunk"])[0]
        with vector_settings({"hnsw.iterative_scan": "off"}):
            short = store.vector_search(memory().tenant(), query, limit=100)
        hits = store.vector_search(memory().tenant(), query, limit=100)
    assert len(short) < 100, "the trap did not show: Postgres did not use the HNSW index"
    assert len(hits) == 100
    assert all(h.path.startswith("mine/") for h in hits)
    scores = [h.score for h in hits]
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(scores))  # float32 distances


OPEN_THEN_STOP_ON_SIGNAL = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext
    from lanterna.memory.store import close_store
    with Guard(get_host()).operation(RequestContext(transport="stdio"), "memory.stats", "service:*"):
        memory_service(get_host()).stats()
    from lanterna.memory import pxt_adapter
    read = pxt_adapter.process_ids
    def slow_read(server):  # a slow disk: widens the window between reading and rewriting the list
        found = read(server)
        time.sleep(1.5)
        return found
    pxt_adapter.process_ids = slow_read
    Path(sys.argv[1]).touch()
    while not Path(sys.argv[2]).exists():
        time.sleep(0.02)
    close_store()
    """
)


def test_two_processes_stopping_at_once_leave_no_postgres_running(tmp_path: Path) -> None:
    home = tmp_path / "pxt"
    env = subprocess_env(tmp_path / "lanterna", LANTERNA_PIXELTABLE_HOME=str(home), LANTERNA_EMBEDDER="hash-384")
    go = tmp_path / "go"
    procs = []
    for i in range(2):
        ready = tmp_path / f"ready{i}"
        cmd = [sys.executable, "-c", OPEN_THEN_STOP_ON_SIGNAL, str(ready), str(go)]
        procs.append((ready, subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)))
        deadline = time.monotonic() + 120
        while not ready.exists():  # one after the other: two first starts of one home would race
            assert procs[-1][1].poll() is None, procs[-1][1].stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the store did not open within 120 s"
            time.sleep(0.1)
    go.touch()
    for _, proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    assert postgres_pid(home) is None
