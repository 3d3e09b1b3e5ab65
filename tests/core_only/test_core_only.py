"""The core wheel installed alone (nox session core_only, the only one that runs this folder)."""

from __future__ import annotations

import sys
from importlib.metadata import distributions

from lanterna.plugins import PluginHost


def test_no_repository_plugin_is_installed_or_imported(monkeypatch):
    monkeypatch.delenv("LANTERNA_LOAD_PLUGINS")
    PluginHost()  # discover and load everything installed
    names = {d.metadata["Name"].lower() for d in distributions()}
    assert not names & {"lanterna-cloud-stubs", "lanterna-github-pat", "lanterna-gitlab-pat"}
    assert [m for m in sys.modules if m.startswith("lanterna_")] == []


def test_the_core_is_the_installed_wheel_not_the_source_tree():
    import lanterna

    assert "site-packages" in lanterna.__file__
