"""Ctrl-C on the HTTP server: a call in flight finishes and gets its answer, then the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import socket
import threading
import time
from typing import Any

import pytest

from lanterna import hookimpl
from lanterna.plugins import get_host
from lanterna.server.app import build_server
from lanterna.server.http import GracefulServer, http_app

CALL_SECONDS = 1.5


class SlowTool:
    def __init__(self) -> None:
        self.started = threading.Event()

    @hookimpl
    def register_mcp_tools(self, register: Any) -> None:
        def slow_answer() -> str:
            """Answers after a while."""
            self.started.set()
            time.sleep(CALL_SECONDS)
            return "the answer"

        register(slow_answer, annotations={"readOnlyHint": True, "destructiveHint": False, "openWorldHint": False})


def graceful_server(app: Any, in_flight: Any, port: int) -> GracefulServer:
    """The server ``serve_http`` runs, on loopback (its bind keyword is ``address``, formerly ``host``)."""
    keyword = "address" if "address" in inspect.signature(GracefulServer).parameters else "host"
    return GracefulServer(app, in_flight, port=port, **{keyword: "127.0.0.1"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _call(url: str, answers: list[tuple[bool, Any, float]]) -> None:
    """Call the slow tool; its answer (error flag, content, time) goes to ``answers``."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    with contextlib.suppress(Exception):  # closing the session may race with the server's stop
        async with Client(streamable_http_client(url)) as client:
            result = await client.call_tool("slow_answer", {})
            answers.append((result.is_error, result.structured_content, time.monotonic()))


class Running:
    """A graceful HTTP server on its own thread with one slow call in flight."""

    def __init__(self) -> None:
        host = get_host()
        self.tool = SlowTool()
        host.register(self.tool, "slow")
        port = _free_port()
        app, in_flight = http_app(build_server(host, transport="http"), host, "127.0.0.1", port)
        self.server = graceful_server(app, in_flight, port)
        self.stopped = threading.Event()
        self.serving = threading.Thread(target=self._serve, daemon=True)
        self.serving.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.serving.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        self.answers: list[tuple[bool, Any, float]] = []
        url = f"http://127.0.0.1:{port}/mcp"
        self.calling = threading.Thread(target=asyncio.run, args=(_call(url, self.answers),), daemon=True)
        self.calling.start()
        assert self.tool.started.wait(30), "the call did not reach the tool"

    def _serve(self) -> None:
        asyncio.run(self.server.serve())
        self.stopped.set()

    def ctrl_c(self) -> None:
        self.server.handle_exit(signal.SIGINT, None)  # what Ctrl-C does

    def join(self) -> None:
        self.serving.join(30)
        self.calling.join(30)
        assert not self.serving.is_alive() and not self.calling.is_alive()


def test_ctrl_c_lets_the_call_in_flight_finish_then_stops(capfd: pytest.CaptureFixture[str]) -> None:
    running = Running()
    running.ctrl_c()
    running.join()
    # the call in flight was answered, not cut off, and then the server stopped (how soon after
    # Ctrl-C: bench/serve_stop.py measures it)
    [(is_error, content, _)] = running.answers
    assert (is_error, content) == (False, {"result": "the answer"}) and running.stopped.is_set()
    assert "letting 1 call(s) in flight finish (Ctrl-C again to stop now)" in capfd.readouterr().err


def test_a_second_ctrl_c_stops_at_once_without_waiting_for_the_call() -> None:
    running = Running()
    running.ctrl_c()
    time.sleep(0.2)
    running.ctrl_c()
    running.join()
    assert running.answers == []  # the call was cut off: a second Ctrl-C does not wait for it
