"""`lanterna memory reembed` moves a store to another embedder: every chunk embedded again,
searches on the old vectors until the new ones are complete, crash-safe at every step."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "corpus"

CRASH = textwrap.dedent(
    """
    import os, sys
    import pixeltable as pxt
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    moves, real_move = [], pxt.move
    def move(*args, **kwargs):  # the process dies at the n-th rename of the swap
        moves.append(args)
        if len(moves) == int(sys.argv[1]):
            os._exit(3)
        return real_move(*args, **kwargs)
    pxt.move = move
    with Guard(get_host()).operation(RequestContext(transport="cli"), "memory.reembed", "service:*"):
        memory_service(get_host()).reembed("minilm-static")
    """
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return subprocess_env(
        tmp_path / "lanterna",
        own_store=True,
        LANTERNA_PIXELTABLE_HOME=str(tmp_path / "pxt"),
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_NO_DAEMON="1",
        **extra,
    )


def _lanterna(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "lanterna", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _stats(env: dict[str, str]) -> dict:
    return json.loads(_lanterna(env, "stats", "--json").stdout)


def _top_path(env: dict[str, str], query: str) -> str:
    return json.loads(_lanterna(env, "search", query, "--json").stdout)[0]["path"]


@pytest.fixture
def hashed_store(tmp_path: Path) -> dict[str, str]:
    """A store built with the hashing embedder from bench/corpus; the env of a process with no embedder set."""
    _lanterna(_env(tmp_path, LANTERNA_EMBEDDER="hash-384"), "ingest", str(CORPUS), "-s", "shop")
    return _env(tmp_path)


def test_a_store_keeps_its_embedder_until_reembed_moves_every_chunk(hashed_store: dict[str, str]) -> None:
    before = _stats(hashed_store)
    assert before["embedder"] == "hash-384" and before["chunks"] > 30  # no embedder configured: the store's own

    done = _lanterna(hashed_store, "memory", "reembed", "--embedder", "minilm-static")
    assert f"re-embedded {before['chunks']} chunks with minilm-static (was hash-384)" in done.stdout

    after = _stats(hashed_store)
    assert after["embedder"] == "minilm-static" and after["chunks"] == before["chunks"]
    assert after["documents"] == before["documents"]
    assert _top_path(hashed_store, "retry a flaky network call with exponential backoff") == "shop/common/retry.py"
    again = _lanterna(hashed_store, "memory", "reembed", "--embedder", "minilm-static")
    assert "already embedded with minilm-static: nothing to do" in again.stdout


def test_a_configured_embedder_that_differs_says_how_to_switch(hashed_store: dict[str, str]) -> None:
    env = {**hashed_store, "LANTERNA_EMBEDDER": "minilm-static"}
    refused = _lanterna(env, "search", "retry", check=False)
    assert refused.returncode == 1
    assert "embedded with 'hash-384'" in refused.stderr
    assert "run `lanterna memory reembed --embedder minilm-static`" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    done = _lanterna(env, "memory", "reembed")  # the configured embedder is the target
    assert "with minilm-static (was hash-384)" in done.stdout
    assert _stats(env)["embedder"] == "minilm-static"


def test_an_unknown_target_is_refused_before_anything_changes(hashed_store: dict[str, str]) -> None:
    refused = _lanterna(hashed_store, "memory", "reembed", "--embedder", "no-such-model", check=False)
    assert refused.returncode == 1
    assert "no embedder named 'no-such-model' (available:" in refused.stderr
    assert _stats(hashed_store)["embedder"] == "hash-384"


def test_a_reembed_killed_before_the_swap_leaves_the_old_store_whole(hashed_store: dict[str, str]) -> None:
    before = _stats(hashed_store)
    crashed = subprocess.run([sys.executable, "-c", CRASH, "1"], env=hashed_store, capture_output=True, timeout=300)
    assert crashed.returncode == 3, crashed.stderr

    after = _stats(hashed_store)
    assert after["embedder"] == "hash-384" and after["chunks"] == before["chunks"]
    assert _top_path(hashed_store, "with_backoff") == "shop/common/retry.py"
    _lanterna(hashed_store, "memory", "reembed", "--embedder", "minilm-static")  # and it can run again
    assert _stats(hashed_store)["embedder"] == "minilm-static"


def test_a_reembed_killed_in_the_swap_is_finished_by_the_next_open(hashed_store: dict[str, str]) -> None:
    before = _stats(hashed_store)
    crashed = subprocess.run([sys.executable, "-c", CRASH, "2"], env=hashed_store, capture_output=True, timeout=300)
    assert crashed.returncode == 3, crashed.stderr

    after = _stats(hashed_store)  # the new vectors were complete: the swap is finished
    assert after["embedder"] == "minilm-static" and after["chunks"] == before["chunks"]
    assert _top_path(hashed_store, "retry a flaky network call with exponential backoff") == "shop/common/retry.py"
