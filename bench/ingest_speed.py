"""Ingest speed: fresh ingest, re-ingest of the unchanged tree, and where the time goes.

    python bench/ingest_speed.py [--files 200] [--embedder minilm-static]
    python bench/ingest_speed.py --real [--files 5000] [--embedder minilm-l6-v2-int8] [--refine-seconds 120]

The default corpus is generated (deterministic, ~1 KB Python files). ``--real`` copies the
first ``--files`` ``.py`` files (by path) of the running Python's site-packages, Lanterna's
own packages left out: real code this project did not write. It also reports the time to
the first searchable answer (a thread searches every 0.25 s while the ingest runs), the time
to full semantic coverage (every chunk embedded and in the vector index: the ingest's end)
and the peak memory (this process's RSS plus the proportional set size of the store's
PostgreSQL processes, sampled with the searches). When a rerank embedder fills its vectors
after the ingest (the default: MiniLM over ``minilm-static``), it fills them for
``--refine-seconds`` (0: all of them) and reports its rate and the time all would take.

"Outside the model" is the ingest's wall time minus the time spent inside the embedder's
embed() calls.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from _common import WORDS, isolated_home, operation, say

from lanterna.errors import UserError


def make_corpus(root: Path, files: int) -> None:
    rng = random.Random(42)
    for i in range(files):
        lines = [f'"""Module {i}: {" ".join(rng.sample(WORDS, 6))}."""', ""]
        while sum(len(line) + 1 for line in lines) < 1000:
            name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{len(lines)}"
            lines += [
                f"def {name}({rng.choice(WORDS)}, {rng.choice(WORDS)}):",
                f'    """Compute the {rng.choice(WORDS)} of a {rng.choice(WORDS)} for the {rng.choice(WORDS)}."""',
                f"    return {rng.choice(WORDS)}.{rng.choice(WORDS)}({rng.randint(1, 99)})",
                "",
            ]
        path = root / f"pkg{i % 10}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")


def copy_site_packages(root: Path, files: int) -> int:
    """Copy the first ``files`` ``.py`` files of site-packages (not Lanterna's) under ``root``."""
    site = Path(sysconfig.get_paths()["purelib"])
    copied = 0
    for path in sorted(site.rglob("*.py")):
        rel = path.relative_to(site)
        if rel.parts[0].startswith(("lanterna", "_editable")) or not path.is_file():
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, root / rel)
        copied += 1
        if copied == files:
            break
    return copied


def memory_mb(home: Path) -> float:
    """This process's RSS plus the PSS of the PostgreSQL server under ``home`` and its backends."""
    import psutil

    total = psutil.Process().memory_info().rss
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "postgres" in (proc.info["name"] or "") and str(home) in " ".join(proc.info["cmdline"] or []):
                for member in [proc, *proc.children()]:
                    total += member.memory_full_info().pss
        except (psutil.Error, OSError):
            continue
    return total / 2**20


class Watcher(threading.Thread):
    """Searches the service until the first hit, and samples memory, while the ingest runs."""

    def __init__(self, home: Path, service: str, query: str) -> None:
        super().__init__(daemon=True)
        self.home, self.service, self.query = home, service, query
        self.started = time.perf_counter()
        self.first_answer: float | None = None
        self.peak_mb = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        from lanterna.memory.memory import memory_service
        from lanterna.plugins import get_host

        while not self.stop.wait(0.25):
            self.peak_mb = max(self.peak_mb, memory_mb(self.home))
            if self.first_answer is None:
                try:
                    with operation():
                        hits = memory_service(get_host()).search(self.query, service=self.service, limit=1)
                except UserError:  # nothing stored under the service yet
                    continue
                if hits:
                    self.first_answer = time.perf_counter() - self.started


