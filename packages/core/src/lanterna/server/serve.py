"""Run the MCP server over stdio or streamable HTTP, and decide whether an address may be bound."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
from typing import Any

from lanterna.launch import DEFAULT_ADDRESS, DEFAULT_PORT
from lanterna.plugins import PluginHost

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class ServeRefused(Exception):
    """The server must not start as asked; the message says what to do, ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def serve(host: PluginHost, *, http: bool, address: str, port: int, allow_unauthenticated: bool) -> None:
    """``lanterna serve``: validate the options, then serve until the client goes away."""
    from lanterna.memory.store import refine_in_background

    refine_in_background()  # a long-running process: it fills the rerank vectors of the store it opens
    if not http:
        if address != DEFAULT_ADDRESS or port != DEFAULT_PORT or allow_unauthenticated:
            raise ServeRefused("--host, --port and --allow-unauthenticated only apply with --http")
        return serve_stdio(host)
    if not 0 < port < 65536:
        raise ServeRefused(f"port {port} is out of range; give a port between 1 and 65535")
    warning = check_bind(host, address, allow_unauthenticated)
    if warning:
        print(f"lanterna: {warning}", file=sys.stderr)
    return serve_http(host, address, port)


def is_loopback(address: str) -> bool:
    if address.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def authorizing_plugins(host: PluginHost) -> list[str]:
    """Installed (non-built-in) plugins that implement ``authorize``."""
    builtin = {p.name for p in host.plugins if p.builtin}
    return [impl.plugin_name for impl in host.implementations("authorize") if impl.plugin_name not in builtin]


def check_bind(host: PluginHost, address: str, allow_unauthenticated: bool) -> str | None:
    """Refuse a non-loopback bind without an authorizing plugin; return a warning when allowed anyway."""
    if is_loopback(address) or authorizing_plugins(host):
        return None
    if not allow_unauthenticated:
        raise ServeRefused(
            f"refusing to serve on {address}: no installed plugin authorizes requests, so anyone who can reach"
            " this address could read your repository; bind 127.0.0.1, install an authorizing plugin,"
            " or pass --allow-unauthenticated if you really mean it"
        )
    return (
        f"WARNING: serving on {address} with no plugin authorizing requests (--allow-unauthenticated):"
        " anyone who can reach this address can call every tool"
    )


def _quiet_logging() -> None:
    """Logs go to stderr, never stdout (stdout is the stdio protocol channel)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("lanterna: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def serve_stdio(host: PluginHost) -> None:
    """Serve until stdin closes or SIGTERM/SIGINT arrives; the ``shutdown`` hook runs either way."""
    import asyncio

    from lanterna.server.app import build_server

    _quiet_logging()
    server = build_server(host, transport="stdio")
    _quiet_logging()  # the SDK may install its own handler; keep ours (stderr, one line per record)
    loop = asyncio.new_event_loop()
    signalled = False
    try:
        loop.run_until_complete(_stdio_until_signal(server))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    except KeyboardInterrupt:
        signalled = True
    finally:
        server.lanterna_lifecycle.stop()  # a no-op when the server's lifespan already stopped it
    if signalled:
        _exit_now()
    _skip_final_collection()


async def _stdio_until_signal(server: Any) -> None:
    """Run the stdio server; SIGTERM and SIGINT stop the event loop between callbacks.

    A KeyboardInterrupt raised by a plain signal handler lands in whatever coroutine happens
    to run, which asyncio then reports as an unhandled task exception with a traceback.
    Raised from a loop callback, it leaves ``run_until_complete()`` without passing through a task.
    """
    import signal

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _raise_interrupt)
    await server.run_stdio_async()


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


def _exit_now() -> None:
    """Exit after a signal although a worker thread may still be blocked reading an open stdin
    (the interpreter would wait for it forever): exit handlers run, then the process ends."""
    import atexit
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(0)


def serve_http(host: PluginHost, address: str, port: int) -> None:
    """Serve streamable HTTP until Ctrl-C/SIGTERM: calls in flight finish, then it stops and says so."""
    from lanterna.server.app import build_server
    from lanterna.server.http import GracefulServer, http_app

    _quiet_logging()
    server = build_server(host, transport="http")
    _quiet_logging()
    app, in_flight = http_app(server, host, address, port)
    print(f"lanterna: serving MCP over streamable HTTP at http://{_url_host(address)}:{port}/mcp", file=sys.stderr)
    uvicorn_server = GracefulServer(app, in_flight, address=address, port=port)
    try:
        asyncio.run(uvicorn_server.serve())
    except KeyboardInterrupt:  # a second Ctrl-C while calls were still finishing
        pass
    finally:
        server.lanterna_lifecycle.stop()
    if uvicorn_server.started:
        print("lanterna: stopped serving MCP over HTTP", file=sys.stderr)
    _skip_final_collection()


def _skip_final_collection() -> None:
    """The process is about to exit: spare it the garbage collection of every object the MCP SDK,
    pydantic and uvicorn built (about a second on 2 busy cores); atexit handlers still run."""
    import gc

    gc.freeze()


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address
