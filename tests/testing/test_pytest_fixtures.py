"""The pytest plugin's fixtures: a host with only the plugins under test, a tenancy that reads the
request, an in-process MCP session and CLI runner; plain words when a harness resolves the wrong tenant."""

from __future__ import annotations

import pytest

from lanterna.plugins import PluginHost
from lanterna.testing import HostHarness, MeteringSuite, make_test_host, request_for, run_suite
from lanterna.testing.base import run_op
from lanterna.testing.harness import HarnessError
from tests.testing.test_suites_catch_wrong_implementations import CountEverything


@pytest.fixture
def lanterna_plugins() -> list[str]:
    return ["good", "mcp_tools"]


def test_the_host_holds_only_the_plugins_under_test(lanterna_host: PluginHost) -> None:
    loaded = {p.name for p in lanterna_host.plugins if p.status == "loaded" and not p.builtin}
    assert loaded == {"good", "mcp_tools", "lanterna-test-tenancy"}
    blocked = {p.name for p in lanterna_host.plugins if p.status == "blocked"}
    assert {"guard_probe", "import-error"} <= blocked


def test_the_test_tenancy_takes_the_tenant_from_the_request(lanterna_host: PluginHost, lanterna_request) -> None:
    assert run_op(lanterna_host, lanterna_request).tenant == "test-tenant"
    resolved = run_op(lanterna_host, request_for("acme-a", roles=["admin"]))
    assert (resolved.tenant, resolved.user, resolved.roles) == ("acme-a", "acme-a-user", ("admin",))


def test_the_mcp_session_runs_tools_as_the_tenant_of_the_request(lanterna_mcp, lanterna_tenancy) -> None:
    assert {"probe_whoami", "session_branch"} <= {t.name for t in lanterna_mcp.list_tools()}
    assert lanterna_mcp.call_tool("probe_whoami").data["tenant"] == "test-tenant"
    with lanterna_tenancy.as_tenant("acme-b"):
        assert lanterna_mcp.call_tool("probe_whoami").data["tenant"] == "acme-b"
    failed = lanterna_mcp.call_tool("probe_boom", {"text": "x"})
    assert failed.is_error and "tool 'probe_boom' from plugin 'mcp_tools' failed (RuntimeError)" in failed.text


def test_the_cli_runner_has_the_plugin_commands(lanterna_cli) -> None:
    greeted = lanterna_cli.invoke("greet", "--name", "Ada")
    assert greeted.exit_code == 0, greeted.stderr
    assert greeted.stdout.strip() == "hello Ada from testplug-good"
    listed = lanterna_cli.invoke("plugins")
    assert "good" in listed.stdout and "loaded" in listed.stdout
    typo = lanterna_cli.invoke("nope")
    assert typo.exit_code != 0


def test_a_missing_or_broken_plugin_under_test_is_named(lanterna_tmp_home) -> None:
    with pytest.raises(HarnessError, match=r"no installed plugin named 'acme'.*lanterna install -e PATH"):
        make_test_host(["acme"])
    with pytest.raises(HarnessError, match=r"plugin 'import-error' .* did not load: import failed"):
        make_test_host(["import-error"])


def test_a_harness_that_resolves_the_wrong_tenant_is_blamed_plainly(lanterna_tmp_home) -> None:
    """A metering plugin on a host without tenancy: every request runs as 'local'."""
    results = run_suite(MeteringSuite, lambda: HostHarness(lambda daily_quota: make_test_host([CountEverything()])))
    concurrent = next(r for r in results if r.name == "test_concurrent_operations_are_each_counted")
    assert concurrent.outcome == "passed"  # the test tenancy resolves each request as the tenant it names

    def no_tenancy_host(daily_quota: int) -> PluginHost:
        host = PluginHost()
        host.register(CountEverything(), "counter")
        return host

    results = run_suite(MeteringSuite, lambda: HostHarness(no_tenancy_host))
    messages = {r.name: r.message for r in results}
    assert (
        "the harness resolved tenant 'local', expected 'conformance-a'"
        in messages["test_concurrent_operations_are_each_counted"]
    )
    assert (
        "add a tenancy plugin to the host or use the lanterna_host fixture"
        in messages["test_quota_denies_once_reached"]
    )


def test_loading_the_pytest_plugin_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    heavy = "{'mcp', 'pixeltable', 'httpx', 'httpx2', 'typer', 'numpy', 'onnxruntime', 'pydantic'}"
    code = (
        f"import lanterna.testing.pytest_plugin, sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
