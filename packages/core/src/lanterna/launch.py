"""The ``lanterna`` console script: a fast path for ``lanterna serve``, the memory daemon for
memory commands (``lanterna.daemon``; ``--no-daemon`` or ``LANTERNA_NO_DAEMON=1`` runs them
here), the typer CLI otherwise.

An assistant spawns ``lanterna serve`` at every session start and waits for ``tools/list``.
Importing typer and click costs ~0.2 s on top of the MCP SDK's own import, so ``serve`` is
parsed here, by the one parser of its options, and served without them. The typer CLI's
``serve`` command (reached with ``--help`` or root options such as ``--strict``) uses the
same parser.
"""

from __future__ import annotations

import sys
from typing import Any

#: The memory commands: the daemon runs them (``lanterna.daemon.client.DAEMON_COMMANDS``), but
#: ``EXCLUSIVE_COMMANDS``. Only they import the daemon client.
MEMORY_COMMANDS = frozenset(
    {
        "ingest",
        "search",
        "note",
        "adr",
        "incident",
        "show",
        "memories",
        "forget",
        "services",
        "stats",
        "memory-purge",
        "memory",
    }
)
#: Commands that rewrite the store and need it to themselves: they stop this home's daemons,
#: then run here. (``memory reembed`` needs it too, but runs in the daemon, which goes on
#: answering searches meanwhile.)
EXCLUSIVE_COMMANDS = frozenset({"memory-purge"})
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8765

#: The help of ``lanterna serve``; ``\b`` keeps click from re-wrapping the option list.
SERVE_HELP = f"""Run the MCP server: stdio by default (for an assistant to start), or streamable HTTP.

\b
  --http                   Serve streamable HTTP at /mcp instead of stdio.
  --host ADDRESS           Address to bind with --http (default {DEFAULT_ADDRESS}).
  --port PORT              Port to bind with --http (default {DEFAULT_PORT}).
  --allow-unauthenticated  Bind a public address with no authorizing plugin.
"""


class ServeUsageError(ValueError):
    """The ``serve`` arguments are malformed; the message says which and what to do."""


def parse_serve(args: list[str]) -> dict[str, Any]:
    """The options of ``lanterna serve ARGS`` as keyword arguments of ``serve()``."""
    options: dict[str, Any] = {
        "http": False,
        "address": DEFAULT_ADDRESS,
        "port": DEFAULT_PORT,
        "allow_unauthenticated": False,
    }
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if arg == "--http":
            options["http"] = True
        elif arg == "--allow-unauthenticated":
            options["allow_unauthenticated"] = True
        elif name in ("--host", "--port"):
            if not eq:
                if not rest:
                    raise ServeUsageError(f"{name} needs a value; see `lanterna serve --help`")
                value = rest.pop(0)
            if name == "--host":
                options["address"] = value
            elif value.isdigit():
                options["port"] = int(value)
            else:
                raise ServeUsageError(f"--port takes a number, not {value!r}; for example --port 8765")
        else:
            raise ServeUsageError(f"unknown argument {arg!r} for serve; see `lanterna serve --help`")
    return options


def serve_command(args: list[str]) -> int:
    """Run ``lanterna serve ARGS``; the exit status."""
    import contextlib

    from lanterna.config import ConfigError
    from lanterna.plugins import get_host
    from lanterna.server.serve import ServeRefused, serve

    try:
        options = parse_serve(args)
    except ServeUsageError as exc:
        print(f"lanterna: {exc}", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # plugins printing while loading must not reach the wire
        try:
            host = get_host()
        except ConfigError as exc:
            print(f"lanterna: {exc}", file=sys.stderr)
            return 2
        if host.strict:
            from lanterna.server.tools import collect_tools

            collect_tools(host)  # a refused tool or a raising registration counts in strict mode
    violation = host.strict_violation()
    for line in violation:
        print(f"lanterna: {line}", file=sys.stderr)
    if violation:
        return 3
    try:
        serve(host, **options)
    except ServeRefused as exc:
        print(f"lanterna: {exc}", file=sys.stderr)
        return exc.code
    return 0


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["serve"] and not {"--help", "-h"} & set(args):
        sys.exit(serve_command(args[1:]))
    if "--no-daemon" in args:
        args = [a for a in args if a != "--no-daemon"]
        sys.argv[1:] = args
    elif args[:1] and args[0] in MEMORY_COMMANDS:
        from lanterna.daemon import client

        if client.wanted(args):
            code = client.run(args)
            if code is not None:
                sys.exit(code)
        elif args[0] in EXCLUSIVE_COMMANDS and not {"--help", "-h"} & set(args):
            # the store is rewritten: daemons of this home holding it open step aside
            key = client.daemon_key()
            for each in [key, *client.siblings(key)]:
                client.stop(each)
    from lanterna.cli import main as cli_main

    cli_main()
