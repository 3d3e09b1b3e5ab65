"""Ingest speed: fresh ingest, re-ingest of the unchanged tree, and where the time goes.

    python bench/ingest_speed.py [--files 200] [--embedder minilm-l6-v2-int8]

The corpus is generated (deterministic, ~1 KB Python files). "Outside the model" is the
ingest's wall time minus the time spent inside the embedder's embed() calls.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from _common import WORDS, isolated_home, operation, say


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--embedder", default="minilm-l6-v2-int8")
    args = parser.parse_args()
    isolated_home(args.embedder)
    corpus = Path(tempfile.mkdtemp(prefix="lanterna-corpus-"))
    make_corpus(corpus, args.files)
    size_kb = sum(p.stat().st_size for p in corpus.rglob("*.py")) / 1024
    from lanterna.memory.memory import memory_service
    from lanterna.memory.store import close_store
    from lanterna.plugins import get_host

    with operation():
        started = time.perf_counter()
        memory_service(get_host()).stats()  # start Pixeltable and create the store: not part of the ingest
        say(f"store start-up (create): {time.perf_counter() - started:.1f}s")
        memory_service(get_host()).store().embedder.embed(["warm up"])  # load the model once
        fresh = memory_service(get_host()).ingest_path(str(corpus), "bench")
        again = memory_service(get_host()).ingest_path(str(corpus), "bench")
    outside = fresh["seconds"] - fresh["embed_seconds"]
    say(f"corpus: {args.files} files, {size_kb:.0f} KB, embedder {args.embedder}")
    say(
        f"fresh ingest: {fresh['seconds']:.1f}s  {fresh['files_seen'] / fresh['seconds']:.1f} files/s"
        f"  {fresh['chunks'] / fresh['seconds']:.1f} chunks/s  ({fresh['chunks']} chunks)"
    )
    say(
        f"  inside the model: {fresh['embed_seconds']:.1f}s; outside: {outside:.1f}s"
        f" = {100 * outside / fresh['seconds']:.1f}% of the ingest (target <= 30%)"
    )
    say(
        f"re-ingest unchanged: {again['seconds']:.2f}s ({again['unchanged']} unchanged, {again['chunks']} embedded)"
        f" = {fresh['seconds'] / again['seconds']:.0f}x faster than fresh (target >= 50x)"
    )
    close_store()


if __name__ == "__main__":
    main()
