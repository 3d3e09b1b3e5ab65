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

HOOK_TIMEOUT_S = 4.0


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
    answered: list[str] = []  # tool names in the order their answers arrived

    async def call(client: Client, name: str) -> None:
        result = await client.call_tool(name, {})
        results[name] = ("error: " if result.is_error else "") + text_of(result)
        answered.append(name)

    async with Client(server) as client, anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call, client, "slow_async")
            tg.start_soon(call, client, "slow_sync")
        await anyio.sleep(0.2)
        for _ in range(10):  # while the slow calls wait, the quick tool answers
            await call(client, "quick")
    assert results["quick"] == "quick"
    # every quick call was answered while all six slow ones were still held by the plugin
    assert answered[:10] == ["quick"] * 10, answered
    for name in ("slow_async", "slow_sync"):
        assert results[name].startswith("error: ")
        assert f"refused: the authorize hook did not answer within {HOOK_TIMEOUT_S:.0f} s" in results[name]
        assert "slowpoke" in results[name] and "\n" not in results[name]
    assert slow.blocked == 6


async def test_hook_calls_still_running_are_capped_and_refused_at_once(slow: SlowPlugin, lanterna_home: Path) -> None:
    # 8 hook threads, 2 per caller: the in-process client is one caller
    (lanterna_home / "config.toml").write_text("[guard]\nhook_timeout_s = 5\nhook_threads = 8\n", encoding="utf-8")
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
    assert results[0].endswith("2 of your calls are still waiting on slow plugin hooks; retry when they have ended")
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


async def test_one_caller_at_its_cap_does_not_refuse_another_caller(lanterna_home: Path) -> None:
    from lanterna.guard import Denied, Guard
    from lanterna.server.offload import Offload
    from lanterna.types import RequestContext

    (lanterna_home / "config.toml").write_text("[guard]\nhook_timeout_s = 5\nhook_threads = 8\n", encoding="utf-8")
    from lanterna.plugins import reset_host

    reset_host()
    release = threading.Event()

    class HoldsOneCaller:
        @hookimpl
        def authorize(self, request, action, resource):
            if "slow-caller" in request.headers.get("authorization", ""):
                release.wait(10)  # bounded: the test releases it

    get_host().register(HoldsOneCaller(), "holds-one-caller")
    offload = Offload(get_host())
    guard = Guard(get_host())

    def op(key: str):
        request = RequestContext(transport="http", tenant="t", headers={"authorization": f"Bearer {key}"})
        return guard.operation(request, "tool.x", "r")

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(2):
                tg.start_soon(offload.check, op("slow-caller"))
            await anyio.sleep(0.2)
            with pytest.raises(Denied, match="2 of your calls are still waiting on slow plugin hooks"):
                await offload.check(op("slow-caller"))
            await offload.check(op("other-caller"))  # admitted and answered
            release.set()
    finally:
        release.set()
