"""Search latency at 10k chunks, query embedding included, with and without a tenant filter.

    python bench/search_latency.py [--chunks 10000] [--queries 100]

Bulk rows are embedded with the hashing embedder (embedding 10k chunks with MiniLM takes
~25 min on 2 cores and does not change the index's speed); queries go through the real
default model (MiniLM) and the store's full search path. The big tenant holds 90% of the
chunks, the small one 10%. Also counts how many of the top-50 come back for the small
tenant with pgvector's iterative scan switched off and on.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import isolated_home, operation, say

QUERIES = ["retry the payment when the processor times out", "refund_order", "where is the session token stored",
           "validate a barcode", "send an email to the customer", "parse the config file", "reserve stock",
           "rate limit requests", "database failover runbook", "json logging"]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    isolated_home("minilm-l6-v2-int8")
    from lanterna.memory import api, runtime
    from lanterna.memory.embedders import HashEmbedder
    from lanterna.memory.search import search
    from lanterna.memory.store import ChunkIn, DocumentIn, close_store

    small_n = args.chunks // 10
    with operation():
        store = api.store()
        real = store.embedder
        store.embedder = HashEmbedder()
        started = time.perf_counter()
        for tenant, n in (("big", args.chunks - small_n), ("small", small_n)):
            for start in range(0, n, 500):
                docs = [
                    DocumentIn("code", f"{tenant}/f{i}.py", "h",
                               [ChunkIn(1, 3, f"def {QUERIES[i % len(QUERIES)].replace(' ', '_')}_{i}(): pass  # {i}")])
                    for i in range(start, min(n, start + 500))
                ]
                store.write(tenant, "svc", docs)
        store.embedder = real
        say(f"inserted {args.chunks} chunks ({args.chunks - small_n} tenant 'big', {small_n} tenant 'small')"
            f" in {time.perf_counter() - started:.0f}s")
        real.embed(["warm up"])
        for tenant in ("big", "small"):
            search(store, tenant, "warm up", limit=10)

        def measure(label: str, fn) -> None:
            times = []
            for i in range(args.queries):
                query = QUERIES[i % len(QUERIES)] + f" {i}"
                t0 = time.perf_counter()
                fn(query)
                times.append((time.perf_counter() - t0) * 1000)
            say(f"{label:<46} p50 {statistics.median(times):6.1f} ms   p95 {pct(times, 0.95):6.1f} ms")

        embed_only = []
        for i in range(args.queries):
            t0 = time.perf_counter()
            real.embed([QUERIES[i % len(QUERIES)] + f" {i}"])
            embed_only.append((time.perf_counter() - t0) * 1000)
        say(f"{'query embedding alone (MiniLM)':<46} p50 {statistics.median(embed_only):6.1f} ms"
            f"   p95 {pct(embed_only, 0.95):6.1f} ms")
        c = store.chunks
        measure("vector, no filter (top 10)", lambda q: _unfiltered(store, real.embed([q])[0]))
        measure("vector, tenant filter 'big' 90% (top 10)", lambda q: search(store, "big", q, limit=10, mode="vector"))
        measure("vector, tenant filter 'small' 10% (top 10)",
                lambda q: search(store, "small", q, limit=10, mode="vector"))
        measure("hybrid, tenant filter 'small' (top 10)", lambda q: search(store, "small", q, limit=10))
        vector = real.embed(["reserve stock"])[0]
        for label, settings in (("off", {"hnsw.iterative_scan": "off"}), ("on", dict(runtime.VECTOR_SETTINGS))):
            saved = dict(runtime.VECTOR_SETTINGS)
            runtime.VECTOR_SETTINGS.clear()
            runtime.VECTOR_SETTINGS.update(settings)
            from pixeltable.env import Env

            Env.get().engine.dispose()
            got = len(store.vector_search("small", vector, limit=50))
            runtime.VECTOR_SETTINGS.clear()
            runtime.VECTOR_SETTINGS.update(saved)
            Env.get().engine.dispose()
            say(f"top-50 for tenant 'small', iterative scan {label:<3}: {got}/50 rows")
        del c
    close_store()


def _unfiltered(store, vector):
    import numpy as np

    c = store.chunks
    sim = c.embedding.similarity(vector=np.asarray(vector, dtype=np.float32), idx="semantic")
    return list(c.select(c.path, score=sim).order_by(sim, asc=False).limit(10).collect())


if __name__ == "__main__":
    main()
