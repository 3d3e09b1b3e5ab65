"""The ``lanterna`` console script: a fast path for ``lanterna serve``, the typer CLI otherwise.

An assistant spawns ``lanterna serve`` at every session start and waits for ``tools/list``.
Importing typer and click costs ~0.2 s on top of the MCP SDK's own import, so a plain
``serve`` invocation is parsed here and served without them. Anything else (``--help``,
an unknown or malformed option) falls through to the typer CLI, which owns help and errors.
"""

from __future__ import annotations

import sys
from typing import Any


def parse_serve(args: list[str]) -> dict[str, Any] | None:
    """The options of ``lanterna serve ARGS``, or None to let the typer CLI handle them."""
    from lanterna.server.serve import DEFAULT_PORT

    options: dict[str, Any] = {
        "http": False,
        "address": "127.0.0.1",
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
                    return None
                value = rest.pop(0)
            if name == "--host":
                options["address"] = value
            elif value.isdigit():
                options["port"] = int(value)
            else:
                return None
        else:
            return None
    return options


def _serve(options: dict[str, Any]) -> int:
    import contextlib

    from lanterna.config import ConfigError
    from lanterna.plugins import get_host
    from lanterna.server.serve import ServeRefused, serve

    with contextlib.redirect_stdout(sys.stderr):  # plugins printing while loading must not reach the wire
        try:
            host = get_host()
        except ConfigError as exc:
            print(f"lanterna: {exc}", file=sys.stderr)
            return 2
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
    if args[:1] == ["serve"]:
        options = parse_serve(args[1:])
        if options is not None:
            sys.exit(_serve(options))
    from lanterna.cli import main as cli_main

    cli_main()
