"""``lanterna daemon status|stop``: the memory daemon of this environment, or every one of this user."""

from __future__ import annotations

from typing import Annotated

import typer

from lanterna.console import JsonOption, print_json

daemon_app = typer.Typer(
    help="The memory daemon that answers memory commands (started by the first one; --no-daemon skips it).",
    no_args_is_help=True,
)


@daemon_app.command("status")
def status_command(as_json: JsonOption = False) -> None:
    """Whether this environment's daemon runs: pid, uptime, idle timeout, requests served."""
    from lanterna.daemon import client

    info = client.status()
    if as_json:
        return print_json(info)
    if info is None:
        print("no memory daemon is running for this environment; the next memory command starts one")
        return
    for key, value in info.items():
        print(f"{key}: {value}")


@daemon_app.command("stop")
def stop_command(
    every: Annotated[bool, typer.Option("--all", help="Stop every memory daemon of this user.")] = False,
) -> None:
    """Stop the daemon after the calls it is running finish; it stops its embedded PostgreSQL too."""
    from lanterna.daemon import client

    keys = client.running_keys() if every else [client.daemon_key()]
    stopped = [pid for pid in (client.stop(key) for key in keys) if pid]
    if not stopped:
        print("no memory daemon was running")
    for pid in stopped:
        print(f"stopped the memory daemon (pid {pid})")
