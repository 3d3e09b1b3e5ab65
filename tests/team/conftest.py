"""A real PostgreSQL server for the team tests, and cloud-stubs homes that share it.

The nox session ``team`` starts one server and passes its URL in ``LANTERNA_TEST_PG_URL``;
a plain ``pytest tests/team`` starts its own for the test session and stops it at the end.
Each test gets a fresh database on that server.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.team.pgserver import PostgresServer

if importlib.util.find_spec("lanterna_cloud_stubs") is None:
    collect_ignore_glob = ["test_cloud_*.py"]

_numbers = itertools.count(1)


class ExternalServer:
    def __init__(self, url: str) -> None:
        self.url = url

    def create_database(self, name: str) -> str:
        return PostgresServer.create_database(self, name)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    url = os.environ.get("LANTERNA_TEST_PG_URL")
    if url:
        yield ExternalServer(url)
        return
    # Not under pytest's temp dir: that is private to root, and the server may run as another user.
    root = Path(tempfile.mkdtemp(prefix="lanterna-pg-"))
    server = PostgresServer(root).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A fresh, empty database (with pgvector) for one test."""
    return str(pg_server.create_database(f"t{os.getpid()}_{next(_numbers)}"))


@pytest.fixture(scope="session")
def dev_key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from lanterna_cloud_stubs import devsign
    from tests.cloud_stubs.cloud_harness import DevKey

    directory = tmp_path_factory.mktemp("dev-keys")
    path, public = devsign.generate_keypair(directory, "dev-test-1")
    return DevKey(path, "dev-test-1", public)


@pytest.fixture
def cloud(lanterna_home: Path, dev_key: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """cloud-stubs loaded by entry point, keeping its state in a fresh PostgreSQL database."""
    from tests.cloud_stubs.cloud_harness import Cloud

    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "cloud")
    c = Cloud(lanterna_home, dev_key, cloud={"db_connect_str": pg_url})
    c.reload()
    yield c
    plugin = c.host.pm.get_plugin("cloud")
    if plugin is not None:
        plugin.shutdown()
