"""Run in the core-only session (LANTERNA_CORE_ONLY=1): the core wheel installed alone."""

from __future__ import annotations

import os
import sys
from importlib.metadata import distributions

import pytest

from lanterna.plugins import PluginHost

pytestmark = pytest.mark.skipif(os.environ.get("LANTERNA_CORE_ONLY") != "1", reason="core-only session only")


def test_no_repository_plugin_is_installed_or_imported(monkeypatch):
    monkeypatch.delenv("LANTERNA_LOAD_PLUGINS")
    PluginHost()  # discover and load everything installed
    names = {d.metadata["Name"].lower() for d in distributions()}
    assert not names & {"lanterna-cloud-stubs", "lanterna-github-pat", "lanterna-gitlab-pat"}
    assert [m for m in sys.modules if m.startswith("lanterna_")] == []


def test_the_core_is_the_installed_wheel_not_the_source_tree():
    import lanterna

    assert "site-packages" in lanterna.__file__
