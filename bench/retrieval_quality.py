"""Retrieval quality: file-level recall@5 and MRR, symbol-level recall@5, pure vector vs hybrid.

    python bench/retrieval_quality.py [--embedder minilm-l6-v2-int8] [--set shop|stdlib|all]

Two sets, each ingested into a fresh store as its own service:

- ``shop``: bench/corpus (31 small files: Python, Go, Markdown runbooks and ADRs written for
  this benchmark) and the 48 queries of bench/retrieval_queries.json;
- ``stdlib``: modules of Python's standard library this project did not write (json,
  urllib.parse, textwrap, csv, difflib…, with urllib.request and http.client as distractors)
  and the 52 questions of bench/stdlib_queries.json.

File level: a query is found at rank r when one of its relevant files is the r-th distinct file
in the results. Symbol level: found when one of the first 5 results lies in a relevant file and
overlaps the lines of one of the query's symbols (a function, class, method or module-level
name, located with ``ast`` in the ingested file).
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sysconfig
import tempfile
import time
from pathlib import Path

from _common import HERE, isolated_home, operation, say

STDLIB_DISTRACTORS = ["urllib/request.py", "http/client.py"]


def ranks(hits: list[dict], relevant: set[str]) -> int | None:
    files: list[str] = []
    for hit in hits:
        if hit["path"] not in files:
            files.append(hit["path"])
    for rank, path in enumerate(files, 1):
        if path in relevant:
            return rank
    return None


def symbol_spans(source: str) -> dict[str, tuple[int, int]]:
    """``{qualified name: (first line, last line)}`` of the definitions and module-level names."""
    spans: dict[str, tuple[int, int]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                spans[prefix + node.name] = (first, node.end_lineno or node.lineno)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, prefix + node.name + ".")
            elif not prefix and isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        spans[target.id] = (node.lineno, node.end_lineno or node.lineno)

    visit(ast.parse(source).body, "")
    return spans


def symbol_found(hits: list[dict], query: dict, spans: dict[str, dict[str, tuple[int, int]]]) -> bool:
    for hit in hits[:5]:
        if hit["path"] not in query["relevant"] or not hit["start_line"]:
            continue
        for name in query["symbols"]:
            span = spans[hit["path"]].get(name)
            if span and hit["start_line"] <= span[1] and hit["end_line"] >= span[0]:
                return True
    return False


def stdlib_tree() -> tuple[Path, list[dict]]:
    """A folder holding the standard library modules the questions are about, and the questions."""
    queries = json.loads((HERE / "stdlib_queries.json").read_text())
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    folder = Path(tempfile.mkdtemp(prefix="lanterna-stdlib-"))
    for rel in sorted({p for q in queries for p in q["relevant"]} | set(STDLIB_DISTRACTORS)):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stdlib / rel, folder / rel)
    return folder, queries


def evaluate(name: str, folder: Path, queries: list[dict]) -> None:
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host

    started = time.perf_counter()
    report = memory_service(get_host()).ingest_path(str(folder), name)
    say(
        f"[{name}] ingested {report['added']} files, {report['chunks']} chunks in {time.perf_counter() - started:.1f}s"
        f" ({report['chunks'] / max(report['embed_seconds'], 1e-9):.1f} chunks/s embedding)"
    )
    spans: dict[str, dict[str, tuple[int, int]]] = {}
    for q in queries:
        for rel in q["relevant"]:
            if rel.endswith(".py") and rel not in spans:
                spans[rel] = symbol_spans((folder / rel).read_text(encoding="utf-8"))
        unknown = [s for s in q.get("symbols", []) if not any(s in spans.get(r, {}) for r in q["relevant"])]
        if unknown and len(unknown) == len(q["symbols"]):
            raise SystemExit(f"[{name}] no symbol of {q['query']!r} exists in {q['relevant']}: {unknown}")
    with_symbols = [q for q in queries if q.get("symbols")]
    kinds = {"all": queries}
    for kind in sorted({q["type"] for q in queries if "type" in q}):
        kinds[kind] = [q for q in queries if q.get("type") == kind]
    say(
        f"[{name}] "
        + ", ".join(f"{len(qs)} {kind}" for kind, qs in kinds.items())
        + f" queries; {len(with_symbols)} with symbols"
    )
    refiner = memory_service(get_host()).store().refiner
    if refiner is None or not refiner.active:
        run_queries(name, "", queries, kinds, spans)
        return
    say(f"[{name}] reranked by {refiner.embedder.name}: first, each query with no stored rerank vector")
    run_queries(name, "first ", queries, kinds, spans, forget=refiner)
    started = time.perf_counter()
    state = memory_service(get_host()).refine()
    say(
        f"[{name}] refined {state['chunks_done']} chunks in {time.perf_counter() - started:.1f}s;"
        " then, every chunk with its rerank vector"
    )
    run_queries(name, "refined ", queries, kinds, spans)


def run_queries(name: str, stage: str, queries: list[dict], kinds: dict, spans: dict, forget=None) -> None:
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host

    for mode in ("vector", "hybrid"):
        latencies: list[float] = []
        found: dict[str, int | None] = {}
        symbol_hits: dict[str, bool] = {}
        for q in queries:
            if forget is not None:
                forget._fresh.clear()  # as if no earlier query had embedded any candidate
            t0 = time.perf_counter()
            hits = memory_service(get_host()).search(q["query"], service=name, limit=20, mode=mode)
            latencies.append(time.perf_counter() - t0)
            found[q["query"]] = ranks(hits, set(q["relevant"]))
            if q.get("symbols"):
                symbol_hits[q["query"]] = symbol_found(hits, q, spans)
        for kind, subset in kinds.items():
            at = [found[q["query"]] for q in subset]
            recall5 = sum(1 for r in at if r is not None and r <= 5) / len(at)
            mrr = sum(1 / r for r in at if r is not None) / len(at)
            top1 = sum(1 for r in at if r == 1) / len(at)
            sym = [symbol_hits[q["query"]] for q in subset if q["query"] in symbol_hits]
            sym_text = f"  symbol recall@5 {sum(sym) / len(sym):.3f}" if sym else ""
            say(
                f"[{name}] {stage}{mode:>6} {kind:<10}: file recall@5 {recall5:.3f}  MRR {mrr:.3f}"
                f"  top-1 {top1:.3f}{sym_text}"
            )
        latencies.sort()
        say(
            f"[{name}] {stage}{mode:>6} search p50 {latencies[len(latencies) // 2] * 1000:.0f} ms,"
            f" p90 {latencies[int(len(latencies) * 0.9)] * 1000:.0f} ms (in process)"
        )
        misses = [f"{q} (rank {r})" for q, r in found.items() if r is None or r > 5]
        if misses:
            say(f"[{name}]        file missed in top 5: " + "; ".join(misses))
        symbol_misses = [q for q, ok in symbol_hits.items() if not ok]
        if symbol_misses:
            say(f"[{name}]        symbol missed in top 5: " + "; ".join(symbol_misses))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="minilm-l6-v2-int8")
    parser.add_argument("--set", choices=("shop", "stdlib", "all"), default="all")
    args = parser.parse_args()
    isolated_home(args.embedder)
    from lanterna.memory.store import close_store

    say(f"embedder {args.embedder}")
    with operation():
        if args.set in ("shop", "all"):
            evaluate("shop", HERE / "corpus", json.loads((HERE / "retrieval_queries.json").read_text()))
        if args.set in ("stdlib", "all"):
            folder, queries = stdlib_tree()
            try:
                evaluate("stdlib", folder, queries)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    close_store()


if __name__ == "__main__":
    main()
