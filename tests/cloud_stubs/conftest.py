"""Fixtures for cloud-stubs: a configured Lanterna home with the plugin loaded by entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_harness import Cloud, DevKey
from lanterna_cloud_stubs import devsign


@pytest.fixture(scope="session")
def dev_key(tmp_path_factory: pytest.TempPathFactory) -> DevKey:
    directory = tmp_path_factory.mktemp("dev-keys")
    path, public = devsign.generate_keypair(directory, "dev-test-1")
    return DevKey(path, "dev-test-1", public)


@pytest.fixture
def cloud(lanterna_home: Path, dev_key: DevKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "cloud")
    c = Cloud(lanterna_home, dev_key)
    c.reload()
    yield c
    plugin = c.host.pm.get_plugin("cloud")
    if plugin is not None:
        plugin.shutdown()
