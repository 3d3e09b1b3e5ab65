"""Retrieval quality on a fixed corpus: recall@5 and MRR, pure vector vs hybrid.

    python bench/retrieval_quality.py [--embedder minilm-l6-v2-int8]

Ingests bench/corpus (31 files: Python, Go, Markdown runbooks and ADRs) into a fresh store and
runs the queries of bench/retrieval_queries.json; a query counts as found at rank r when one of
its relevant files is the r-th distinct file in the results.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import HERE, isolated_home, operation, say


def ranks(hits: list[dict], relevant: set[str]) -> int | None:
    files: list[str] = []
    for hit in hits:
        if hit["path"] not in files:
            files.append(hit["path"])
    for rank, path in enumerate(files, 1):
        if path in relevant:
            return rank
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="minilm-l6-v2-int8")
    args = parser.parse_args()
    isolated_home(args.embedder)
    from lanterna.memory import api
    from lanterna.memory.store import close_store

    queries = json.loads((HERE / "retrieval_queries.json").read_text())
    with operation():
        started = time.perf_counter()
        report = api.ingest_path(str(HERE / "corpus"), "shop")
        say(
            f"embedder {args.embedder}: ingested {report['added']} files, {report['chunks']} chunks"
            f" in {time.perf_counter() - started:.1f}s"
        )
        kinds = {"all": queries}
        for kind in ("natural", "identifier"):
            kinds[kind] = [q for q in queries if q["type"] == kind]
        say(", ".join(f"{len(qs)} {kind}" for kind, qs in kinds.items()) + " queries")
        for mode in ("vector", "hybrid"):
            found = {
                q["query"]: ranks(api.search(q["query"], limit=20, mode=mode), set(q["relevant"])) for q in queries
            }
            for kind, subset in kinds.items():
                at = [found[q["query"]] for q in subset]
                recall5 = sum(1 for r in at if r is not None and r <= 5) / len(at)
                mrr = sum(1 / r for r in at if r is not None) / len(at)
                top1 = sum(1 for r in at if r == 1) / len(at)
                say(f"{mode:>6} {kind:<10}: recall@5 {recall5:.3f}  MRR {mrr:.3f}  top-1 {top1:.3f}")
            misses = [f"{q} (rank {r})" for q, r in found.items() if r is None or r > 5]
            if misses:
                say("        missed in top 5: " + "; ".join(misses))
    close_store()


if __name__ == "__main__":
    main()
