"""A store with a missing table is refused with a clear message (real processes, own store)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

from .helpers import LANTERNA

DROP_META = """
import sys
from pathlib import Path
from lanterna.memory import runtime
runtime.start(runtime.RuntimeSettings(home=Path(sys.argv[1])))
import pixeltable as pxt
pxt.drop_table("lanterna_memory/meta")
runtime.stop()
"""


@pytest.mark.slow
def test_incomplete_store_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "pxt"
    env = subprocess_env(
        tmp_path / "home",
        own_store=True,
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_PIXELTABLE_HOME=str(home),
        LANTERNA_EMBEDDER="hash-384",
    )
    created = subprocess.run([*LANTERNA, "stats", "--json"], env=env, capture_output=True, timeout=180)
    assert created.returncode == 0, created.stderr.decode()[-2000:]
    dropped = subprocess.run([sys.executable, "-c", DROP_META, str(home)], env=env, capture_output=True, timeout=180)
    assert dropped.returncode == 0, dropped.stderr.decode()[-2000:]
    refused = subprocess.run([*LANTERNA, "stats"], env=env, capture_output=True, timeout=180)
    assert refused.returncode == 1
    assert refused.stdout == b""
    last = refused.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("lanterna: the memory store at") and "incomplete (missing lanterna_memory/meta)" in last
    assert "move it away" in last
