"""Build the MCP server: every registered tool wrapped in the guard.

``build_server()`` returns an ``mcp.server.MCPServer`` whose tools all come from the
registry (``lanterna.server.tools``). Each tool the SDK sees is a wrapper that builds the
request context from the MCP call (HTTP headers, or the stdio/config identity), runs the
guard, and only then calls the plugin's function, with ``current_request()`` set.

The ``startup`` hook runs on a background thread once the server starts, so ``tools/list``
is answered before any heavy backend is initialised; ``shutdown`` runs when it stops.
"""

from __future__ import annotations

import inspect
import logging
import threading
import typing
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError
from mcp.types import ToolAnnotations

from lanterna import __version__
from lanterna.errors import UserError
from lanterna.guard import Denied, Guard
from lanterna.logsafe import describe_failure
from lanterna.plugins import PluginHost, _one_line, get_host
from lanterna.server.offload import Offload
from lanterna.server.tools import ToolRegistry, ToolSpec, collect_tools
from lanterna.types import RequestContext, Transport

log = logging.getLogger("lanterna.server")

#: Name of the Context parameter added to a tool that does not declare one (hidden from its schema).
CONTEXT_PARAMETER = "lanterna_mcp_context"

INSTRUCTIONS = (
    "Lanterna gives you the context of the repository you are working in: its branch, recent commits,"
    " working-tree status, diffs and file history, plus whatever memory tools its plugins add."
)


class Lifecycle:
    """Runs the ``startup`` hook once, in the background, and ``shutdown`` at the end."""

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._startup, name="lanterna-startup", daemon=True)
            self._thread.start()

    def _startup(self) -> None:
        try:
            self.host.call("startup", isolate=True, config=self.host.config)
        finally:
            self.ready.set()

    def stop(self, wait_s: float = 30.0) -> None:
        """Wait (bounded) for a start-up still running, then call ``shutdown``."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.join(wait_s)
        if thread.is_alive():
            log.warning("the startup hook was still running after %.0f s; shutting down anyway", wait_s)
        self.host.call("shutdown", isolate=True)


def _is_context(annotation: Any) -> bool:
    candidates = (annotation, *typing.get_args(annotation))
    return any(inspect.isclass(c) and issubclass(c, Context) for c in candidates)


def request_from_context(ctx: Context | None, transport: Transport) -> RequestContext:
    """The request as the guard sees it: HTTP headers when there are any, else ``transport``."""
    headers = None
    if ctx is not None:
        try:
            headers = ctx.headers
        except ValueError:  # no request in flight (a direct call outside a session)
            headers = None
    if headers is not None:
        return RequestContext(transport="http", headers={str(k).lower(): str(v) for k, v in headers.items()})
    return RequestContext(transport=transport)


def guarded_tool(
    spec: ToolSpec, guard: Guard, transport: Transport, offload: Offload | None = None
) -> Callable[..., Any]:
    """A function with ``spec.fn``'s schema whose body runs ``spec.fn`` inside the guard."""
    offload = offload or Offload(guard.host)
    fn = spec.fn
    try:
        # ``Context`` resolves even when the plugin imported it only under TYPE_CHECKING.
        hints = typing.get_type_hints(fn, localns={"Context": Context}, include_extras=True)
    except Exception as exc:
        raise ValueError(f"tool '{spec.name}': cannot resolve its type annotations ({exc})") from exc
    own_context = next((n for n, a in hints.items() if n != "return" and _is_context(a)), None)
    signature = inspect.signature(fn)
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()]
    context_name = own_context or CONTEXT_PARAMETER
    if own_context is None:
        params.append(inspect.Parameter(CONTEXT_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Context))
        hints[CONTEXT_PARAMETER] = Context
    return_annotation = hints.get("return", signature.return_annotation)

    def prepare(kwargs: dict[str, Any]) -> tuple[RequestContext, str | Callable[[], str]]:
        ctx = kwargs[context_name] if own_context else kwargs.pop(context_name, None)
        arguments = {k: v for k, v in kwargs.items() if k != context_name}
        if isinstance(spec.resource, str):
            return request_from_context(ctx, transport), spec.resource
        # computed by the guard once the caller is known: it may depend on the tenant
        return request_from_context(ctx, transport), lambda: spec.resource_for(arguments)

    def failure(exc: BaseException, arguments: dict[str, Any]) -> MCPToolError:
        if isinstance(exc, Denied):
            return MCPToolError(exc.reason)
        if isinstance(exc, (UserError, MCPToolError)):  # the user's mistake: tell them, count nothing
            return MCPToolError(_one_line(exc))
        # no exc_info: a traceback's messages can carry the arguments and SQL parameters
        log.error("tool '%s' (plugin '%s') raised %s", spec.name, spec.plugin, describe_failure(exc, arguments))
        guard.host.record_failure(f"tool:{spec.name}", spec.plugin, exc, logged=True)
        return MCPToolError(
            f"tool '{spec.name}' from plugin '{spec.plugin}' failed ({type(exc).__name__});"
            " the server log (stderr) has the details; report it to the plugin's authors if it persists"
        )

    is_async = inspect.iscoroutinefunction(fn)

    async def wrapper(**kwargs: Any) -> Any:
        # Every tool is async for the SDK: the guard's hooks and plain tools run on threads
        # (``offload``), so no plugin blocks the event loop that serves every client.
        try:
            request, resource = prepare(kwargs)
            op = guard.operation(request, spec.action, resource, feature=spec.feature)
            await offload.check(op)
            op.begin()
            try:
                if is_async:
                    result = await fn(**kwargs)
                else:
                    result = await offload.tool(op.request.tenant or "", fn, **kwargs)
            except BaseException as exc:
                op.end()
                with anyio.CancelScope(shield=True):  # a cancelled call is still recorded
                    await offload.finish(op, exc)
                raise
            op.end()
            await offload.finish(op, None)
            return result
        except (Exception, SystemExit) as exc:  # every failure becomes an MCP error; exit() stops no server
            raise failure(exc, kwargs) from exc

    wrapper.__name__ = spec.name
    wrapper.__qualname__ = spec.name
    wrapper.__doc__ = spec.description
    wrapper.__module__ = getattr(fn, "__module__", __name__)
    # (ignored for mypy) inspect reads __signature__ from any function; typeshed does not declare it
    wrapper.__signature__ = signature.replace(parameters=params, return_annotation=return_annotation)  # type: ignore[attr-defined]
    wrapper.__annotations__ = hints
    # (ignored for mypy) the registered tool function carries its spec back to tests and listings
    wrapper.lanterna_spec = spec  # type: ignore[attr-defined]
    return wrapper


