"""Fixtures shared by every test: an isolated LANTERNA_HOME and a fresh plugin host."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanterna.plugins import reset_host
from tests.helpers import ISOLATED_ENV

# `lanterna` subprocesses of the tests run memory commands themselves: a memory daemon started
# by one test would outlive it. tests/memory/test_daemon.py turns it back on where it is tested.
os.environ["LANTERNA_NO_DAEMON"] = "1"


@pytest.fixture(scope="session")
def pxt_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One Pixeltable home for the whole test process.

    Pixeltable allows one home per process and takes seconds to start one, so every test
    that reaches long-term memory (memory tests, but also server tests that call every
    tool) shares this home; tests keep apart by tenant. Its Postgres is stopped at the end.
    """
    home = tmp_path_factory.mktemp("pixeltable-home")
    yield home
    import sys

    if "lanterna.memory.store" in sys.modules:
        from lanterna.memory.runtime import postgres_pid
        from lanterna.memory.store import close_store

        close_store()
        assert postgres_pid(home) is None, "the embedded Postgres of the test session is still running"


@pytest.fixture(autouse=True)
def lanterna_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, pxt_home: Path
) -> Iterator[Path]:
    """Every test gets its own LANTERNA_HOME and, unless it asks, no third-party plugin.

    The test plugins under tests/plugins are installed in the test environment (some of
    them deliberately broken); a test picks the ones it wants with LANTERNA_LOAD_PLUGINS.
    """
    home = tmp_path_factory.mktemp("lanterna-home")
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANTERNA_HOME", str(home))
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "")
    monkeypatch.setenv("LANTERNA_PIXELTABLE_HOME", str(pxt_home))
    monkeypatch.setenv("LANTERNA_EMBEDDER", "hash-384")  # fast and deterministic; test_real_model uses MiniLM
    reset_host()
    yield home
    reset_host()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the MCP SDK's own backend)."""
    return "asyncio"


@pytest.fixture
def load_plugins(monkeypatch: pytest.MonkeyPatch):
    """``load_plugins("a", "b")`` loads exactly those installed plugins (and the built-ins)."""

    def load(*names: str) -> None:
        monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", ",".join(names))
        reset_host()

    return load


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In the core-only session, prove that no plugin package of ours was ever imported."""
    if os.environ.get("LANTERNA_CORE_ONLY") != "1":
        return
    import sys

    leaked = sorted(m for m in sys.modules if m.startswith("lanterna_"))
    if leaked:
        print(f"\ncore-only run imported plugin modules: {leaked}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
