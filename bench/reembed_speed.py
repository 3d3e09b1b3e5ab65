"""`lanterna memory reembed`: its rate, and searches while it runs.

    python bench/reembed_speed.py [--files 300] [--from minilm-static] [--to minilm-l6-v2-int8]

Ingests the first ``--files`` ``.py`` files of site-packages (as ``bench/ingest_speed.py
--real`` does) with ``--from``, then re-embeds the store with ``--to`` on a thread while the
main thread searches, one query after another, as an assistant would during the reembed. Reports
the reembed's chunks/s and the latency of those searches (they use the old vectors), against
the same searches before it started.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import isolated_home, operation, say
from ingest_speed import copy_site_packages
from search_latency import QUERIES, pct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--from", dest="source", default="minilm-static")
    parser.add_argument("--to", dest="target", default="minilm-l6-v2-int8")
    args = parser.parse_args()
    isolated_home(args.source)
    corpus = Path(tempfile.mkdtemp(prefix="lanterna-corpus-"))
    files = copy_site_packages(corpus, args.files)
    from lanterna.memory.memory import memory_service
    from lanterna.memory.store import close_store
    from lanterna.plugins import get_host

    def search_times(until: threading.Event | None, at_least: int) -> list[float]:
        times: list[float] = []
        while len(times) < at_least or (until is not None and not until.is_set()):
            started = time.perf_counter()
            with operation():
                memory_service(get_host()).search(QUERIES[len(times) % len(QUERIES)], limit=10)
            times.append(time.perf_counter() - started)
            if until is not None and until.is_set():
                break
        return times

    with operation():
        report = memory_service(get_host()).ingest_path(str(corpus), "bench")
    say(f"corpus: {files} site-packages .py files, {report['chunks']} chunks, embedded with {args.source}")
    before = search_times(None, 30)
    service = memory_service(get_host())
    target = service.embedder(args.target)
    target.embed(["warm up"])  # the model's load is not the reembed's rate
    finished = threading.Event()
    result: dict = {}

    def reembed() -> None:
        with operation(action="memory.reembed"):
            result.update(service.store().reembed(target))
        finished.set()

    worker = threading.Thread(target=reembed)
    worker.start()
    during = search_times(finished, 1)
    worker.join()
    say(
        f"reembed to {args.target}: {result['chunks']} chunks in {result['seconds']:.1f}s"
        f" = {result['chunks'] / result['seconds']:.1f} chunks/s ({result['embed_seconds']:.1f}s in the model)"
    )
    for label, times in (("before", before), ("during the reembed", during)):
        say(
            f"search {label}: {len(times)} searches, p50 {statistics.median(times) * 1000:.0f} ms,"
            f" p90 {pct(times, 0.9) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )
    close_store()


if __name__ == "__main__":
    main()
