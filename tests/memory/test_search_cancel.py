"""A search whose MCP client went away stops running in PostgreSQL (it does not hold the store
for its statement timeout)."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pytest
from mcp import Client

from lanterna.memory import pxt_adapter
from lanterna.memory.runtime import Cancellation, Cancelled
from lanterna.plugins import get_host
from lanterna.server.app import build_server

from .helpers import memory, operation

pytestmark = pytest.mark.anyio


def sleeping_statements() -> int:
    from sqlalchemy import text

    with pxt_adapter.engine().connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(20)%'"
        return int(conn.execute(text(query)).scalar())


def sleep_in_postgres(*_args: Any, **_kwargs: Any) -> list[dict[str, Any]]:
    from sqlalchemy import text

    with pxt_adapter.engine().connect() as conn:
        conn.execute(text("SELECT pg_sleep(20)"))
    return []


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_cancelled_thread_stops_its_statement_and_runs_no_other() -> None:
    with operation():
        memory().stats()  # the store is open
    cancellation = Cancellation()
    outcome: list[BaseException | None] = []

    def run() -> None:
        with cancellation.tracking():
            try:
                sleep_in_postgres()
                outcome.append(None)
            except Exception as exc:  # noqa: BLE001 - the test looks at what it was
                outcome.append(exc)
            try:
                sleep_in_postgres()
            except Cancelled as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    assert wait_for(lambda: sleeping_statements() == 1)
    cancellation.cancel()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert outcome[0] is not None and "cancel" in str(outcome[0]).lower()
    assert isinstance(outcome[1], Cancelled)
    assert sleeping_statements() == 0


async def test_a_client_that_goes_away_cancels_its_search(monkeypatch: pytest.MonkeyPatch) -> None:
    with operation():
        memory().stats()
    monkeypatch.setattr(type(memory()), "search", sleep_in_postgres)
    async with Client(build_server(get_host())) as client:
        with anyio.move_on_after(1.0):
            await client.call_tool("memory_search", {"query": "anything"})
        assert await anyio.to_thread.run_sync(lambda: wait_for(lambda: sleeping_statements() == 0))