def truncation() -> dict:
    """How much of the stored chunks' text MiniLM's 256-token window cuts off."""
    from importlib import resources

    from tokenizers import BertWordPieceTokenizer

    from lanterna.memory.embedders import MiniLMEmbedder
    from lanterna.memory.memory import memory_service
    from lanterna.memory.store import embedded_text
    from lanterna.plugins import get_host

    with resources.as_file(resources.files("lanterna.memory") / "data" / "minilm-vocab.txt") as vocab:
        tokenizer = BertWordPieceTokenizer(str(vocab), lowercase=True)
    c = memory_service(get_host()).store().chunks
    texts = [embedded_text(dict(r)) for r in c.select(c.path, c.symbol, c.text).collect()]
    window = MiniLMEmbedder.max_tokens
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    return {
        "chunks": len(lengths),
        "longer": sum(1 for n in lengths if n > window) / len(lengths),
        "tokens_cut": sum(max(0, n - window) for n in lengths) / max(1, sum(lengths)),
        "median_tokens": sorted(lengths)[len(lengths) // 2],
    }


def refine_for(seconds: float) -> dict | None:
    """Fill the rerank vectors for ``seconds`` (0: all), as the daemon's background filler does."""
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host

    refiner = memory_service(get_host()).store().refiner
    if refiner is None or not refiner.active:
        return None
    total = refiner.progress()["chunks_pending"]
    started = time.perf_counter()
    done = 0
    while not seconds or time.perf_counter() - started < seconds:
        stored = refiner.step()
        if not stored:
            break
        done += stored
    elapsed = time.perf_counter() - started
    return {"embedder": refiner.embedder.name, "done": done, "total": total, "seconds": elapsed, "rate": done / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=None, help="200 generated files, or 5,000 with --real")
    parser.add_argument("--real", action="store_true", help="real code: .py files copied from site-packages")
    parser.add_argument("--embedder", default="minilm-static")
    parser.add_argument("--refine-seconds", type=float, default=120.0, help="time given to the rerank vectors")
    args = parser.parse_args()
    files = args.files or (5000 if args.real else 200)
    home = isolated_home(args.embedder)
    corpus = Path(tempfile.mkdtemp(prefix="lanterna-corpus-"))
    if args.real:
        files = copy_site_packages(corpus, files)
    else:
        make_corpus(corpus, files)
    size_kb = sum(p.stat().st_size for p in corpus.rglob("*.py")) / 1024
    from lanterna.memory.memory import memory_service
    from lanterna.memory.store import close_store
    from lanterna.plugins import get_host

    with operation():
        started = time.perf_counter()
        memory_service(get_host()).stats()  # start Pixeltable and create the store: not part of the ingest
        say(f"store start-up (create): {time.perf_counter() - started:.1f}s")
        memory_service(get_host()).store().embedder.embed(["warm up"])  # load the model once
        watcher = Watcher(home, "bench", "import") if args.real else None
        if watcher:
            watcher.start()
        fresh = memory_service(get_host()).ingest_path(str(corpus), "bench")
        if watcher:
            watcher.stop.set()
            watcher.join()
        again = memory_service(get_host()).ingest_path(str(corpus), "bench")
        refined = refine_for(args.refine_seconds)
        cut = truncation()
    outside = fresh["seconds"] - fresh["embed_seconds"]
    source = "site-packages .py files" if args.real else "generated files"
    say(f"corpus: {files} {source}, {size_kb:.0f} KB, embedder {args.embedder}")
    say(
        f"fresh ingest: {fresh['seconds']:.1f}s  {fresh['files_seen'] / fresh['seconds']:.1f} files/s"
        f"  {fresh['chunks'] / fresh['seconds']:.1f} chunks/s  ({fresh['chunks']} chunks"
        f"{', loaded in bulk after the first batch' if fresh['bulk'] else ''})"
    )
    skipped = {k: len(fresh[k]) for k in ("skipped_binary", "skipped_too_big", "skipped_secrets")}
    if any(skipped.values()) or fresh["skipped_ignored"]:
        say(
            "  skipped: "
            + ", ".join(f"{n} {k.removeprefix('skipped_')}" for k, n in skipped.items() if n)
            + f", {fresh['skipped_ignored']} ignored"
        )
    say(
        f"  inside the model: {fresh['embed_seconds']:.1f}s; outside: {outside:.1f}s"
        f" = {100 * outside / fresh['seconds']:.1f}% of the ingest"
    )
    if watcher:
        first = f"{watcher.first_answer:.1f}s" if watcher.first_answer is not None else "none during the ingest"
        say(f"  first searchable answer: {first}; full semantic coverage: {fresh['seconds']:.1f}s")
        say(f"  peak memory: {watcher.peak_mb:.0f} MB (this process's RSS + the store's PostgreSQL PSS)")
    say(
        f"  MiniLM's 256-token window: {100 * cut['longer']:.1f}% of the {cut['chunks']} chunks are longer,"
        f" {100 * cut['tokens_cut']:.1f}% of all their tokens cut (median chunk {cut['median_tokens']} tokens;"
        " the static table reads every token)"
    )
    if refined:
        say(
            f"  rerank vectors ({refined['embedder']}): {refined['done']} chunks in {refined['seconds']:.0f}s,"
            f" {refined['rate']:.1f} chunks/s; all {refined['total']} chunks: "
            + (
                f"{refined['seconds'] / 60:.1f} min"
                if refined["done"] >= refined["total"]
                else f"about {refined['total'] / refined['rate'] / 60:.0f} min at that rate"
            )
            + " (searches rerank their top candidates with it from the first query)"
        )
    say(
        f"re-ingest unchanged: {again['seconds']:.2f}s ({again['unchanged']} unchanged, {again['chunks']} embedded)"
        f" = {fresh['seconds'] / again['seconds']:.0f}x faster than fresh"
    )
    close_store()


if __name__ == "__main__":
    main()
