"""A test host for plugin authors: only the plugins under test, a tenancy that reads the request.

The pytest plugin (``lanterna.testing.pytest_plugin``) builds its fixtures from these parts;
they work without pytest too::

    host = make_test_host(["acme"])                    # installed entry points, by name
    request = request_for("acme-a")                     # resolved as tenant acme-a
    with McpSession(host) as mcp:                       # an in-process MCP client
        print(mcp.call_tool("acme_hello", {"name": "Ada"}).text)

MCP and typer are imported only when a session or a CLI runner is made.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lanterna import hookimpl
from lanterna.config import Config
from lanterna.plugins import PluginHost
from lanterna.types import Identity, RequestContext, Transport

if TYPE_CHECKING:
    from mcp.types import CallToolResult, Tool

TEST_TENANT = "test-tenant"
TEST_USER = "test-user"
#: The name the request tenancy is registered under in a test host.
REQUEST_TENANCY = "lanterna-test-tenancy"


class HarnessError(AssertionError):
    """The test host cannot be built as asked (a plugin under test is missing or broken)."""


class RequestTenancy:
    """Resolves the tenant from the request: the ``x-tenant-id``, ``x-user-id`` and
    ``x-roles`` headers, else ``tenant``/``user``/``roles`` (which a test may change, e.g.
    for in-process MCP calls, which carry no headers). For tests only: it trusts the caller."""

    def __init__(self, tenant: str = TEST_TENANT, user: str = TEST_USER, roles: Sequence[str] = ("member",)) -> None:
        self.tenant, self.user, self.roles = tenant, user, tuple(roles)

    @hookimpl
    def tenant_from_request(self, request: RequestContext) -> Identity:
        headers = request.headers
        roles = headers.get("x-roles")
        return Identity(
            tenant=headers.get("x-tenant-id") or self.tenant,
            user=headers.get("x-user-id") or self.user,
            roles=tuple(r.strip() for r in roles.split(",") if r.strip()) if roles is not None else self.roles,
        )

    @contextlib.contextmanager
    def as_tenant(self, tenant: str, user: str | None = None) -> Iterator[None]:
        """Requests without headers resolve as ``tenant`` (and ``user``) inside the block."""
        saved = self.tenant, self.user
        self.tenant, self.user = tenant, user or self.user
        try:
            yield
        finally:
            self.tenant, self.user = saved


def request_for(
    tenant: str = TEST_TENANT, user: str | None = None, roles: Sequence[str] | None = None
) -> RequestContext:
    """A request that the request tenancy resolves as ``tenant``."""
    headers = {"x-tenant-id": tenant, "x-user-id": user or f"{tenant}-user"}
    if roles is not None:
        headers["x-roles"] = ",".join(roles)
    return RequestContext(transport="test", headers=headers)


def make_test_host(
    plugins: Sequence[str | object] = (),
    config: Mapping[str, Any] | None = None,
    tenancy: RequestTenancy | None = None,
) -> PluginHost:
    """A host with the core's built-ins and only ``plugins``, each of which must load.

    A string is the name of an installed entry point (loaded as users load it); anything
    else is a plugin object registered as is. ``config`` is the configuration as parsed
    TOML (``{"acme": {"daily_quota": 3}}`` is the ``[acme]`` section). Unless a plugin
    under test resolves tenants itself, ``tenancy`` (a fresh ``RequestTenancy`` by default)
    is added, so each request runs as the tenant it names.

    Entry points are selected through ``LANTERNA_LOAD_PLUGINS``, which this sets.
    """
    names = [p for p in plugins if isinstance(p, str)]
    os.environ["LANTERNA_LOAD_PLUGINS"] = ",".join(names)
    os.environ.pop("LANTERNA_DISABLE_PLUGINS", None)
    host = PluginHost(Config(path=None, data=dict(config or {})))
    under_test = set(names)
    for plugin in plugins:
        if not isinstance(plugin, str):
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            host.register(plugin, name)
            under_test.add(name)
    infos = {p.name: p for p in host.plugins}
    for name in sorted(under_test):
        info = infos.get(name)
        if info is None:
            raise HarnessError(
                f"no installed plugin named '{name}' in the 'lanterna' entry-point group;"
                " install your project (`lanterna install -e PATH`) or fix the name in lanterna_plugins"
            )
        if info.status != "loaded":
            raise HarnessError(f"plugin '{name}' ({info.distribution} {info.version}) did not load: {info.reason}")
    resolves_tenants = any(impl.plugin_name in under_test for impl in host.implementations("tenant_from_request"))
    if not resolves_tenants:
        host.register(tenancy or RequestTenancy(), REQUEST_TENANCY)
    # (ignored for mypy) the test host carries the names of the plugins under test for the suites
    host.plugins_under_test = sorted(under_test)  # type: ignore[attr-defined]
    return host


def request_tenancy(host: PluginHost) -> RequestTenancy | None:
    """The host's request tenancy, if it has one."""
    plugin = host.pm.get_plugin(REQUEST_TENANCY)
    return plugin if isinstance(plugin, RequestTenancy) else None


