"""``/healthz`` and ``/readyz`` for a load balancer in front of several HTTP servers.

``/healthz``: 200 when every plugin's ``check_health`` answers ``None`` (its store answers a
trivial query), else 503 with the reasons. ``/readyz``: the same, and 503 until the
``startup`` hook has finished. Neither needs credentials nor says anything about tenants or
data; a plugin whose check raises counts as unhealthy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lanterna.plugins import HookFailed, PluginHost

#: Paths answered without credentials.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from lanterna.server.app import Lifecycle


def health(host: PluginHost) -> dict[str, str]:
    """Problems by plugin name; empty when healthy."""
    try:
        answers = host.call("check_health")
    except HookFailed as failure:
        return {failure.plugin: str(failure)}
    return {plugin: str(answer) for plugin, answer in answers if answer is not None}


def add_health_routes(server: MCPServer, host: PluginHost, lifecycle: Lifecycle) -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def answer(ready_needed: bool) -> JSONResponse:
        import anyio.to_thread

        problems = await anyio.to_thread.run_sync(health, host)
        body: dict[str, Any] = {"status": "ok" if not problems else "fail", "problems": problems}
        if ready_needed and not lifecycle.ready.is_set():
            body["status"] = "starting"
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @server.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        return await answer(False)

    @server.custom_route("/readyz", methods=["GET"], include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        return await answer(True)
