"""How long Ctrl-C takes to stop `lanterna serve --http`: idle, with a client's session still open,
and with a call in flight (``memory_stats`` while it opens a new store), which must get its answer.

Prints the seconds from SIGINT to process exit (median of N runs each; for the call in flight,
from its answer to exit), and the last stderr line.
Usage: python bench/serve_stop.py [N]
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "LANTERNA_HOME": tempfile.mkdtemp(prefix="lanterna-bench-"), "LANTERNA_LOAD_PLUGINS": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lanterna", "serve", "--http", "--port", str(port)], env=env, stderr=subprocess.PIPE
    )
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> tuple[float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return time.monotonic() - started, err.decode().strip().splitlines()[-1]


async def with_open_session(port: int, proc: subprocess.Popen[bytes]) -> tuple[float, str]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp")) as client:
        await client.list_tools()
        return await asyncio.to_thread(stop, proc)


async def with_a_call_in_flight(port: int, proc: subprocess.Popen[bytes]) -> tuple[float, float, bool, str]:
    """Ctrl-C while a call runs: (SIGINT to its answer, answer to exit, answered without error, last line)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    answered, ok = 0.0, False
    async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp")) as client:
        await client.list_tools()
        call = asyncio.ensure_future(client.call_tool("memory_stats", {}))
        await asyncio.sleep(0.5)  # the call is opening the store: embedded PostgreSQL, Pixeltable
        assert not call.done(), "the call ended before Ctrl-C; nothing was in flight"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        exited = asyncio.ensure_future(asyncio.to_thread(proc.communicate, timeout=120))
        try:
            result = await call
            answered, ok = time.monotonic(), not result.is_error
        except Exception:  # noqa: BLE001 - a cut-off call is what this measures
            answered = time.monotonic()
        _, err = await exited
    return answered - started, time.monotonic() - answered, ok, err.decode().strip().splitlines()[-1]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    idle, open_session, last = [], [], ""
    for _ in range(runs):
        proc, _port = start()
        seconds, last = stop(proc)
        idle.append(seconds)
        proc, port = start()
        seconds, last = asyncio.run(with_open_session(port, proc))
        open_session.append(seconds)
    print(f"Ctrl-C to exit, idle server:             median {statistics.median(idle):.2f} s, max {max(idle):.2f} s")
    print(
        f"Ctrl-C to exit, a client session open:   median {statistics.median(open_session):.2f} s,"
        f" max {max(open_session):.2f} s"
    )
    to_answer, to_exit, answered = [], [], 0
    for _ in range(runs):
        proc, port = start()
        call_s, exit_s, ok, last = asyncio.run(with_a_call_in_flight(port, proc))
        to_answer.append(call_s)
        to_exit.append(exit_s)
        answered += ok
    print(
        f"a call in flight at Ctrl-C: answered {answered} of {runs};"
        f" its answer {statistics.median(to_answer):.2f} s after Ctrl-C (median),"
        f" then exit after median {statistics.median(to_exit):.2f} s, max {max(to_exit):.2f} s"
    )
    print(f"last line on stderr: {last}")


if __name__ == "__main__":
    main()
