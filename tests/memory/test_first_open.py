"""Several processes opening a new store at once: one creates it, the others wait and use it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lanterna.memory.runtime import postgres_pid
from tests.helpers import subprocess_env

from .helpers import LANTERNA, write_tree

PROCESSES = 4


@pytest.mark.slow
def test_four_ingests_started_together_on_a_new_home_all_succeed(tmp_path: Path) -> None:
    home = tmp_path / "pxt"
    env = subprocess_env(
        tmp_path / "lanterna",
        own_store=True,
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_PIXELTABLE_HOME=str(home),
        LANTERNA_EMBEDDER="hash-384",
    )
    procs = []
    for i in range(PROCESSES):
        root = write_tree(tmp_path / f"svc{i}", {f"mod{i}.py": f"def handler_{i}():\n    return {i}\n"})
        command = [*LANTERNA, "ingest", str(root), "--service", f"svc{i}", "--json"]
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert json.loads(out)["added"] == 1
    services = subprocess.run([*LANTERNA, "services", "--json"], env=env, capture_output=True, timeout=300)
    assert services.returncode == 0, services.stderr.decode()[-2000:]
    assert sorted(s["service"] for s in json.loads(services.stdout)) == [f"svc{i}" for i in range(PROCESSES)]
    assert postgres_pid(home) is None  # the last process out stopped the embedded Postgres
