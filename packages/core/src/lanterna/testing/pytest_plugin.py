"""Pytest fixtures for Lanterna plugins, loaded automatically wherever ``lanterna`` is installed.

Name the plugins under test (their entry-point names) in your pytest configuration::

    [tool.pytest.ini_options]
    lanterna_plugins = ["acme"]

or override the ``lanterna_plugins`` fixture (it may also return plugin objects). Then:

- ``lanterna_tmp_home``: a fresh ``LANTERNA_HOME`` (config, data, state) and no LANTERNA_* setting
  from the environment.
- ``lanterna_config``: the configuration the host gets, as parsed TOML; override it to
  configure your plugin (``{"acme": {"daily_quota": 3}}``).
- ``lanterna_host_factory``: ``make(config=None)`` builds a fresh host; ``lanterna_host``: one host
  with the core's built-ins, only the plugins under test, and (unless they resolve tenants
  themselves) a test tenancy that takes the tenant from the request.
- ``lanterna_tenancy``: that tenancy; ``with lanterna_tenancy.as_tenant("acme-b"):`` makes
  header-less requests (MCP calls in-process) run as ``acme-b``.
- ``lanterna_request``: a request resolved as tenant ``test-tenant``, user ``test-user``.
- ``lanterna_mcp``: an in-process MCP client session with a server built from ``lanterna_host``.
- ``lanterna_cli``: runs ``lanterna`` commands in-process against ``lanterna_host``.

This module imports only pytest and the standard library when pytest loads it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from lanterna.plugins import PluginHost
    from lanterna.testing.harness import CliRunner, McpSession, RequestTenancy
    from lanterna.types import RequestContext


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("lanterna_plugins", "entry-point names of the Lanterna plugins under test", type="args", default=[])


@pytest.fixture
def lanterna_tmp_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh LANTERNA_HOME; every LANTERNA_* variable of the environment is removed."""
    from lanterna.plugins import reset_host

    home = tmp_path_factory.mktemp("lanterna-home")
    for name in [n for n in os.environ if n.startswith("LANTERNA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LANTERNA_HOME", str(home))
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "")
    reset_host()
    yield home
    reset_host()


@pytest.fixture
def lanterna_plugins(request: pytest.FixtureRequest) -> list[Any]:
    """The plugins under test: the ``lanterna_plugins`` ini option; override to change it."""
    return list(request.config.getini("lanterna_plugins"))


@pytest.fixture
def lanterna_config() -> dict[str, Any]:
    """The configuration of the test host, as parsed TOML; override it to configure your plugin."""
    return {}


@pytest.fixture
def lanterna_tenancy() -> RequestTenancy:
    from lanterna.testing.harness import RequestTenancy

    return RequestTenancy()


@pytest.fixture
def lanterna_host_factory(
    lanterna_tmp_home: Path,
    lanterna_plugins: list[Any],
    lanterna_config: dict[str, Any],
    lanterna_tenancy: RequestTenancy,
) -> Callable[..., PluginHost]:
    """``make(config=None)``: a fresh host with the plugins under test (``lanterna_config`` by default)."""
    from lanterna.testing.harness import make_test_host

    if not lanterna_plugins:
        pytest.fail(
            'no plugin under test: set `lanterna_plugins = ["NAME"]` under [tool.pytest.ini_options]'
            " or override the lanterna_plugins fixture",
            pytrace=False,
        )

    def make(config: dict[str, Any] | None = None) -> PluginHost:
        return make_test_host(lanterna_plugins, lanterna_config if config is None else config, lanterna_tenancy)

    return make


@pytest.fixture
def lanterna_host(lanterna_host_factory: Callable[..., PluginHost]) -> Iterator[PluginHost]:
    """The host every other fixture uses; ``get_host()`` returns it while the test runs."""
    from lanterna import plugins

    host = lanterna_host_factory()
    saved, plugins._host = plugins._host, host
    yield host
    plugins._host = saved


@pytest.fixture
def lanterna_request() -> RequestContext:
    from lanterna.testing.harness import request_for

    return request_for()


@pytest.fixture
def lanterna_mcp(lanterna_host: PluginHost) -> Iterator[McpSession]:
    from lanterna.testing.harness import McpSession

    with McpSession(lanterna_host) as session:
        yield session


@pytest.fixture
def lanterna_cli(lanterna_host: PluginHost) -> CliRunner:
    from lanterna.testing.harness import CliRunner

    return CliRunner(lanterna_host)
