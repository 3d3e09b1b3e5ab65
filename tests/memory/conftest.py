"""One Pixeltable home for the whole session (start-up costs seconds); a tenant per test.

Tests use the fast hashing embedder; test_real_model.py runs the default model end to end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pxt_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("pixeltable-home")
    yield home
    from lanterna.memory.runtime import postgres_pid
    from lanterna.memory.store import close_store

    close_store()
    assert postgres_pid(home) is None, "the embedded Postgres of the test session is still running"


@pytest.fixture(autouse=True)
def memory_env(pxt_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Shared store, hashing embedder, and a tenant of this test's own."""
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("LANTERNA_PIXELTABLE_HOME", str(pxt_home))
    monkeypatch.setenv("LANTERNA_EMBEDDER", "hash-384")
    monkeypatch.setenv("LANTERNA_TENANT", tenant)
    return tenant


@pytest.fixture
def tenant(memory_env: str) -> str:
    return memory_env
