"""`lanterna memory reembed` moves a store to another embedder: every chunk embedded again,
searches on the old vectors until the new ones are complete, crash-safe at every step."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .helpers import own_store_env, run_lanterna

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "corpus"

CRASH = textwrap.dedent(
    """
    import os, sys
    import pixeltable as pxt
    from lanterna.guard import Guard
    from lanterna.memory import store
    from lanterna.memory.embedders import StaticEmbedder
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    where, n = sys.argv[1], int(sys.argv[2])
    calls, real_move, real_embed = {"move": 0, "embed": 0}, pxt.move, StaticEmbedder.embed
    def move(*args, **kwargs):  # the process dies at the n-th rename of the swap
        calls["move"] += 1
        if where == "move" and calls["move"] == n:
            os._exit(3)
        return real_move(*args, **kwargs)
    def embed(self, texts):  # or at the n-th batch of chunks embedded
        calls["embed"] += 1
        if where == "embed" and calls["embed"] == n:
            os._exit(3)
        return real_embed(self, texts)
    pxt.move, StaticEmbedder.embed, store.BULK_BATCH = move, embed, 10
    with Guard(get_host()).operation(RequestContext(transport="cli"), "memory.reembed", "service:*"):
        memory_service(get_host()).reembed("minilm-static")
    """
)

#: A reembed to a slow embedder in a thread, and searches meanwhile: what they found, and
#: whether the reembed was still running when each returned.
SEARCH_DURING = textwrap.dedent(
    """
    import json, threading, time
    from lanterna.guard import Guard
    from lanterna.memory import store
    from lanterna.memory.embedders import HashEmbedder
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    class Slow(HashEmbedder):
        name = "slow-hash"
        def embed(self, texts):
            time.sleep(0.3)
            return super().embed(texts)

    def op(action):
        return Guard(get_host()).operation(RequestContext(transport="cli"), action, "service:*")

    store.BULK_BATCH = 5
    with op("memory.stats"):
        opened = memory_service(get_host()).store()
    started = threading.Event()
    def reembed():
        with op("memory.reembed"):
            opened.reembed(Slow(), lambda done, total: started.set())
    worker = threading.Thread(target=reembed)
    worker.start()
    started.wait(60)
    answers = []
    while worker.is_alive() and len(answers) < 5:
        with op("memory.search"):
            hits = memory_service(get_host()).search("with_backoff", limit=1)
        answers.append([hits[0]["path"] if hits else None, worker.is_alive()])
    worker.join()
    with op("memory.stats"):
        print(json.dumps({"answers": answers, "embedder": memory_service(get_host()).stats()["embedder"]}))
    """
)


def _stats(env: dict[str, str]) -> dict:
    return json.loads(run_lanterna(env, "stats", "--json").stdout)


def _top_path(env: dict[str, str], query: str) -> str:
    return json.loads(run_lanterna(env, "search", query, "--json").stdout)[0]["path"]


@pytest.fixture
def hashed_store(tmp_path: Path) -> dict[str, str]:
    """A store built with the hashing embedder from bench/corpus; the env of a process with no embedder set."""
    run_lanterna(own_store_env(tmp_path, LANTERNA_EMBEDDER="hash-384"), "ingest", str(CORPUS), "-s", "shop")
    return own_store_env(tmp_path)


def test_a_store_keeps_its_embedder_until_reembed_moves_every_chunk(hashed_store: dict[str, str]) -> None:
    before = _stats(hashed_store)
    assert before["embedder"] == "hash-384" and before["chunks"] > 30  # no embedder configured: the store's own

    done = run_lanterna(hashed_store, "memory", "reembed", "--embedder", "minilm-static")
    assert f"re-embedded {before['chunks']} chunks with minilm-static (was hash-384)" in done.stdout

    after = _stats(hashed_store)
    assert after["embedder"] == "minilm-static" and after["chunks"] == before["chunks"]
    assert after["documents"] == before["documents"]
    assert _top_path(hashed_store, "retry a flaky network call with exponential backoff") == "shop/common/retry.py"
    again = run_lanterna(hashed_store, "memory", "reembed", "--embedder", "minilm-static")
    assert "already embedded with minilm-static: nothing to do" in again.stdout


def test_a_configured_embedder_that_differs_says_how_to_switch(hashed_store: dict[str, str]) -> None:
    env = {**hashed_store, "LANTERNA_EMBEDDER": "minilm-static"}
    refused = run_lanterna(env, "search", "retry", check=False)
    assert refused.returncode == 1
    assert "embedded with 'hash-384'" in refused.stderr
    assert "run `lanterna memory reembed --embedder minilm-static`" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    done = run_lanterna(env, "memory", "reembed")  # the configured embedder is the target
    assert "with minilm-static (was hash-384)" in done.stdout
    assert _stats(env)["embedder"] == "minilm-static"


def test_an_unknown_target_is_refused_before_anything_changes(hashed_store: dict[str, str]) -> None:
    refused = run_lanterna(hashed_store, "memory", "reembed", "--embedder", "no-such-model", check=False)
    assert refused.returncode == 1
    assert "no embedder named 'no-such-model' (available:" in refused.stderr
    assert _stats(hashed_store)["embedder"] == "hash-384"


def _crash(env: dict[str, str], where: str, n: int) -> None:
    crashed = subprocess.run([sys.executable, "-c", CRASH, where, str(n)], env=env, capture_output=True, timeout=300)
    assert crashed.returncode == 3, crashed.stderr


def test_searches_answer_from_the_old_vectors_while_a_reembed_runs(hashed_store: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SEARCH_DURING], env=hashed_store, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answers"] and all(path == "shop/common/retry.py" for path, _ in result["answers"])
    assert any(running for _, running in result["answers"]), "no search returned while the reembed ran"
    assert result["embedder"] == "slow-hash"


def test_a_reembed_killed_before_the_swap_leaves_the_old_store_whole_and_is_continued(
    hashed_store: dict[str, str],
) -> None:
    before = _stats(hashed_store)
    _crash(hashed_store, "embed", 3)  # two batches of ten chunks stored, then kill -9

    after = _stats(hashed_store)
    assert after["embedder"] == "hash-384" and after["chunks"] == before["chunks"]
    assert after["reembed"] == {"embedder": "minilm-static", "chunks_done": 20, "chunks_total": before["chunks"]}
    assert "reembed: 20 of" in run_lanterna(hashed_store, "stats").stdout
    assert _top_path(hashed_store, "with_backoff") == "shop/common/retry.py"

    done = run_lanterna(hashed_store, "memory", "reembed", "--embedder", "minilm-static")
    assert f"re-embedded {before['chunks']} chunks with minilm-static" in done.stdout
    assert "20 of them by the reembed that stopped" in done.stdout
    final = _stats(hashed_store)
    assert final["embedder"] == "minilm-static" and final["reembed"] is None and final["chunks"] == before["chunks"]


def test_a_reembed_killed_at_the_swap_is_continued_without_embedding_again(hashed_store: dict[str, str]) -> None:
    before = _stats(hashed_store)
    _crash(hashed_store, "move", 1)  # every chunk embedded and indexed, then kill -9

    assert _stats(hashed_store)["embedder"] == "hash-384"
    assert _top_path(hashed_store, "with_backoff") == "shop/common/retry.py"
    done = run_lanterna(hashed_store, "memory", "reembed", "--embedder", "minilm-static", "--json")
    report = json.loads(done.stdout)
    assert report["resumed"] == before["chunks"] and report["embedder"] == "minilm-static"


def test_a_reembed_killed_in_the_swap_is_finished_by_the_next_open(hashed_store: dict[str, str]) -> None:
    before = _stats(hashed_store)
    _crash(hashed_store, "move", 2)

    after = _stats(hashed_store)  # the new vectors were complete: the swap is finished
    assert after["embedder"] == "minilm-static" and after["chunks"] == before["chunks"]
    assert _top_path(hashed_store, "retry a flaky network call with exponential backoff") == "shop/common/retry.py"