class HostHarness:
    """A conformance-suite harness over a host factory (``lanterna_host_factory``).

    ``host(*args)`` passes its arguments to ``make_host`` (so a metering harness can turn
    ``daily_quota`` into its plugin's config); ``request_for(tenant)`` makes a request the
    request tenancy resolves as that tenant. Subclass it to add what a suite asks for
    (``events()`` and ``raw()`` for audit, for instance).
    """

    def __init__(self, make_host: Callable[..., PluginHost]) -> None:
        self.make_host = make_host
        self.last_host: PluginHost | None = None

    def host(self, *args: Any, **kwargs: Any) -> PluginHost:
        self.last_host = self.make_host(*args, **kwargs)
        return self.last_host

    def request_for(self, tenant: str) -> RequestContext:
        return request_for(tenant)


@dataclass(frozen=True)
class ToolCall:
    """What the MCP client got back from one tool call."""

    result: CallToolResult

    @property
    def is_error(self) -> bool:
        return bool(self.result.is_error)

    @property
    def text(self) -> str:
        return "\n".join(getattr(block, "text", "") for block in self.result.content)

    @property
    def data(self) -> Any:
        """The structured result (``{"result": …}`` for a plain return value), or None."""
        return self.result.structured_content


class McpSession:
    """A real MCP client session with a server built from ``host``, usable from sync tests.

    The client (``mcp.Client``) runs in an event loop on a background thread; each method
    waits for its answer. Use it as a context manager, or call ``close()``.
    """

    def __init__(self, host: PluginHost, transport: Transport = "test") -> None:
        from anyio.from_thread import start_blocking_portal
        from mcp import Client

        from lanterna.server.app import build_server

        self.host = host
        self.server = build_server(host, transport=transport)
        self._stack = contextlib.ExitStack()
        try:
            self.portal = self._stack.enter_context(start_blocking_portal())
            self.client = self._stack.enter_context(self.portal.wrap_async_context_manager(Client(self.server)))
        except BaseException:
            self._stack.close()
            raise

    def list_tools(self) -> list[Tool]:
        return list(self.portal.call(self.client.list_tools).tools)

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> ToolCall:
        return ToolCall(self.portal.call(self.client.call_tool, name, dict(arguments or {})))

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> McpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CliRunner:
    """Runs ``lanterna`` commands in-process against ``host``: the core's commands plus the
    ones its plugins add. ``invoke("hello", "--name", "Ada")`` returns click's ``Result``
    (``exit_code``, ``stdout``, ``stderr``)."""

    def __init__(self, host: PluginHost) -> None:
        import copy

        from lanterna import cli

        self.host = host
        self.app = copy.copy(cli.app)
        self.app.registered_commands = list(cli.app.registered_commands)
        self.app.registered_groups = list(cli.app.registered_groups)
        cli.add_groups(self.app)
        host.call("register_commands", isolate=True, cli=self.app)

    def invoke(self, *args: str, input: str | None = None) -> Any:
        from typer.testing import CliRunner as TyperRunner

        from lanterna import plugins

        saved, plugins._host = plugins._host, self.host  # the commands ask get_host() for their host
        try:
            return TyperRunner().invoke(self.app, list(args), input=input)
        finally:
            plugins._host = saved
