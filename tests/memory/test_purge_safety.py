"""memory-purge rewrites the store for everyone: refused next to a running server, crash-safe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

PRELUDE = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    def memory():
        return memory_service(get_host())

    def op(action):
        return Guard(get_host()).operation(RequestContext(transport="stdio"), action, "memory")
    """
)

HOLD = PRELUDE + textwrap.dedent(
    """
    with op("memory.note"):
        for i in range(3):
            memory().add_record("note", f"kept note {i}")
    Path(sys.argv[1]).touch()
    deadline = time.monotonic() + 120
    while not Path(sys.argv[2]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    """
)

CRASH_IN_PURGE = PRELUDE + textwrap.dedent(
    """
    import pixeltable as pxt
    with op("memory.note"):
        for i in range(3):
            memory().add_record("note", f"kept note {i}")
    def crash(*args, **kwargs):  # the process dies between dropping a table and renaming its copy
        os._exit(3)
    pxt.move = crash
    with op("memory.purge"):
        memory().purge()
    """
)

COUNT_NOTES = PRELUDE + textwrap.dedent(
    """
    with op("memory.list"):
        notes = memory().list_records(kind="note")
        hits = memory().search("kept note")
    print(len(notes), len(hits))
    """
)


def _env(tmp_path: Path) -> dict[str, str]:
    return subprocess_env(
        tmp_path / "lanterna",
        LANTERNA_PIXELTABLE_HOME=str(tmp_path / "pxt"),
        LANTERNA_EMBEDDER="hash-384",
        LANTERNA_LOAD_PLUGINS="",
    )


def test_purge_is_refused_while_a_server_holds_the_store_and_runs_once_it_is_gone(tmp_path: Path) -> None:
    env = _env(tmp_path)
    ready, go = tmp_path / "ready", tmp_path / "go"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ready), str(go)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert holder.poll() is None, holder.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the holder did not open the store within 120 s"
            time.sleep(0.1)
        purge = [sys.executable, "-m", "lanterna", "memory-purge", "--yes"]
        refused = subprocess.run(purge, env=env, capture_output=True, text=True, timeout=180)
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr.strip() == (
            "lanterna: another process has the memory store open (a running server or another command);"
            " stop it, then run `lanterna memory-purge` again"
        )
    finally:
        go.touch()
        holder.wait(60)
    done = subprocess.run(purge, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "purged: 3 documents" in done.stdout
    count = subprocess.run([sys.executable, "-c", COUNT_NOTES], env=env, capture_output=True, text=True, timeout=180)
    assert count.stdout.split() == ["3", "3"], count.stderr[-2000:]


def test_a_crash_between_drop_and_rename_leaves_an_openable_store(tmp_path: Path) -> None:
    env = _env(tmp_path)
    crashed = subprocess.run([sys.executable, "-c", CRASH_IN_PURGE], env=env, capture_output=True, timeout=180)
    assert crashed.returncode == 3, crashed.stderr.decode()[-2000:]
    count = subprocess.run([sys.executable, "-c", COUNT_NOTES], env=env, capture_output=True, text=True, timeout=180)
    assert count.returncode == 0, count.stderr[-2000:]
    assert count.stdout.split() == ["3", "3"]


def test_a_process_opening_a_store_held_exclusively_says_what_it_waits_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lanterna.memory.locks import WAITING, StoreUse
    from lanterna.memory.settings import MemorySettings

    settings = MemorySettings(
        pixeltable_home=tmp_path, db_connect_str=None, embedder=None, max_file_bytes=1, chunk_lines=40
    )
    holder, opened = StoreUse(settings), threading.Event()
    with holder.exclusively():  # what a purge, reembed or bulk load holds
        waiter = threading.Thread(target=lambda: (StoreUse(settings), opened.set()))
        with caplog.at_level("WARNING", logger="lanterna.memory"):
            waiter.start()
            deadline = time.monotonic() + 10
            while WAITING not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
        assert WAITING in caplog.text and not opened.is_set()
    waiter.join(10)
    assert opened.is_set()
    holder.release()
