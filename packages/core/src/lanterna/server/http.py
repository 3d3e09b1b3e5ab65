"""The streamable HTTP app around the MCP server: credential check, calls in flight, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import uvicorn

from lanterna.guard import Denied, resolve_tenant, tenancy_plugins
from lanterna.plugins import PluginHost
from lanterna.types import RequestContext, SecurityEvent

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: After the calls in flight have finished, how long idle streams (a client's open GET) get to close.
IDLE_STREAM_GRACE_S = 0.3


def http_app(server: Any, host: PluginHost, address: str, port: int) -> tuple[ASGIApp, InFlight]:
    """The MCP server's streamable HTTP app, behind the credential check, counting calls in flight."""
    from lanterna.server.http_limits import transport_options

    app: ASGIApp = server.streamable_http_app(host=address, **transport_options(host.config, address, port))
    app = require_credentials(app, host)
    in_flight = InFlight(app)
    return in_flight, in_flight


def require_credentials(app: ASGIApp, host: PluginHost) -> ASGIApp:
    """With a tenancy plugin installed, every HTTP request (``initialize`` and ``tools/list``
    included, not only tool calls) must carry a credential it accepts; otherwise 401 with the
    same one-line reason a tool call gets. The health endpoints need none (a load balancer
    probes them; they say nothing about tenants or data)."""
    if not tenancy_plugins(host):
        return app

    from lanterna.server.health import PUBLIC_PATHS

    async def check(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            return await app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request = RequestContext(transport="http", headers=headers)
        import anyio.to_thread

        try:
            await anyio.to_thread.run_sync(resolve_tenant, host, request)
        except Denied as denial:
            event = SecurityEvent(
                kind="tenancy.denied",
                severity="warning",
                message=denial.reason,
                tenant=denial.tenant,
                actor=denial.user,
                request_id=request.request_id,
                detail={"method": scope.get("method", ""), "path": scope.get("path", ""), **denial.detail},
            )
            await anyio.to_thread.run_sync(lambda: host.call("record_security_event", isolate=True, event=event))
            return await _unauthorized(send, denial.reason)
        await app(scope, receive, send)

    return check


async def _unauthorized(send: Send, reason: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": reason}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="lanterna"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class InFlight:
    """Counts requests in progress other than GETs (a GET is a client's idle event stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        counted = scope["type"] == "http" and scope.get("method") != "GET"
        self.count += counted
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= counted


class GracefulServer(uvicorn.Server):
    """uvicorn, stopping on Ctrl-C/SIGTERM once the calls in flight have finished.

    Idle event streams are cut after ``IDLE_STREAM_GRACE_S`` instead of being waited for;
    a second Ctrl-C stops at once. The signal is not raised again afterwards: the caller
    says that the server stopped and returns normally.
    """

    def __init__(self, app: ASGIApp, in_flight: InFlight, *, address: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=address,  # uvicorn's name for the bind address
            port=port,
            log_level="warning",
            # (ignored for mypy) uvicorn hands this to asyncio, which takes a float; it is annotated int
            timeout_graceful_shutdown=IDLE_STREAM_GRACE_S,  # type: ignore[arg-type]
        )
        super().__init__(config)
        self.in_flight = in_flight

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the calls in flight finish
        if self.in_flight.count and not self.force_exit:
            count = self.in_flight.count
            print(
                f"lanterna: stopping: letting {count} call(s) in flight finish (Ctrl-C again to stop now)",
                file=sys.stderr,
            )
        while self.in_flight.count and not self.force_exit:
            await asyncio.sleep(0.05)
        # Cutting idle streams is the plan, not an error worth a log line.
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        await super().shutdown(sockets)
