"""CLI latency of memory commands: `lanterna search` and an unchanged `lanterna ingest`, each a
separate process, through the memory daemon (the default) and without it (--no-daemon), against
the same search inside a running process.

    python bench/cli_latency.py [--runs 20] [--no-daemon-runs 3] [--embedder minilm-static]

The first call starts the daemon (Pixeltable, its PostgreSQL, the model); the next ``--runs``
calls are timed one after another; then ``--runs`` different questions of
bench/retrieval_queries.json, one call each. The corpus is bench/corpus (31 files).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import HERE, isolated_home, operation, say

LANTERNA = str(Path(sys.executable).with_name("lanterna"))
QUERY = "how are refunds above the limit approved"


def timed(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([LANTERNA, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"lanterna {' '.join(args)} failed: {done.stderr.strip()}")
    return elapsed


def figures(label: str, first: float | None, times: list[float]) -> None:
    times = sorted(times)
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    head = f"first {first * 1000:6.0f} ms   " if first is not None else " " * 21
    say(
        f"{label:<34} {head}then median {statistics.median(times) * 1000:6.0f} ms"
        f"  p90 {p90 * 1000:6.0f} ms  (n={len(times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-daemon-runs", type=int, default=3)
    parser.add_argument("--embedder", default="minilm-static")
    args = parser.parse_args()
    home = isolated_home(args.embedder)
    os.environ["LANTERNA_NO_DAEMON"] = ""
    corpus = str(HERE / "corpus")
    search = ("search", QUERY, "--service", "shop", "-n", "5")
    ingest = ("ingest", corpus, "--service", "shop")
    say(f"embedder {args.embedder}; home {home}")
    try:
        first_ingest = timed(*ingest)  # starts the daemon and embeds the corpus
        say(f"first `lanterna ingest` (starts the daemon, embeds {corpus}): {first_ingest:.1f} s")
        first_search = timed(*search)
        figures("lanterna search (daemon)", first_search, [timed(*search) for _ in range(args.runs)])
        import json

        questions = [q["query"] for q in json.loads((HERE / "retrieval_queries.json").read_text())][: args.runs]
        figures(
            "lanterna search, new questions",
            None,
            [timed("search", q, "--service", "shop", "-n", "5") for q in questions],
        )
        figures("lanterna ingest, unchanged (daemon)", None, [timed(*ingest) for _ in range(args.runs)])
        timed("daemon", "stop")
        first_cold = timed("--no-daemon", *search)
        cold = [timed("--no-daemon", *search) for _ in range(args.no_daemon_runs)]
        figures("lanterna --no-daemon search", first_cold, cold)
        figures("lanterna --no-daemon ingest, unchanged", None, [timed("--no-daemon", *ingest) for _ in range(3)])
        from lanterna.memory.memory import memory_service
        from lanterna.memory.store import close_store
        from lanterna.plugins import get_host

        with operation():
            service = memory_service(get_host())
            service.search(QUERY, service="shop", limit=5)  # open the store, load the model
            inside = []
            for _ in range(args.runs):
                started = time.perf_counter()
                service.search(QUERY, service="shop", limit=5)
                inside.append(time.perf_counter() - started)
        figures("same search in a running process", None, inside)
        close_store()
    finally:
        subprocess.run([LANTERNA, "daemon", "stop"], capture_output=True)


if __name__ == "__main__":
    main()
