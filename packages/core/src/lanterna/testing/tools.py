"""MCP tools conformance: every tool registers, is guarded, takes no identity argument, and its
denials and user errors reach the MCP client as text. Calls go through a real MCP client session."""

from __future__ import annotations

from typing import Any, Protocol

from lanterna import hookimpl
from lanterna.plugins import PluginHost
from lanterna.server.tools import IDENTITY_PARAMETERS, ToolSpec, collect_tools
from lanterna.testing.base import Suite, skip
from lanterna.testing.harness import McpSession, request_tenancy
from lanterna.types import AuditEvent

#: The reason the suite's denying plugin gives; a client must be shown it.
DENIAL = "conformance denial: ask an admin for the conformance role"
OTHER_TENANT = "conformance-b"
SAMPLES: dict[str, Any] = {"string": "conformance", "integer": 1, "number": 1.0, "boolean": False, "array": []}


class McpToolsHarness(Protocol):
    """``host()`` builds a host with the plugins under test (``make_test_host`` or the
    ``lanterna_host_factory`` fixture do); the suite checks the tools of those plugins
    (``plugins``, if the harness has it, else the host's ``plugins_under_test``).

    Optional: ``arguments(tool)`` gives valid arguments for a call of the named tool (by
    default each required parameter gets a sample of its type); ``failing_call()`` gives
    ``(tool, arguments, text)``, a call that fails with a ``ToolError`` whose message holds
    ``text``.
    """

    def host(self) -> PluginHost: ...


class _Recorder:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    @hookimpl
    def record_audit_event(self, event: AuditEvent) -> None:
        self.events.append(event)


class _Denier:
    def __init__(self, actions: set[str]) -> None:
        self.actions = actions

    @hookimpl
    def authorize(self, action: str) -> str | None:
        return DENIAL if action in self.actions else None


def _under_test(harness: McpToolsHarness, host: PluginHost) -> list[str]:
    names = getattr(harness, "plugins", None) or getattr(host, "plugins_under_test", None)
    assert names, "the harness names no plugin under test (give it `plugins`, or build the host with make_test_host)"
    return list(names)


def _tools(harness: McpToolsHarness) -> tuple[PluginHost, list[ToolSpec]]:
    host = harness.host()
    plugins = _under_test(harness, host)
    registry = collect_tools(host)
    tools = [spec for spec in registry.tools.values() if spec.plugin in plugins]
    assert tools, f"the plugins under test ({', '.join(plugins)}) registered no MCP tool"
    return host, tools


def _arguments(harness: McpToolsHarness, tool: Any) -> dict[str, Any]:
    custom = getattr(harness, "arguments", None)
    if custom is not None:
        return dict(custom(tool.name))
    schema = tool.input_schema or {}
    properties = schema.get("properties", {})
    return {
        name: SAMPLES.get(properties.get(name, {}).get("type", "string"), "x") for name in schema.get("required", [])
    }


class McpToolsSuite(Suite):
    def test_every_tool_registers_without_refusal(self, harness: McpToolsHarness) -> None:
        host = harness.host()
        plugins = _under_test(harness, host)
        registry = collect_tools(host)
        refused = [f"{plugin}: {reason}" for plugin, reason in registry.rejected if plugin in plugins]
        assert not refused, f"{len(refused)} tool(s) refused at registration: " + "; ".join(refused)
        failed = [plugin for (hook, plugin) in host.hook_failures if hook == "register_mcp_tools" and plugin in plugins]
        assert not failed, (
            f"register_mcp_tools raised in plugin(s) {', '.join(failed)}; `lanterna tools` shows the error"
        )
        assert any(spec.plugin in plugins for spec in registry.tools.values()), (
            f"the plugins under test ({', '.join(plugins)}) registered no MCP tool"
        )

    def test_no_tool_takes_an_identity_argument(self, harness: McpToolsHarness) -> None:
        host, tools = _tools(harness)
        mine = {spec.name for spec in tools}
        with McpSession(host) as mcp:
            listed = [tool for tool in mcp.list_tools() if tool.name in mine]
        assert {tool.name for tool in listed} == mine, "a registered tool is missing from tools/list"
        for tool in listed:
            identity = sorted(set((tool.input_schema or {}).get("properties", {})) & IDENTITY_PARAMETERS)
            assert not identity, f"tool '{tool.name}' takes {identity} as arguments; read current_request() instead"

    def test_every_call_runs_through_the_guard_as_the_request_tenant(self, harness: McpToolsHarness) -> None:
        host, tools = _tools(harness)
        recorder = _Recorder()
        host.register(recorder, "conformance-recorder")
        tenancy = request_tenancy(host)
        specs = {spec.name: spec for spec in tools}
        with McpSession(host) as mcp:
            listed = [tool for tool in mcp.list_tools() if tool.name in specs]
            for tool in listed:
                before = len(recorder.events)
                if tenancy is not None:
                    with tenancy.as_tenant(OTHER_TENANT):
                        mcp.call_tool(tool.name, _arguments(harness, tool))
                else:
                    mcp.call_tool(tool.name, _arguments(harness, tool))
                events = recorder.events[before:]
                spec = specs[tool.name]
                assert len(events) == 1, f"a call of tool '{tool.name}' left {len(events)} audit events, expected 1"
                assert events[0].action == spec.action, f"tool '{tool.name}' ran as action {events[0].action!r}"
                if spec.feature is None:  # a tool needing a feature the test plan lacks is denied, rightly
                    assert events[0].outcome != "denied", f"tool '{tool.name}' was denied: {events[0].reason}"
                if tenancy is not None:
                    assert events[0].tenant == OTHER_TENANT, (
                        f"tool '{tool.name}' ran as tenant {events[0].tenant!r}, expected {OTHER_TENANT!r}"
                    )

    def test_denials_reach_the_client_as_text(self, harness: McpToolsHarness) -> None:
        host, tools = _tools(harness)
        recorder = _Recorder()
        host.register(recorder, "conformance-recorder")
        host.register(_Denier({spec.action for spec in tools}), "conformance-denier")
        specs = {spec.name: spec for spec in tools}
        with McpSession(host) as mcp:
            for tool in [t for t in mcp.list_tools() if t.name in specs]:
                call = mcp.call_tool(tool.name, _arguments(harness, tool))
                assert call.is_error, f"tool '{tool.name}' ran although the guard denied it"
                expected = DENIAL if specs[tool.name].feature is None else specs[tool.name].feature or ""
                assert expected in call.text, (
                    f"the client did not get the denial of '{tool.name}' as text: {call.text!r}"
                )
        outcomes = {event.outcome for event in recorder.events}
        assert outcomes == {"denied"}, f"denied calls were audited as {sorted(outcomes)}"

    def test_user_errors_reach_the_client_as_text(self, harness: McpToolsHarness) -> None:
        failing_call = getattr(harness, "failing_call", None)
        if failing_call is None:
            skip("the harness gives no failing_call()")
        name, arguments, text = failing_call()
        host, _ = _tools(harness)
        with McpSession(host) as mcp:
            call = mcp.call_tool(name, arguments)
        assert call.is_error, f"tool '{name}' did not report its failure as an error"
        assert text in call.text, f"the client got {call.text!r} instead of the tool's message ({text!r})"
        assert "\n" not in call.text.strip(), "the error reached the client as more than one line"
