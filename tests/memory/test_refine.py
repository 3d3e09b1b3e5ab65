"""Reranking with a second embedder whose vectors are filled in in the background: searches
rank as that embedder does once every chunk has its vector, the filling is visible in
`lanterna stats`, survives kill -9, never holds a search up, and a daemon does it unasked.

The stores here are embedded with ``hash-384`` (lexical) and reranked with ``minilm-static``
(semantic): two real embedders that rank differently, both fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

from .helpers import LANTERNA, own_store_env, run_lanterna

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "corpus"
QUERIES = [
    "how do we retry a failed call with backoff",
    "what happens when card payments fail",
    "where are refunds given back to the customer",
    "decision about the message queue",
]

pytestmark = pytest.mark.slow


def reranked_env(tmp_path: Path, rerank: str = "minilm-static") -> dict[str, str]:
    return own_store_env(tmp_path, LANTERNA_EMBEDDER="hash-384", LANTERNA_RERANK=rerank)


def stats(env: dict[str, str]) -> dict:
    return json.loads(run_lanterna(env, "stats", "--json").stdout)


RANKINGS = textwrap.dedent(
    """
    import json, sys
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    def op(action):
        return Guard(get_host()).operation(RequestContext(transport="cli"), action, "service:*")

    memory = memory_service(get_host())
    if sys.argv[1]:
        with op("memory.ingest"):
            memory.ingest_path(sys.argv[1], "shop")
    out = {}
    for query in json.loads(sys.argv[2]):
        with op("memory.search"):
            hits = memory.search(query, limit=8)
        out[query] = [[h["path"], h["start_line"], h["score"]] for h in hits]
    print(json.dumps(out))
    """
)


def rankings(env: dict[str, str], ingest: Path | None = None) -> dict[str, list[list]]:
    """``{query: [[path, start_line, score], ...]}`` of ``QUERIES``, searched in one process."""
    args = [str(ingest or ""), json.dumps(QUERIES)]
    done = subprocess.run([sys.executable, "-c", RANKINGS, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def results(env: dict[str, str], query: str) -> list[tuple[str, int, float]]:
    hits = json.loads(run_lanterna(env, "search", query, "--json", "--limit", "8").stdout)
    return [(h["path"], h["start_line"], h["score"]) for h in hits]


def test_a_refined_store_ranks_as_its_rerank_embedder(tmp_path: Path) -> None:
    reranked = reranked_env(tmp_path / "reranked")
    run_lanterna(reranked, "ingest", str(CORPUS), "--service", "shop")
    chunks = stats(reranked)["chunks"]
    assert stats(reranked)["refined"] == {"embedder": "minilm-static", "chunks_done": 0, "chunks_pending": chunks}

    done = json.loads(run_lanterna(reranked, "memory", "refine", "--json").stdout)
    assert done == {"embedder": "minilm-static", "chunks_done": chunks, "chunks_pending": 0}
    assert f"refined: all {chunks} chunks" in run_lanterna(reranked, "stats").stdout

    # every chunk of this small corpus is a first-stage candidate: once refined, the ranking is
    # the one of a store embedded with the rerank embedder itself
    static = own_store_env(tmp_path / "static", LANTERNA_EMBEDDER="minilm-static", LANTERNA_RERANK="off")
    lexical = own_store_env(tmp_path / "lexical", LANTERNA_EMBEDDER="hash-384")
    got, expected, plain = rankings(reranked), rankings(static, CORPUS), rankings(lexical, CORPUS)
    for query in QUERIES:
        assert [h[:2] for h in got[query]] == [h[:2] for h in expected[query]], query
        assert [h[2] for h in got[query]] == pytest.approx([h[2] for h in expected[query]], abs=2e-3), query
    assert any([h[:2] for h in plain[q]] != [h[:2] for h in got[q]] for q in QUERIES), "the rerank changed nothing"


def test_new_and_forgotten_chunks_are_pending_and_dropped(tmp_path: Path) -> None:
    env = reranked_env(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    for n in range(3):
        (repo / f"mod{n}.py").write_text(f"def handler_{n}(order):\n    return order.total * {n}\n")
    run_lanterna(env, "ingest", str(repo), "--service", "svc")
    run_lanterna(env, "memory", "refine")
    (repo / "mod3.py").write_text("def shipping_cost(parcel):\n    return parcel.weight * 2\n")
    (repo / "mod0.py").unlink()
    run_lanterna(env, "ingest", str(repo), "--service", "svc")
    assert stats(env)["refined"] == {"embedder": "minilm-static", "chunks_done": 2, "chunks_pending": 1}
    run_lanterna(env, "memory", "refine")
    assert stats(env)["refined"]["chunks_pending"] == 0

    purged = run_lanterna(env, "memory-purge", "--yes")
    assert "purged" in purged.stdout
    assert stats(env)["refined"] == {"embedder": "minilm-static", "chunks_done": 3, "chunks_pending": 0}


KILLED = textwrap.dedent(
    """
    import os
    from lanterna.guard import Guard
    from lanterna.memory import refine
    from lanterna.memory.embedders import StaticEmbedder
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    calls, real_embed = [0], StaticEmbedder.embed
    def embed(self, texts):  # the process dies at the second batch the filler embeds
        if len(texts) > 1:
            calls[0] += 1
            if calls[0] == 2:
                os._exit(3)
        return real_embed(self, texts)
    StaticEmbedder.embed, refine.STEP = embed, 10
    with Guard(get_host()).operation(RequestContext(transport="cli"), "memory.refine", "service:*"):
        memory_service(get_host()).refine()
    """
)


def test_a_killed_refine_keeps_what_it_stored_and_the_next_one_finishes(tmp_path: Path) -> None:
    env = reranked_env(tmp_path)
    run_lanterna(env, "ingest", str(CORPUS), "--service", "shop")
    total = stats(env)["chunks"]
    killed = subprocess.run([sys.executable, "-c", KILLED], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 3, killed.stderr[-2000:]
    assert stats(env)["refined"] == {"embedder": "minilm-static", "chunks_done": 10, "chunks_pending": total - 10}
    assert results(env, QUERIES[0])  # the store answers after the kill
    done = json.loads(run_lanterna(env, "memory", "refine", "--json").stdout)
    assert done["chunks_done"] == total and done["chunks_pending"] == 0


SEARCH_DURING = textwrap.dedent(
    """
    import json, threading, time
    from lanterna.guard import Guard
    from lanterna.memory import refine
    from lanterna.memory.embedders import StaticEmbedder
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    real_embed = StaticEmbedder.embed
    def embed(self, texts):
        if threading.current_thread().name == "lanterna-refine":
            time.sleep(1.0)  # a slow model, in the background filler only
        return real_embed(self, texts)
    # the searches embed none of their candidates themselves: the filler has every chunk to do
    StaticEmbedder.embed, refine.STEP, refine.AT_ONCE = embed, 4, 0

    def op(action):
        return Guard(get_host()).operation(RequestContext(transport="cli"), action, "service:*")

    from lanterna.memory.store import refine_in_background
    with op("memory.stats"):
        opened = memory_service(get_host()).store()
    refine_in_background()
    answers = []
    while len(answers) < 5:
        with op("memory.search"):
            hits = memory_service(get_host()).search("retry with backoff", limit=3)
        answers.append({"found": hits[0]["path"], "filling": opened.refiner.progress()["chunks_pending"] > 0})
    print(json.dumps(answers))
    """
)


def test_searches_answer_while_the_background_filler_works(tmp_path: Path) -> None:
    env = reranked_env(tmp_path)
    run_lanterna(env, "ingest", str(CORPUS), "--service", "shop")
    done = subprocess.run([sys.executable, "-c", SEARCH_DURING], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(a["found"] == "shop/common/retry.py" for a in answers)
    assert all(a["filling"] for a in answers), answers


def test_the_daemon_fills_the_vectors_unasked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = subprocess_env(
        home,
        own_store=True,
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_EMBEDDER="hash-384",
        LANTERNA_RERANK="minilm-static",
        LANTERNA_NO_DAEMON="",
        LANTERNA_DAEMON_IDLE_S="5",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LANTERNA, *args], capture_output=True, text=True, env=env, cwd=home, timeout=180)

    try:
        assert run("ingest", str(CORPUS), "--service", "shop").returncode == 0
        deadline = time.monotonic() + 120
        state = json.loads(run("stats", "--json").stdout)["refined"]
        while state["chunks_pending"] and time.monotonic() < deadline:
            time.sleep(1)
            state = json.loads(run("stats", "--json").stdout)["refined"]
        assert state["chunks_pending"] == 0 and state["chunks_done"] > 0
        # a refine asked of the daemon that fills the store finds nothing left to do
        again = run("memory", "refine")
        assert again.returncode == 0 and "0 pending" in again.stdout
    finally:
        run("daemon", "stop")


def test_an_unknown_rerank_embedder_is_one_line_that_says_what_to_set(tmp_path: Path) -> None:
    env = reranked_env(tmp_path, rerank="no-such-model")
    done = run_lanterna(env, "search", "anything", check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no embedder named 'no-such-model'" in lines[0] and "[memory] rerank" in lines[0]


def test_refine_without_a_rerank_embedder_says_how_to_set_one(tmp_path: Path) -> None:
    env = own_store_env(tmp_path, LANTERNA_EMBEDDER="hash-384")
    run_lanterna(env, "note", "the release train leaves on Thursdays")
    done = run_lanterna(env, "memory", "refine", check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "lanterna: this store has no rerank embedder, so there is nothing to refine; set [memory] rerank"
        " (MiniLM reranks a minilm-static store by default)"
    ]
    assert stats(env)["refined"] is None


def test_a_reembed_to_the_table_keeps_the_old_vectors_to_rerank_with(tmp_path: Path) -> None:
    built = own_store_env(tmp_path, LANTERNA_EMBEDDER="hash-384", LANTERNA_RERANK="hash-384")
    run_lanterna(built, "ingest", str(CORPUS), "--service", "shop")
    chunks = stats(built)["chunks"]
    assert stats(built)["refined"] is None  # a store reranked by its own embedder has nothing to refine

    moved = json.loads(run_lanterna(built, "memory", "reembed", "--embedder", "minilm-static", "--json").stdout)
    assert moved["embedder"] == "minilm-static" and moved["rerank_vectors_kept"] == chunks
    after = own_store_env(tmp_path, LANTERNA_RERANK="hash-384")  # the store's own embedder from now on
    assert stats(after)["refined"] == {"embedder": "hash-384", "chunks_done": chunks, "chunks_pending": 0}
    assert results(after, QUERIES[0])[0][0] == "shop/common/retry.py"


PER_TENANT = textwrap.dedent(
    """
    import json
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    def op(tenant, action):
        return Guard(get_host()).operation(RequestContext(transport="test", tenant=tenant), action, "service:*")

    notes = {
        "acme": ["invoices are sent on the first", "refunds need two approvers"],
        "globex": ["deploys stop on Fridays"],
    }
    for tenant, texts in notes.items():
        for text in texts:
            with op(tenant, "memory.note"):
                memory_service(get_host()).add_record("note", text)
    out = {}
    for tenant in notes:
        with op(tenant, "memory.stats"):
            out[tenant] = memory_service(get_host()).stats()["refined"]
    print(json.dumps(out))
    """
)


def test_stats_count_the_rerank_vectors_of_the_callers_tenant_only(tmp_path: Path) -> None:
    env = reranked_env(tmp_path)
    done = subprocess.run([sys.executable, "-c", PER_TENANT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    refined = json.loads(done.stdout.strip().splitlines()[-1])
    assert refined["acme"] == {"embedder": "minilm-static", "chunks_done": 0, "chunks_pending": 2}
    assert refined["globex"] == {"embedder": "minilm-static", "chunks_done": 0, "chunks_pending": 1}


@pytest.mark.anyio
async def test_a_server_fills_the_vectors_and_sends_a_bad_rerank_setting_to_its_client(tmp_path: Path) -> None:
    import anyio
    from mcp import Client, StdioServerParameters

    def text_of(result: object) -> str:
        return "\n".join(getattr(block, "text", "") for block in getattr(result, "content", []))

    bad = reranked_env(tmp_path / "bad", rerank="no-such-model")
    async with Client(StdioServerParameters(command=LANTERNA[0], args=["serve"], env=bad)) as client:
        failed = await client.call_tool("memory_search", {"query": "retry with backoff"})
    assert failed.is_error
    assert "no embedder named 'no-such-model'" in text_of(failed) and "[memory] rerank" in text_of(failed)

    env = reranked_env(tmp_path / "good")
    async with Client(StdioServerParameters(command=LANTERNA[0], args=["serve"], env=env)) as client:
        ingested = await client.call_tool("memory_ingest", {"path": str(CORPUS), "service": "shop"})
        assert not ingested.is_error, text_of(ingested)
        with anyio.fail_after(120):
            while True:
                refined = (await client.call_tool("memory_stats", {})).structured_content["refined"]
                if refined["chunks_pending"] == 0:
                    break
                await anyio.sleep(0.5)
    assert refined["chunks_done"] == ingested.structured_content["chunks"]
