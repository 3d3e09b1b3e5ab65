"""A slow plugin hook or tool stalls only its own calls: the server's loop and other callers go on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from lanterna import hookimpl
from lanterna.plugins import get_host
from lanterna.server.app import build_server
from tests.core.server_helpers import text_of

pytestmark = pytest.mark.anyio

HOOK_TIMEOUT_S = 1.0


class SlowPlugin:
    """Tools whose ``authorize`` blocks until released, and a quick tool nobody blocks."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.blocked = 0

    @hookimpl
    def authorize(self, request, action, resource):
        if action.startswith("tool.slow"):
            self.blocked += 1
            self.release.wait(10)  # bounded: the test releases it
        return None

    @hookimpl
    def register_mcp_tools(self, register):
        async def slow_async() -> str:
            """An async tool behind a slow authorize."""
            return "slow async ran"

        def slow_sync() -> str:
            """A plain tool behind a slow authorize."""
            return "slow sync ran"

        def quick() -> str:
            """A plain tool nobody blocks."""
            return "quick"

        for fn in (slow_async, slow_sync, quick):
            register(fn)


@pytest.fixture
def slow(lanterna_home: Path) -> SlowPlugin:
    (lanterna_home / "config.toml").write_text(f"[guard]\nhook_timeout_s = {HOOK_TIMEOUT_S}\n", encoding="utf-8")
    from lanterna.plugins import reset_host

    reset_host()
    plugin = SlowPlugin()
    get_host().register(plugin, "slowpoke")
    yield plugin
    plugin.release.set()


async def test_a_slow_authorize_denies_its_own_call_and_never_stalls_the_others(slow: SlowPlugin) -> None:
    server = build_server()
    results: dict[str, str] = {}
    quick_times: list[float] = []

    async def call(client: Client, name: str) -> None:
        result = await client.call_tool(name, {})
        results[name] = ("error: " if result.is_error else "") + text_of(result)

    async with Client(server) as client, anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call, client, "slow_async")
            tg.start_soon(call, client, "slow_sync")
        await anyio.sleep(0.2)
        for _ in range(10):  # while the slow calls wait, the quick tool answers at once
            started = time.perf_counter()
            await call(client, "quick")
            quick_times.append(time.perf_counter() - started)
    assert results["quick"] == "quick"
    assert max(quick_times) < HOOK_TIMEOUT_S / 2, quick_times
    for name in ("slow_async", "slow_sync"):
        assert results[name].startswith("error: ")
        assert "refused: the authorize hook did not answer within 1 s" in results[name]
        assert "slowpoke" in results[name] and "\n" not in results[name]
    assert slow.blocked == 6


async def test_hook_calls_still_running_are_capped_and_refused_at_once(slow: SlowPlugin, lanterna_home: Path) -> None:
    (lanterna_home / "config.toml").write_text("[guard]\nhook_timeout_s = 5\nhook_threads = 2\n", encoding="utf-8")
    from lanterna.plugins import reset_host

    reset_host()
    get_host().register(slow, "slowpoke")
    results: list[str] = []

    async def call(client: Client, name: str) -> None:
        result = await client.call_tool(name, {})
        results.append(text_of(result))

    async with Client(build_server()) as client, anyio.create_task_group() as tg:
        tg.start_soon(call, client, "slow_async")
        tg.start_soon(call, client, "slow_sync")
        await anyio.sleep(0.3)
        started = time.perf_counter()
        await call(client, "quick")
        refused_after = time.perf_counter() - started
        slow.release.set()
    assert results[0].endswith("the server is busy: 2 plugin hook calls are still running; retry in a moment")
    assert refused_after < 1.0
    assert sorted(results[1:]) == ["slow async ran", "slow sync ran"]


class Recorder:
    """A quick tool that waits for a signal inside its body, and a record of usage events."""

    def __init__(self) -> None:
        self.in_tool = threading.Event()
        self.go_on = threading.Event()
        self.usage: list[str] = []

    @hookimpl
    def record_usage(self, request, event):
        self.usage.append(event.action)

    @hookimpl
    def register_mcp_tools(self, register):
        def waits() -> str:
            """A plain tool that runs until the test lets it finish."""
            self.in_tool.set()
            self.go_on.wait(10)  # bounded: the test releases it
            return "waits ran"

        register(waits)


async def test_an_operation_that_ran_is_recorded_even_when_hook_threads_are_busy(
    slow: SlowPlugin, lanterna_home: Path
) -> None:
    (lanterna_home / "config.toml").write_text("[guard]\nhook_timeout_s = 5\nhook_threads = 1\n", encoding="utf-8")
    from lanterna.plugins import reset_host

    reset_host()
    recorder = Recorder()
    get_host().register(slow, "slowpoke")
    get_host().register(recorder, "recorder")
    results: dict[str, str] = {}

    async def call(client: Client, name: str) -> None:
        result = await client.call_tool(name, {})
        results[name] = ("error: " if result.is_error else "") + text_of(result)

    async with Client(build_server()) as client, anyio.create_task_group() as tg:
        tg.start_soon(call, client, "waits")
        await anyio.to_thread.run_sync(recorder.in_tool.wait, 5)
        tg.start_soon(call, client, "slow_async")  # its authorize now holds the only hook thread
        await anyio.sleep(0.3)
        recorder.go_on.set()  # "waits" finishes while the hook thread is taken
        await anyio.sleep(0.5)
        slow.release.set()
    assert results["waits"] == "waits ran"
    assert "tool.waits" in recorder.usage or any(a.endswith("waits") for a in recorder.usage), recorder.usage
