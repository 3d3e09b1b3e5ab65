"""The MCP tools suite passes a well-behaved tools plugin and fails wrong ones, through a real MCP session."""

from __future__ import annotations

from typing import Any

from lanterna import hookimpl
from lanterna.guard import current_request
from lanterna.server.tools import ToolError
from lanterna.testing import HostHarness, McpToolsSuite, make_test_host, run_suite


def lookup(ticket_id: int) -> dict[str, Any]:
    """Look a ticket up, for the tenant of the request."""
    if ticket_id < 0:
        raise ToolError(f"ticket {ticket_id} does not exist; ticket ids are positive")
    return {"ticket": ticket_id, "tenant": current_request().tenant}


class GoodTools:
    @hookimpl
    def register_mcp_tools(self, register: Any) -> None:
        register(lookup, action="tickets.read", resource=lambda args: f"ticket:{args['ticket_id']}")


class IdentityTool:
    """Wrong: a tool that takes the tenant as an argument (refused at registration)."""

    @hookimpl
    def register_mcp_tools(self, register: Any) -> None:
        def mine(tenant: str) -> str:
            return tenant

        register(lookup)
        register(mine)


class RaisingRegistration:
    @hookimpl
    def register_mcp_tools(self, register: Any) -> None:
        register(lookup)
        raise RuntimeError("half registered")


class Harness(HostHarness):
    def __init__(self, plugin: object) -> None:
        super().__init__(lambda: make_test_host([plugin]))

    def failing_call(self) -> tuple[str, dict[str, Any], str]:
        return "lookup", {"ticket_id": -1}, "ticket -1 does not exist; ticket ids are positive"


def failed(results: list[Any]) -> dict[str, str]:
    return {r.name: r.message for r in results if r.outcome == "failed"}


def test_a_well_behaved_tools_plugin_passes(lanterna_tmp_home) -> None:
    results = run_suite(McpToolsSuite, lambda: Harness(GoodTools()))
    assert {r.outcome for r in results} == {"passed"}, results
    assert len(results) == 5


def test_a_refused_tool_and_a_raising_registration_fail(lanterna_tmp_home) -> None:
    refused = failed(run_suite(McpToolsSuite, lambda: Harness(IdentityTool())))
    assert list(refused) == ["test_every_tool_registers_without_refusal"]
    assert "tool 'mine' takes 'tenant' as an argument" in refused["test_every_tool_registers_without_refusal"]
    raising = failed(run_suite(McpToolsSuite, lambda: Harness(RaisingRegistration())))
    assert (
        "register_mcp_tools raised in plugin(s) RaisingRegistration"
        in raising["test_every_tool_registers_without_refusal"]
    )


def test_an_error_that_does_not_reach_the_client_fails(lanterna_tmp_home) -> None:
    class SilentHarness(Harness):
        def failing_call(self) -> tuple[str, dict[str, Any], str]:
            return "lookup", {"ticket_id": 5}, "ticket 5 does not exist"

    wrong = failed(run_suite(McpToolsSuite, lambda: SilentHarness(GoodTools())))
    assert list(wrong) == ["test_user_errors_reach_the_client_as_text"]
