"""Fixtures for cloud-stubs: a configured Lanterna home with the plugin loaded by entry point.

Where lanterna-cloud-stubs is not installed (the core-only session), nothing here is collected.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("lanterna_cloud_stubs") is None:
    collect_ignore_glob = ["*.py"]


@pytest.fixture(scope="session")
def dev_key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from cloud_harness import DevKey

    from lanterna_cloud_stubs import devsign

    directory = tmp_path_factory.mktemp("dev-keys")
    path, public = devsign.generate_keypair(directory, "dev-test-1")
    return DevKey(path, "dev-test-1", public)


@pytest.fixture
def cloud(lanterna_home: Path, dev_key: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from cloud_harness import Cloud

    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "cloud")
    c = Cloud(lanterna_home, dev_key)
    c.reload()
    yield c
    plugin = c.host.pm.get_plugin("cloud")
    if plugin is not None:
        plugin.shutdown()
