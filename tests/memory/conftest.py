"""One Pixeltable home for the whole session (start-up costs seconds); a tenant per test.

Tests use the fast hashing embedder; test_real_model.py runs the default model end to end.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def memory_env(pxt_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A tenant of this test's own (the root conftest shares one store and the hashing embedder)."""
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("LANTERNA_TENANT", tenant)
    return tenant


@pytest.fixture
def tenant(memory_env: str) -> str:
    return memory_env
