"""Helpers that test modules import (fixtures live in conftest.py, which no test imports)."""

from __future__ import annotations

import os
from pathlib import Path

#: Variables a test must not inherit from the shell that runs pytest.
ISOLATED_ENV = (
    "LANTERNA_CONFIG",
    "LANTERNA_DATA_DIR",
    "LANTERNA_LOAD_PLUGINS",
    "LANTERNA_DISABLE_PLUGINS",
    "LANTERNA_STRICT_PLUGINS",
    "LANTERNA_TRACE_HOOKS",
    "LANTERNA_AUDIT_FAIL_CLOSED",
    "LANTERNA_TENANT",
    "LANTERNA_USER",
    "LANTERNA_DB_CONNECT_STR",
    "LANTERNA_CLOUD_DB_CONNECT_STR",
)
#: The Pixeltable home and fast embedder the root conftest shares between the tests of a run.
SHARED_STORE_ENV = ("LANTERNA_PIXELTABLE_HOME", "LANTERNA_EMBEDDER")


def subprocess_env(home: Path, *, own_store: bool = False, **extra: str) -> dict[str, str]:
    """Environment for a `lanterna` subprocess with its own LANTERNA_HOME.

    It loads the plugins named by ``LANTERNA_LOAD_PLUGINS=...`` in ``extra`` (every installed
    one when not given). It uses the run's shared Pixeltable home and hashing embedder, or,
    with ``own_store``, a store under ``home`` and the default embedder.
    """
    dropped = ISOLATED_ENV + (SHARED_STORE_ENV if own_store else ())
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["LANTERNA_HOME"] = str(home)
    env.update(extra)
    return env
