"""The `lanterna` CLI, run as users run it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

LANTERNA = shutil.which("lanterna") or str(Path(sys.executable).parent / "lanterna")


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LANTERNA, *args], capture_output=True, text=True, env=subprocess_env(home, **env), timeout=60
    )


def test_plugins_json_reports_every_failure_shape(lanterna_home):
    result = run(lanterna_home, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    failed = {n for n, p in plugins.items() if p["status"] == "failed"}
    assert {"import-error", "register-raises", "unknown-hook", "bad-args", "future-api"} <= failed
    assert plugins["good"]["status"] == "loaded"
    assert plugins["good"]["distribution"] == "lanterna-testplug-good"
    assert "record_audit_event" in plugins["good"]["hooks"]


def test_plugins_table_and_blocked_status(lanterna_home):
    result = run(lanterna_home, "plugins", LANTERNA_DISABLE_PLUGINS="good", COLUMNS="250")
    assert result.returncode == 0
    assert "blocked" in result.stdout and "lanterna-testplug-good" in result.stdout


def test_all_flag_includes_builtins(lanterna_home):
    listed = json.loads(run(lanterna_home, "plugins", "--json", LANTERNA_LOAD_PLUGINS="").stdout)
    assert not any(p["builtin"] for p in listed)
    everything = json.loads(run(lanterna_home, "plugins", "--all", "--json", LANTERNA_LOAD_PLUGINS="").stdout)
    assert any(p["builtin"] and p["name"] == "local_tenancy" for p in everything)


def test_broken_plugins_do_not_break_other_commands(lanterna_home):
    result = run(lanterna_home, "hooks")
    assert result.returncode == 0
    assert "plugin(s) failed (" in result.stderr and "`lanterna plugins` shows why" in result.stderr


def test_strict_turns_plugin_failures_into_an_exit_code(lanterna_home):
    assert run(lanterna_home, "--strict", "hooks").returncode == 3
    assert run(lanterna_home, "hooks", LANTERNA_STRICT_PLUGINS="1").returncode == 3
    clean = run(lanterna_home, "--strict", "hooks", LANTERNA_LOAD_PLUGINS="good")
    assert clean.returncode == 0, clean.stderr


def test_hooks_json_lists_every_spec_with_implementers_in_call_order(lanterna_home):
    result = run(lanterna_home, "hooks", "--json", LANTERNA_LOAD_PLUGINS="good,pro-plan")
    hooks = {h["name"]: h for h in json.loads(result.stdout)}
    from lanterna.hookspecs import FAMILIES

    assert set(hooks) == set(FAMILIES)
    assert [i["plugin"] for i in hooks["tenant_from_request"]["implementers"]] == ["local_tenancy"]
    assert hooks["tenant_from_request"]["implementers"][0]["trylast"] is True
    assert [i["plugin"] for i in hooks["authorize"]["implementers"]] == ["good"]
    assert hooks["active_plan"]["firstresult"] is True and hooks["active_plan"]["family"] == "entitlements"
    assert hooks["usage_summary"]["implementers"] == []  # unimplemented hooks are listed too


def test_hooks_one_name_and_unknown_name(lanterna_home):
    one = run(lanterna_home, "hooks", "authorize", LANTERNA_LOAD_PLUGINS="good")
    assert one.returncode == 0 and "Return a reason string to deny" in one.stdout and "good" in one.stdout
    missing = run(lanterna_home, "hooks", "authorise", LANTERNA_LOAD_PLUGINS="")
    assert (
        missing.returncode == 2 and missing.stderr.count("\n") == 1 and "`lanterna hooks` lists them" in missing.stderr
    )


def test_status_oss_with_no_plugins(lanterna_home):
    status = json.loads(
        run(lanterna_home, "status", "--json", LANTERNA_LOAD_PLUGINS="", LANTERNA_PIXELTABLE_HOME="").stdout
    )
    assert status["mode"] == "oss"
    assert status["paths"] == {
        "config": str(lanterna_home / "config.toml"),
        "config_exists": False,
        "data": str(lanterna_home / "data"),
        "state": str(lanterna_home / "state"),
        "memory": str(lanterna_home / "data" / "pixeltable"),
    }
    moved = run(lanterna_home, "status", "--json", LANTERNA_LOAD_PLUGINS="", LANTERNA_PIXELTABLE_HOME="/srv/memory")
    assert json.loads(moved.stdout)["paths"]["memory"] == "/srv/memory"
    external = run(
        lanterna_home,
        "status",
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_DB_CONNECT_STR="postgresql://lanterna:hunter2pass@db.internal/lanterna",
    )
    assert "long-term memory: external PostgreSQL" in external.stdout and "hunter2pass" not in external.stdout
    assert status["quota_today"] is None  # no plan limit, no metering plugin
    text = run(lanterna_home, "status", LANTERNA_LOAD_PLUGINS="").stdout
    assert f"config file: {lanterna_home / 'config.toml'} (not created; defaults in use)" in text
    assert f"data: {lanterna_home / 'data'}" in text
    assert status["entitlements"]["tier"] == "free"
    assert status["plugin_failures"] == [] and status["hook_failures"] == []


def test_status_cloud_with_paid_families_and_failures(lanterna_home):
    run(lanterna_home, "plugins", LANTERNA_LOAD_PLUGINS="broken-command")  # its register_commands fails
    status = json.loads(run(lanterna_home, "status", "--json", LANTERNA_LOAD_PLUGINS="good,pro-plan,bad-args").stdout)
    assert status["mode"] == "cloud"
    assert status["active_families"]["entitlements"] == ["pro-plan"]
    assert status["entitlements"]["tier"] == "pro" and status["entitlements"]["features"] == ["insights"]
    assert [f["name"] for f in status["plugin_failures"]] == ["bad-args"]
    assert {"hook": "register_commands", "plugin": "broken-command", "count": 1} in status["hook_failures"]
    text = run(lanterna_home, "status", LANTERNA_LOAD_PLUGINS="good,pro-plan").stdout
    assert "mode: cloud" in text and "plan: pro (valid" in text


def test_version_lists_core_and_plugins(lanterna_home):
    result = run(lanterna_home, "--version", LANTERNA_LOAD_PLUGINS="good")
    assert result.stdout.startswith("lanterna 0.1.0\n")
    assert "good: lanterna-testplug-good 1.2.3 (loaded)" in result.stdout


def test_plugin_commands_are_added_and_a_broken_one_is_isolated(lanterna_home):
    result = run(lanterna_home, "greet", "--name", "ada", LANTERNA_LOAD_PLUGINS="good,broken-command")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello ada from testplug-good\n"
    assert "plugin 'broken-command' failed in register_commands: ValueError" in result.stderr


def test_a_plugin_whose_register_commands_raises_is_degraded_and_fails_strict(lanterna_home):
    listed = run(lanterna_home, "plugins", "--json", LANTERNA_LOAD_PLUGINS="broken-command")
    info = next(p for p in json.loads(listed.stdout) if p["name"] == "broken-command")
    assert info["status"] == "degraded"
    assert info["reason"] == "register_commands raised ValueError: cannot add command: config missing"
    strict = run(lanterna_home, "--strict", "hooks", LANTERNA_LOAD_PLUGINS="broken-command")
    assert strict.returncode == 3
    assert "1 plugin(s) failed and strict mode is on" in strict.stderr


def test_tools_refused_or_raising_at_registration_count_as_plugin_failures(lanterna_home):
    listed = json.loads(run(lanterna_home, "plugins", "--json", LANTERNA_LOAD_PLUGINS="mcp_tools,mcp_broken").stdout)
    status = {p["name"]: p for p in listed}
    assert status["mcp_broken"]["status"] == "degraded"
    assert "register_mcp_tools raised RuntimeError" in status["mcp_broken"]["reason"]
    assert status["mcp_tools"]["status"] == "degraded"
    assert "tool refused: tool 'probe_not_a_tool' takes 'tenant'" in status["mcp_tools"]["reason"]
    strict = run(lanterna_home, "--strict", "status", LANTERNA_LOAD_PLUGINS="mcp_broken")
    assert strict.returncode == 3 and "register_mcp_tools raised RuntimeError" in strict.stderr


def test_failure_reasons_are_never_cut_and_verbose_shows_the_traceback(lanterna_home):
    result = run(lanterna_home, "plugins", LANTERNA_LOAD_PLUGINS="import-error", COLUMNS="60")
    reason = "import failed: ModuleNotFoundError: No module named 'lanterna_dependency_that_does_not_exist'"
    assert f"import-error (failed): {reason}" in result.stdout
    assert "Traceback" not in result.stdout
    verbose = run(lanterna_home, "plugins", "--verbose", LANTERNA_LOAD_PLUGINS="import-error")
    assert "Traceback (most recent call last)" in verbose.stdout
    assert "import lanterna_dependency_that_does_not_exist" in verbose.stdout
    traced = run(lanterna_home, "hooks", LANTERNA_LOAD_PLUGINS="import-error", LANTERNA_TRACE_HOOKS="1")
    assert "lanterna trace: plugin 'import-error' not loaded:\nTraceback" in traced.stderr


def test_a_lanterna_distribution_without_entry_point_gets_a_hint(lanterna_home, tmp_path):
    site = tmp_path / "site"
    dist_info = site / "lanterna_forgotten-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lanterna-forgotten\nVersion: 0.1\n")
    result = run(lanterna_home, "plugins", PYTHONPATH=str(site))
    assert "hint: lanterna-forgotten is installed but declares no `lanterna` entry point" in result.stderr
    assert "lanterna-testplug-good" not in result.stderr  # it has one


def test_trace_shows_tool_registration(lanterna_home):
    result = run(lanterna_home, "tools", "--json", LANTERNA_LOAD_PLUGINS="mcp_tools", LANTERNA_TRACE_HOOKS="1")
    assert "lanterna trace: register_mcp_tools [mcp_tools, " in result.stderr


def test_trace_goes_to_stderr(lanterna_home):
    result = run(lanterna_home, "plugins", "--json", LANTERNA_LOAD_PLUGINS="good", LANTERNA_TRACE_HOOKS="1")
    assert "lanterna trace: register_commands [good, memory]" in result.stderr
    json.loads(result.stdout)  # stdout stays clean


def test_corrupt_config_file_is_a_one_line_error(lanterna_home):
    (lanterna_home / "config.toml").write_text("[plugins\nload = 1")
    result = run(lanterna_home, "status")
    assert result.returncode == 2
    assert result.stderr.startswith("lanterna: config file ") and "is not valid TOML" in result.stderr
    assert result.stderr.count("\n") == 1


def test_uninstall_refuses_the_core(lanterna_home):
    result = run(lanterna_home, "uninstall", "lanterna", "-y")
    assert result.returncode == 2 and "refusing to uninstall the core" in result.stderr


@pytest.mark.parametrize("command", [["plugins"], ["hooks"], ["status"], ["--help"], ["--version"]])
def test_listing_commands_import_no_heavy_library(lanterna_home, command):
    probe = (
        "import sys; from lanterna.cli import main; sys.argv = ['lanterna', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pixeltable', 'mcp', 'httpx', 'httpx2', 'torch',"
        " 'onnxruntime', 'sqlalchemy', 'tree_sitter'})\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *command],
        capture_output=True,
        text=True,
        env=subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="good,pro-plan"),
        timeout=60,
    )
    assert "HEAVY=\n" in result.stderr, result.stderr


@pytest.mark.parametrize("command", [["hooks"], ["status"], ["tools"], ["--version"]])
def test_core_commands_import_no_plugin_command_module(lanterna_home, command):
    probe = (
        "import sys; from lanterna.cli import main; sys.argv = ['lanterna', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.endswith('.commands'))), file=sys.stderr)"
    )
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="cloud,good")
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, env=env, timeout=60
    )
    assert "LOADED=\n" in result.stderr, result.stderr
    # a plugin's command still runs, and --help still lists every command
    assert (
        run(lanterna_home, "greet", "--name", "ada", LANTERNA_LOAD_PLUGINS="good").stdout
        == "hello ada from testplug-good\n"
    )


def test_help_lists_every_command_and_a_typo_gets_a_suggestion(lanterna_home):
    help_text = run(lanterna_home, "--help", LANTERNA_LOAD_PLUGINS="good", COLUMNS="200").stdout
    for command in ("plugins", "hooks", "status", "serve", "ingest", "search", "greet"):
        assert f" {command} " in help_text
    typo = run(lanterna_home, "hookz", LANTERNA_LOAD_PLUGINS="")
    assert typo.returncode == 2 and "Did you mean 'hooks'?" in typo.stderr


def test_keeping_only_the_invoked_command_still_works_on_this_typer():
    import typer
    from typer.testing import CliRunner

    from lanterna.cli import keep_only_command

    def build() -> typer.Typer:
        app = typer.Typer()
        app.callback()(lambda: None)  # a group, as the lanterna app is
        app.command("named")(lambda: print("named"))

        def show_status() -> None:
            print("status")

        app.command()(show_status)  # unnamed: typer names it after its function
        group = typer.Typer()
        group.command("leaf")(lambda: print("leaf"))
        app.add_typer(group, name="group")
        return app

    for name, args, expected in [
        ("named", ["named"], "named"),
        ("show-status", ["show-status"], "status"),
        ("group", ["group", "leaf"], "leaf"),
    ]:
        app = build()
        assert keep_only_command(app, name)
        command = typer.main.get_command(app)
        assert isinstance(command, typer.core.TyperGroup) and list(command.commands) == [name]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0 and result.output == f"{expected}\n"
    assert not keep_only_command(build(), "missing")


def test_status_shows_the_usage_a_metering_plugin_summarizes():
    from lanterna import hookimpl
    from lanterna.cli import _status
    from lanterna.plugins import get_host
    from lanterna.types import UsageSummary

    class Metering:
        @hookimpl
        def usage_summary(self, tenant, since, until):
            assert until - since == 86400
            return UsageSummary(tenant, since, until, total=7, by_action={"memory.search": 7})

    host = get_host()
    assert _status(host)["usage_24h"] is None  # no metering plugin: nothing to show
    host.register(Metering(), "metering")
    assert _status(host)["usage_24h"] == {"tenant": "local", "total": 7, "by_action": {"memory.search": 7}}


def test_tables_print_every_value_in_full_when_piped(lanterna_home):
    # stdout is a pipe here: however narrow the terminal claims to be, nothing is cut
    result = run(lanterna_home, "hooks", LANTERNA_LOAD_PLUGINS="good", COLUMNS="40")
    assert result.returncode == 0
    assert "implementers (call order)" in result.stdout and "…" not in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.split()[1:2] == ["record_audit_event"])
    assert line.rstrip().endswith("good")