class LanternaServer(MCPServer[Any]):
    """The SDK's server, with the tool registry it serves and its start-up/shutdown runner."""

    lanterna_registry: ToolRegistry
    lanterna_lifecycle: Lifecycle


def build_server(
    host: PluginHost | None = None,
    *,
    transport: Transport = "stdio",
    registry: ToolRegistry | None = None,
) -> LanternaServer:
    """The Lanterna MCP server with every plugin's tools, each behind the guard."""
    host = host or get_host()
    registry = registry if registry is not None else collect_tools(host)
    guard = Guard(host)
    offload = Offload(host)
    lifecycle = Lifecycle(host)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[dict[str, Any]]:
        lifecycle.start()
        try:
            yield {"lifecycle": lifecycle}
        finally:
            import anyio.to_thread

            await anyio.to_thread.run_sync(lifecycle.stop)

    server = LanternaServer(
        name="lanterna",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
    )
    for spec in registry.tools.values():
        try:
            server.add_tool(
                guarded_tool(spec, guard, transport, offload),
                name=spec.name,
                title=spec.title,
                description=spec.description,
                annotations=ToolAnnotations(title=spec.title, **spec.annotations),
            )
        except Exception as exc:  # noqa: BLE001 - one bad tool must not take the server down
            host.record_failure(f"tool:{spec.name}", spec.plugin, exc)
    if transport == "http":
        from lanterna.server.health import add_health_routes

        add_health_routes(server, host, lifecycle)
    server.lanterna_registry = registry
    server.lanterna_lifecycle = lifecycle
    return server
