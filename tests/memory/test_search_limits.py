"""One search cannot hold up the store: its terms, its time and its lock are bounded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lanterna.memory import store as store_module
from lanterna.memory.api import MemoryUsageError

from .helpers import memory, operation, write_tree


def test_an_overlong_query_is_refused_in_one_line() -> None:
    with operation(), pytest.raises(MemoryUsageError) as refused:
        memory().search("parse_config " * 100)
    assert str(refused.value) == (
        "the search query has 1299 characters; use at most 1000 (a question or a few identifiers)"
    )


def test_a_query_full_of_identifiers_runs_at_most_eight_literal_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "svc", {f"m{i}.py": f"def parse_cfg_{i}():\n    return {i}\n" for i in range(12)})
    searched: list[list[str]] = []
    text_search = store_module.MemoryStore.text_search

    def spy(self, tenant, terms, *args, **kwargs):
        searched.append(list(terms))
        return text_search(self, tenant, terms, *args, **kwargs)

    monkeypatch.setattr(store_module.MemoryStore, "text_search", spy)
    query = " ".join(f"parse_cfg_{i}" for i in range(100))  # 100 identifiers
    with operation():
        memory().ingest_path(str(root), "cfg")
        hits = memory().search(query[:999], service="cfg", limit=20)
    assert len(searched) == 1 and len(searched[0]) == 8
    assert searched[0] == [f"parse_cfg_{i}" for i in range(8)]
    assert {h["path"] for h in hits} >= {f"m{i}.py" for i in range(8)}


def test_every_store_connection_has_a_statement_timeout_and_a_timeout_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import text

    from lanterna.memory.pxt_adapter import engine

    with operation():
        memory().stats()
    with engine().connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "30s"
        conn.execute(text("SET statement_timeout = 50"))
        with pytest.raises(Exception) as cancelled:  # what Postgres raises when it stops a statement
            conn.execute(text("SELECT pg_sleep(2)"))
        conn.rollback()
        conn.execute(text("SET statement_timeout = 30000"))
    error = cancelled.value

    def stopped(*args, **kwargs):
        raise error

    monkeypatch.setattr(store_module.MemoryStore, "vector_search", stopped)
    with operation(), pytest.raises(MemoryUsageError) as refused:
        memory().search("retry the payment")
    assert str(refused.value) == (
        "the search took longer than 30 s and was stopped; narrow it with service=, kind= or path="
    )


def test_index_builds_run_untimed_and_the_connection_gets_its_limit_back() -> None:
    from sqlalchemy import text

    from lanterna.memory.pxt_adapter import engine
    from lanterna.memory.runtime import untimed

    with operation():
        memory().stats()
    with untimed(), engine().connect() as conn:  # what create_vector_index runs under
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
    with untimed():  # a bulk load around its index build: still untimed after the inner one
        with untimed():
            pass
        with engine().connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
    seen = set()
    for _ in range(3):  # the pool hands back the same connections: each has its limit again
        with engine().connect() as conn:
            seen.add(conn.execute(text("SHOW statement_timeout")).scalar())
    assert seen == {"30s"}


def test_a_slow_query_of_one_tenant_does_not_hold_up_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(tmp_path / "svc", {"a.py": "def slow_path():\n    return 1\n"})
    with operation(tenant="slow-tenant"):
        memory().ingest_path(str(root), "svc")
    with operation(tenant="other-tenant"):
        memory().add_record("note", "the other tenant's note")
    hit = store_module._hit
    in_query = threading.Event()

    def slow_hit(row, score):
        if threading.current_thread().name == "slow-search":  # a query that runs for seconds
            in_query.set()
            time.sleep(3)
        return hit(row, score)

    monkeypatch.setattr(store_module, "_hit", slow_hit)

    def slow_search() -> None:
        with operation(tenant="slow-tenant"):
            memory().search("slow_path", service="svc", limit=1)

    worker = threading.Thread(target=slow_search, name="slow-search")
    worker.start()
    assert in_query.wait(30)
    started = time.perf_counter()
    with operation(tenant="other-tenant"):
        stats = memory().stats()
        found = memory().search("note", limit=1)
    waited = time.perf_counter() - started
    worker.join(30)
    assert stats["documents"] == 1 and found
    assert waited < 2.0, f"another tenant waited {waited:.1f} s for a query that was not theirs"
