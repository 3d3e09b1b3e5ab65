"""Search latency at 10k chunks, query embedding included, with and without a tenant filter.

    python bench/search_latency.py [--chunks 10000] [--queries 100]

Chunks are generated code-like snippets (one small function each), embedded with the default
model (MiniLM; `--hash-bulk` uses the hashing embedder instead, faster but unrealistic for the
HNSW graph); queries go through MiniLM and the store's full search path. Tenant 'big' holds 89% of the
chunks, 'small' 10%, 'tiny' 1%. Also counts how many of a top-100 come back for each filtered
tenant with pgvector's iterative scan switched off and on.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _common import WORDS, isolated_home, operation, say

QUERIES = [
    "retry the payment when the processor times out",
    "refund_order",
    "where is the session token stored",
    "validate a barcode",
    "send an email to the customer",
    "parse the config file",
    "reserve stock",
    "rate limit requests",
    "database failover runbook",
    "json logging",
]


def snippet(rng: random.Random, i: int) -> str:
    a, b, c, d = rng.sample(WORDS, 4)
    return (
        f'def {a}_{b}_{i}({c}, {d}):\n    """Update the {c} of a {a} when the {b} changes."""\n'
        f"    return {d}.{rng.choice(WORDS)}({c}, limit={rng.randint(1, 500)})"
    )


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ef-search", help="override hnsw.ef_search (to compare settings)")
    parser.add_argument("--scan", help="override hnsw.iterative_scan: strict_order, relaxed_order")
    parser.add_argument("--hash-bulk", action="store_true", help="embed the bulk rows with the hashing embedder")
    args = parser.parse_args()
    isolated_home("minilm-l6-v2-int8")
    from lanterna.memory import runtime
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host

    if args.ef_search:
        runtime.VECTOR_SETTINGS["hnsw.ef_search"] = args.ef_search
    if args.scan:
        runtime.VECTOR_SETTINGS["hnsw.iterative_scan"] = args.scan
    say("pgvector settings: " + ", ".join(f"{k}={v}" for k, v in runtime.VECTOR_SETTINGS.items()))
    from lanterna.memory.embedders import HashEmbedder
    from lanterna.memory.search import search
    from lanterna.memory.store import ChunkIn, DocumentIn, close_store

    small_n, tiny_n = args.chunks // 10, args.chunks // 100
    sizes = {"big": args.chunks - small_n - tiny_n, "small": small_n, "tiny": tiny_n}
    with operation():
        store = memory_service(get_host()).store()
        real = store.embedder
        if args.hash_bulk:
            store.embedder = HashEmbedder()
        rng = random.Random(1)
        started = time.perf_counter()
        for tenant, n in sizes.items():
            for start in range(0, n, 500):
                docs = [
                    DocumentIn("code", f"{tenant}/f{i}.py", "h", [ChunkIn(1, 3, snippet(rng, i))])
                    for i in range(start, min(n, start + 500))
                ]
                store.write(tenant, "svc", docs)
        store.embedder = real
        from lanterna.memory import pxt_adapter

        pxt_adapter.analyze(store.chunks)  # fresh planner statistics, as autovacuum keeps them on a live store
        say(
            f"inserted {args.chunks} chunks ({', '.join(f'{n} tenant {t!r}' for t, n in sizes.items())})"
            f" in {time.perf_counter() - started:.0f}s"
        )
        real.embed(["warm up"])
        for tenant in sizes:
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
        say(
            f"{'query embedding alone (MiniLM)':<46} p50 {statistics.median(embed_only):6.1f} ms"
            f"   p95 {pct(embed_only, 0.95):6.1f} ms"
        )
        c = store.chunks
        measure("vector, no filter (top 10)", lambda q: _unfiltered(store, real.embed([q])[0]))
        for tenant, n in sizes.items():
            share = f"{100 * n / args.chunks:.0f}%"
            measure(
                f"vector, tenant filter {tenant!r} {share} (top 10)",
                lambda q, t=tenant: search(store, t, q, limit=10, mode="vector"),
            )
        measure("hybrid, tenant filter 'small' (top 10)", lambda q: search(store, "small", q, limit=10))
        vector = real.embed(["reserve stock"])[0]
        for label, settings in (("off", {"hnsw.iterative_scan": "off"}), ("on", dict(runtime.VECTOR_SETTINGS))):
            saved = dict(runtime.VECTOR_SETTINGS)
            runtime.VECTOR_SETTINGS.clear()
            runtime.VECTOR_SETTINGS.update(settings)
            pxt_adapter.engine().dispose()
            got = {t: len(store.vector_search(t, vector, limit=100)) for t in sizes}
            runtime.VECTOR_SETTINGS.clear()
            runtime.VECTOR_SETTINGS.update(saved)
            pxt_adapter.engine().dispose()
            say(f"top-100 with iterative scan {label:<3}: " + ", ".join(f"{t!r} {n}/100" for t, n in got.items()))
        del c
    close_store()


def _unfiltered(store, vector):
    import numpy as np

    c = store.chunks
    sim = c.embedding.similarity(vector=np.asarray(vector, dtype=np.float32), idx="semantic")
    return list(c.select(c.path, score=sim).order_by(sim, asc=False).limit(10).collect())


if __name__ == "__main__":
    main()
