"""A tool's resource= callable gets one dict of arguments; one written for keyword arguments is refused."""

from __future__ import annotations

from typing import Any

import pytest

from lanterna.server.tools import ToolRegistry


def ticket(ticket_id: int) -> str:
    """Show a ticket."""
    return str(ticket_id)


def register(resource: Any) -> ToolRegistry:
    registry = ToolRegistry()
    registry.registrar("tickets")(ticket, resource=resource)
    return registry


def test_a_callable_of_one_dict_computes_the_resource_per_call() -> None:
    registry = register(lambda args: f"ticket:{args['ticket_id']}")
    assert registry.rejected == []
    assert registry.tools["ticket"].resource_for({"ticket_id": 7}) == "ticket:7"


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (
            lambda ticket_id: f"ticket:{ticket_id}",
            "its resource callable takes 'ticket_id', like the tool's own argument",
        ),
        (lambda: "ticket", "its resource callable takes ()"),
        (lambda args, extra: "ticket", "its resource callable takes (args, extra)"),
        (42, "resource must be a string or a callable, got int"),
    ],
)
def test_a_resource_callable_with_the_wrong_signature_is_refused(resource: Any, reason: str) -> None:
    registry = register(resource)
    assert "ticket" not in registry.tools
    [(plugin, message)] = registry.rejected
    assert plugin == "tickets"
    assert message.startswith(f"tool 'ticket': {reason}")
    if callable(resource):
        advice = "resource= is called with one dict of the tool's arguments; write e.g. resource=lambda args: "
        assert message.endswith(advice + """f"item:{args['ticket_id']}\"""")
