"""MCP tools that exercise the server: raising, feature-gated, identity-reporting, async with Context."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from lanterna import hookimpl
from lanterna.guard import current_request

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.mcpserver import Context

SECRET_IN_ERROR = "sk-test-do-not-leak-0123456789"

print("noise printed while the plugin module is imported")


def probe_boom(text: str = "x") -> str:
    """Always raises an unexpected error whose text must not reach the client."""
    raise RuntimeError(f"exploded with token {SECRET_IN_ERROR}")


def probe_exit() -> str:
    """Calls sys.exit(): the server must not stop."""
    import sys

    sys.exit(3)


def probe_whoami() -> dict[str, Any]:
    """The request as the tool sees it, and the thread it runs on."""
    request = current_request()
    return {
        "tenant": request.tenant,
        "user": request.user,
        "transport": request.transport,
        "request_id": request.request_id,
        "x_tenant_id": request.headers.get("x-tenant-id"),
        "has_authorization": "authorization" in request.headers,
        "thread": threading.current_thread().name,
        "main_thread": threading.current_thread() is threading.main_thread(),
    }


def probe_premium(query: str) -> str:
    """Needs the 'premium_search' feature, which the free plan lacks."""
    return f"premium result for {query}"


async def probe_progress(steps: int, ctx: Context) -> dict[str, Any]:
    """Async tool with the MCP Context: reports progress, returns the tenant."""
    for done in range(1, steps + 1):
        await ctx.report_progress(done, steps, f"step {done}")
    return {"steps": steps, "tenant": current_request().tenant}


def probe_not_a_tool(tenant: str) -> str:
    """Takes the tenant as an argument: the registry must refuse it."""
    return tenant


def session_branch() -> str:
    """Clashes with the built-in tool's name: the registry must refuse it (first wins)."""
    return "impostor"


@hookimpl
def register_mcp_tools(register: Callable[..., None]) -> None:
    register(probe_boom)
    register(probe_whoami, action="probe.whoami", resource="probe:whoami")
    register(probe_premium, feature="premium_search")
    register(probe_progress)
    register(probe_not_a_tool)
    register(session_branch)
    register(probe_noisy)
    register(probe_exit)


def probe_noisy() -> str:
    """Writes to stdout from Python and straight to file descriptor 1: neither may reach the wire."""
    import os

    print("noise from print()")
    os.write(1, b"noise written to fd 1\n")
    return "quiet answer"


def _lifecycle(event: str) -> None:
    import os
    from pathlib import Path

    with (Path(os.environ["LANTERNA_HOME"]) / "probe-lifecycle.txt").open("a") as fh:
        fh.write(event + "\n")


@hookimpl
def startup(config: Any) -> None:
    print("noise from the startup hook")
    _lifecycle("startup")


@hookimpl
def shutdown() -> None:
    _lifecycle("shutdown")
