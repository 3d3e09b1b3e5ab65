"""How long Ctrl-C takes to stop `lanterna serve --http`: idle, and with a client's session still open.

Prints the seconds from SIGINT to process exit (median of N runs each), and the last stderr line.
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
    print(f"last line on stderr: {last}")


if __name__ == "__main__":
    main()
