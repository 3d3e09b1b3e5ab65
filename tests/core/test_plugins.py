"""Plugin discovery and failure isolation, through real installed test distributions."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanterna.plugins import PluginHost, get_host, recorded_hook_failures
from lanterna.types import RequestContext

ALL_TEST_PLUGINS = (
    "good",
    "import-error",
    "register-raises",
    "unknown-hook",
    "bad-args",
    "future-api",
    "pro-plan",
    "broken-command",
)


def by_name(host: PluginHost) -> dict:
    return {p.name: p for p in host.plugins}


def test_no_plugins_means_builtins_only():
    host = get_host()
    assert {p.status for p in host.plugins if not p.builtin} <= {"blocked"}
    assert any(p.builtin and "tenant_from_request" in p.hooks for p in host.plugins)
    assert host.failed() == []


def test_good_plugin_is_loaded_with_its_distribution_and_hooks(load_plugins):
    load_plugins("good")
    good = by_name(get_host())["good"]
    assert (good.status, good.distribution, good.version) == ("loaded", "lanterna-testplug-good", "1.2.3")
    assert {"authorize", "check_quota", "record_audit_event", "register_commands"} <= set(good.hooks)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "import-error",
            "import failed: ModuleNotFoundError: No module named 'lanterna_dependency_that_does_not_exist'",
        ),
        ("register-raises", "registration raised RuntimeError: settings not found"),
        ("unknown-hook", "implements unknown hook 'authorise' (did you mean 'authorize'?)"),
        ("bad-args", "hook arguments do not match the spec"),
        ("future-api", "declares plugin API 99, but lanterna 0.1.0 supports plugin API 1"),
    ],
)
def test_each_failure_shape_is_reported_and_the_rest_keep_working(load_plugins, name, expected):
    load_plugins(name, "good")
    host = get_host()
    info = by_name(host)[name]
    assert info.status == "failed"
    assert expected in info.reason
    assert info.distribution == f"lanterna-testplug-{name}" and info.version == "1.2.3"
    assert "\n" not in info.reason
    # the failed plugin left nothing behind, the good one works
    assert all(impl.plugin_name != name for impl in host.implementations("authorize"))
    denials = host.call("authorize", request=RequestContext(tenant="t"), action="forbidden.x", resource="r")
    assert denials == [("good", "'forbidden.x' is forbidden for t by testplug-good")]


def test_every_installed_plugin_at_once(load_plugins, monkeypatch):
    monkeypatch.delenv("LANTERNA_LOAD_PLUGINS")
    host = PluginHost()
    statuses = {p.name: p.status for p in host.plugins if not p.builtin}
    assert {n for n, s in statuses.items() if s == "failed"} >= {
        "import-error",
        "register-raises",
        "unknown-hook",
        "bad-args",
        "future-api",
    }
    assert statuses["good"] == statuses["pro-plan"] == "loaded"


def test_disable_and_load_only_block_by_name(monkeypatch):
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "good,pro-plan")
    monkeypatch.setenv("LANTERNA_DISABLE_PLUGINS", "pro-plan")
    plugins = by_name(PluginHost())
    assert plugins["good"].status == "loaded"
    assert (plugins["pro-plan"].status, plugins["pro-plan"].reason) == (
        "blocked",
        "disabled by LANTERNA_DISABLE_PLUGINS",
    )
    assert (plugins["import-error"].status, plugins["import-error"].reason) == (
        "blocked",
        "not listed in LANTERNA_LOAD_PLUGINS",
    )


def test_selection_accepts_distribution_names_and_warns_about_unknown_names(lanterna_home, monkeypatch, caplog):
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "lanterna-testplug-good,testplug_pro_plan,nosuchplugin")
    plugins = by_name(PluginHost())
    assert plugins["good"].status == plugins["pro-plan"].status == "loaded"
    assert "LANTERNA_LOAD_PLUGINS names 'nosuchplugin', which matches no installed plugin" in caplog.text
    assert "testplug" not in caplog.text

    caplog.clear()
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "good")
    (lanterna_home / "config.toml").write_text('[plugins]\ndisable = ["testplug-good", "gone"]\n')
    plugins = by_name(PluginHost())
    assert (plugins["good"].status, plugins["good"].reason) == ("blocked", "disabled by [plugins] disable")
    assert "[plugins] disable names 'gone'" in caplog.text


def test_empty_load_list_loads_no_third_party_plugin():
    assert all(p.builtin or p.status == "blocked" for p in get_host().plugins)


def test_selection_from_config_file(lanterna_home: Path, monkeypatch):
    monkeypatch.delenv("LANTERNA_LOAD_PLUGINS")
    (lanterna_home / "config.toml").write_text('[plugins]\nload = ["good", "pro-plan"]\ndisable = ["good"]\n')
    plugins = by_name(PluginHost())
    assert plugins["pro-plan"].status == "loaded"
    assert plugins["good"].reason == "disabled by [plugins] disable"
    assert plugins["bad-args"].reason == "not listed in [plugins] load"


def test_environment_overrides_config_file(lanterna_home: Path, monkeypatch):
    (lanterna_home / "config.toml").write_text('[plugins]\nload = ["good"]\n')
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "pro-plan")
    plugins = by_name(PluginHost())
    assert plugins["pro-plan"].status == "loaded"
    assert plugins["good"].status == "blocked"


def test_plugins_are_loaded_once_lazily(load_plugins):
    load_plugins("good")
    assert get_host() is get_host()


def test_builtins_run_last_so_plugins_win(load_plugins):
    from lanterna.types import Identity, RequestContext

    class Tenancy:
        from lanterna import hookimpl

        @hookimpl
        def tenant_from_request(self, request):
            return Identity("acme", "ann")

    host = get_host()
    host.register(Tenancy(), "acme-tenancy")
    order = [impl.plugin_name for impl in host.implementations("tenant_from_request")]
    assert order == ["acme-tenancy", "local_tenancy"]
    assert host.call("tenant_from_request", request=RequestContext()).tenant == "acme"


def test_hook_failure_in_isolated_call_is_counted_and_persisted(load_plugins):
    load_plugins("broken-command", "good")
    host = get_host()
    results = host.call("register_commands", isolate=True, cli=_FakeCli())
    assert results == []  # good's register_commands returns None; broken's raised
    assert host.hook_failures[("register_commands", "broken-command")] == 1
    assert recorded_hook_failures()[("register_commands", "broken-command")] == 1


class _FakeCli:
    """Collects command registrations (the real typer app is exercised in test_cli)."""

    def command(self, name):
        return lambda fn: fn


def test_trace_prints_hook_calls_to_stderr(load_plugins, monkeypatch, capsys):
    monkeypatch.setenv("LANTERNA_TRACE_HOOKS", "1")
    load_plugins("good")
    get_host().call("authorize", request=None, action="a", resource="r")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "lanterna trace: authorize [good]" in captured.err and "µs" in captured.err


def test_entry_point_cache_sees_a_plugin_installed_after_it_was_written(tmp_path, monkeypatch, lanterna_home):
    from lanterna.plugins import discover_entry_points

    before = {ep.name for ep in discover_entry_points()}
    assert (lanterna_home / "state" / "entry-points.json").exists()
    assert {ep.name for ep in discover_entry_points()} == before  # served from the cache
    # "install" a distribution into a new sys.path entry, as pip --target would
    site = tmp_path / "site"
    dist_info = site / "lanterna_late-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lanterna-late\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[lanterna]\nlate = testplug_late\n")
    (site / "testplug_late.py").write_text("from lanterna import hookimpl\n\n@hookimpl\ndef shutdown():\n    pass\n")
    monkeypatch.syspath_prepend(str(site))
    late = {ep.name: ep for ep in discover_entry_points()}
    assert set(late) == before | {"late"}
    assert (late["late"].distribution, late["late"].version) == ("lanterna-late", "0.1")
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "late")
    assert by_name(PluginHost())["late"].hooks == ["shutdown"]


def test_a_corrupt_entry_point_cache_is_ignored(lanterna_home):
    from lanterna.plugins import discover_entry_points

    expected = discover_entry_points()
    (lanterna_home / "state" / "entry-points.json").write_text("{not json")
    assert discover_entry_points() == expected
