"""Reranking with a second embedder whose vectors are filled in in the background.

A store embedded with the fast ``minilm-static`` table is searchable as soon as its files are
in; MiniLM then ranks its results. The first stage (static vectors plus the lexical bonus)
picks up to ``CANDIDATES`` chunks; those with a MiniLM vector are reordered by it, in the
places they held, and the others keep theirs. A search embeds the first ``AT_ONCE`` of its
candidates that have none yet, so the answer is MiniLM's at its top from the first query;
the background filler (a thread of the daemon or the server) embeds every other chunk, so
the whole store ranks as MiniLM does once it is done.

The vectors live in their own table (``REFINED``: chunk id and vector), never in the chunks'
index, so two vector spaces never meet in one ranking. Each background step inserts one
batch (one transaction): kill -9 loses that batch at most, and the next filler carries on
from what is stored. The filler only reads the chunks, so searches and writes never wait
for it; one process fills a store at a time (``locks.try_claim``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from lanterna.memory import schema

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from lanterna.memory.embedders import Embedder
    from lanterna.memory.locks import Claim
    from lanterna.memory.store import Hit, MemoryStore

log = logging.getLogger("lanterna.memory")

REFINED = schema.REFINED
#: Meta key: ``name:dimensions`` of the embedder whose vectors ``REFINED`` holds.
REFINED_WITH = "refined_with"
#: First-stage candidates reranked by a search.
CANDIDATES = 200
#: Candidates without a refined vector that a search embeds while it runs (best first).
AT_ONCE = 32
#: Chunks embedded per background step (one insert).
STEP = 64
#: Seconds the filler sleeps when nothing is pending, unless a write wakes it.
IDLE_POLL_S = 30.0
#: Vectors computed by searches, kept until the filler stores them.
MAX_FRESH = 20_000
OFF = frozenset({"off", "none", "no", "false", "0"})


def refiner_name(configured: str | None, embedder: str) -> str | None:
    """The embedder that reranks a store embedded with ``embedder``, or None for none.

    ``configured`` is ``[memory] rerank``: an embedder name, or ``off``. Unset, MiniLM
    reranks the ``minilm-static`` table distilled from it; other embedders rank alone.
    """
    from lanterna.memory.embedders import MINILM_EMBEDDER, STATIC_EMBEDDER

    if configured is not None:
        name = configured.strip()
        return None if name.lower() in OFF or name == embedder else name
    return MINILM_EMBEDDER if embedder == STATIC_EMBEDDER else None


def open_table(meta_table: Any, embedder: Embedder, existing: set[str]) -> Any:
    """The ``REFINED`` table for ``embedder``'s vectors; a table of another embedder's goes."""
    import pixeltable as pxt

    from lanterna.memory.store import set_meta

    wanted = f"{embedder.name}:{embedder.dimensions}"
    rows = meta_table.where(meta_table.key == REFINED_WITH).select(meta_table.value).collect()
    if REFINED in existing and rows and rows[0]["value"] == wanted:
        return pxt.get_table(REFINED)
    table = _create_table(REFINED, embedder.dimensions)
    set_meta(meta_table, {REFINED_WITH: wanted})
    return table


def _create_table(name: str, dimensions: int) -> Any:
    """An empty table of refined vectors, indexed by chunk id (replacing one of that name)."""
    import pixeltable as pxt

    table = pxt.create_table(name, schema.refined_columns(dimensions), if_exists="replace")
    table.add_btree_index("chunk_id", if_exists="ignore")
    return table


def hit_text(hit: Hit) -> str:
    """The text a hit's chunk is embedded from (as ``store.embedded_text`` for a row)."""
    from lanterna.memory.store import embedded_text

    return embedded_text({"path": hit.path, "symbol": hit.symbol, "text": hit.text})


class Refiner:
    """One store's refined vectors: read by searches, filled by ``step()``."""

    def __init__(self, store: MemoryStore, embedder: Embedder, table: Any) -> None:
        self.store = store
        self.embedder = embedder
        self.table = table
        self._fresh: dict[str, Any] = {}  # chunk id -> vector embedded by a search, not stored yet
        self._fresh_lock = threading.Lock()
        self._step_lock = threading.Lock()
        self._stored: set[str] | None = None  # chunk ids in the table, as this process knows them
        self._todo: list[tuple[str, str]] = []  # (doc_id, chunk_id) still to embed
        self._replan = False  # chunks were written since the plan
        self._claim: Claim | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.working = False  # whether the last background step found work

    @property
    def active(self) -> bool:
        """Whether it reranks the store's embedder still (a reembed may have changed that)."""
        store = self.store
        return refiner_name(store.settings.rerank, store.embedder.name) == self.embedder.name

    # -- searching -------------------------------------------------------------------------

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, Any]:
        import numpy as np

        with self._fresh_lock:
            found = {i: self._fresh[i] for i in chunk_ids if i in self._fresh}
        rest = sorted({i for i in chunk_ids if i not in found})
        if rest:
            t = self.table
            for row in t.where(t.chunk_id.isin(rest)).select(t.chunk_id, t.vector).collect():
                found[row["chunk_id"]] = np.asarray(row["vector"], dtype=np.float32)
        return found

    def rerank(self, query: str, hits: list[Hit], bonus: Callable[[Hit], float]) -> list[Hit]:
        """``hits`` (best first) with those that have a refined vector reordered by it."""
        import numpy as np

        if not hits:
            return hits
        q = np.asarray(self.embedder.embed([query])[0], dtype=np.float32)
        known = self.vectors([h.chunk_id for h in hits])
        missing = [h for h in hits if h.chunk_id not in known][:AT_ONCE]
        if missing:
            vectors = self.embedder.embed([hit_text(h) for h in missing])
            with self._fresh_lock:
                for hit, vector in zip(missing, vectors, strict=True):
                    known[hit.chunk_id] = self._fresh[hit.chunk_id] = np.asarray(vector, dtype=np.float32)
                if len(self._fresh) > MAX_FRESH:
                    self._fresh.clear()
            self._wake.set()
        slots = [i for i, h in enumerate(hits) if h.chunk_id in known]
        ranked = [hits[i] for i in slots]
        for hit in ranked:
            hit.vector_score = float(np.dot(q, known[hit.chunk_id]))
            hit.score = hit.vector_score + bonus(hit)
        ranked.sort(key=lambda h: h.score, reverse=True)
        out = list(hits)
        for slot, hit in zip(slots, ranked, strict=True):
            out[slot] = hit
        return out

    # -- filling ---------------------------------------------------------------------------

    def progress(self, tenant: str | None = None) -> dict[str, Any]:
        """``{"embedder", "chunks_done", "chunks_pending"}`` over the live chunks of ``tenant``
        (of every tenant without one)."""
        with self.store.lock.reading():
            c, t = self.store.chunks, self.table
            query = c.where(c.tenant == tenant) if tenant is not None else c
            live = {r["chunk_id"] for r in query.select(c.chunk_id).collect()}
            stored = {r["chunk_id"] for r in t.select(t.chunk_id).collect()}
        done = len(live & stored)
        return {"embedder": self.embedder.name, "chunks_done": done, "chunks_pending": len(live) - done}

    def claim(self) -> bool:
        """Whether this process fills the store: one process at a time (on every machine that
        shares an external database), held until ``stop()``."""
        from lanterna.memory.locks import try_claim

        if self._claim is None:
            self._claim = try_claim(self.store.settings, "refine")
        return self._claim is not None

    def step(self, size: int | None = None) -> int:
        """Embed and store up to ``size`` pending chunks (and the vectors searches computed);
        returns how many chunks it stored, 0 when none is pending."""
        with self._step_lock, self.store.lock.reading():
            if not self.active:
                return 0
            if self._replan or not self._todo:
                self._replan = False
                self._plan()
            size = size or STEP
            batch, self._todo = self._todo[:size], self._todo[size:]
            if not batch:
                return 0
            rows = self._rows(batch)
            with self._fresh_lock:
                ready = {r["chunk_id"]: self._fresh.pop(r["chunk_id"]) for r in rows if r["chunk_id"] in self._fresh}
            todo = [r for r in rows if r["chunk_id"] not in ready]
            from lanterna.memory.store import embedded_text

            vectors = self.embedder.embed([embedded_text(r) for r in todo]) if todo else []
            import numpy as np

            out = [{"chunk_id": i, "vector": v} for i, v in ready.items()]
            out += [
                {"chunk_id": r["chunk_id"], "vector": np.asarray(v, dtype=np.float32)}
                for r, v in zip(todo, vectors, strict=True)
            ]
            if out:
                self.table.insert(out)  # one transaction
                assert self._stored is not None
                self._stored.update(r["chunk_id"] for r in out)
            return max(len(out), 1)  # chunks deleted since the plan still count as handled

    def _plan(self) -> None:
        """The chunks without a stored vector, by document; stored vectors of gone chunks go."""
        c, t = self.store.chunks, self.table
        if self._stored is None:
            self._stored = {r["chunk_id"] for r in t.select(t.chunk_id).collect()}
        live = {r["chunk_id"]: r["doc_id"] for r in c.select(c.chunk_id, c.doc_id).collect()}
        from lanterna.memory.store import delete_chunk_ids

        stale = sorted(self._stored - live.keys())
        delete_chunk_ids(t, stale)
        self._stored -= set(stale)
        self._todo = sorted((doc, chunk) for chunk, doc in live.items() if chunk not in self._stored)

    def _rows(self, batch: list[tuple[str, str]]) -> list[dict[str, Any]]:
        c = self.store.chunks
        docs = sorted({doc for doc, _ in batch})
        ids = [chunk for _, chunk in batch]
        query = c.where(c.doc_id.isin(docs) & c.chunk_id.isin(ids)).select(c.chunk_id, c.path, c.symbol, c.text)
        return [dict(r) for r in query.collect()]

    def rewrite(self, copy: Callable[[Any, list[dict[str, Any]]], None]) -> int:
        """Replace the table by a copy of its rows of live chunks (``memory-purge``: no history);
        ``copy(table, rows)`` inserts. Returns the rows kept."""
        import pixeltable as pxt

        with self._step_lock:
            c, t = self.store.chunks, self.table
            live = {r["chunk_id"] for r in c.select(c.chunk_id).collect()}
            rows = {r["chunk_id"]: dict(r) for r in t.select().collect() if r["chunk_id"] in live}
            staging = f"{REFINED}_purge"
            copy(_create_table(staging, self.embedder.dimensions), list(rows.values()))
            pxt.drop_table(REFINED)
            pxt.move(staging, REFINED)
            self.table = pxt.get_table(REFINED)
            self._stored, self._replan = None, True
            return len(rows)

    def adopt(self, rows: list[dict[str, Any]], copy: Callable[[Any, list[dict[str, Any]]], None]) -> int:
        """Store ``rows`` (``chunk_id``, ``vector``: this embedder's vectors, computed elsewhere)
        that the table lacks; ``copy(table, rows)`` inserts. Returns how many it stored."""
        with self._step_lock:
            t = self.table
            have = {r["chunk_id"] for r in t.select(t.chunk_id).collect()}
            new = [r for r in rows if r["chunk_id"] not in have]
            copy(t, new)
            self._stored, self._replan = None, True
            return len(new)

    def fill(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Embed every pending chunk now (``lanterna memory refine``); ``progress(done, total)``."""
        state = self.progress()
        done, total = state["chunks_done"], state["chunks_done"] + state["chunks_pending"]
        if progress:
            progress(done, total)
        while self.step():
            done = min(total, len(self._stored or ()))
            if progress:
                progress(done, total)
        return self.progress()

    def wake(self) -> None:
        """New chunks were written: the filler plans again at its next step."""
        self._replan = True
        self._wake.set()

    # -- the background filler -------------------------------------------------------------

    def start(self) -> None:
        """Fill in the background, on a thread of this process, until ``stop()``."""
        if self._thread is None and self.active:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lanterna-refine", daemon=True)
            self._thread.start()

    def stop(self, wait_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(wait_s)
        self._thread = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # the model's threads start at normal priority (step() reports errors)
            self.embedder.embed(["warm up"])
        with contextlib.suppress(OSError, AttributeError):  # this thread: lower priority than the searches
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self._stop.is_set():
            wait = 0.0
            try:
                if not self.claim():
                    wait = IDLE_POLL_S  # another process fills this store
                elif not self.step():
                    wait = IDLE_POLL_S
            except Exception as exc:  # noqa: BLE001 - the filler retries later; searches go on without it
                log.warning("refining memory vectors failed (retrying in %.0f s): %s", IDLE_POLL_S, exc)
                self._replan = True
                wait = IDLE_POLL_S
            self.working = wait == 0.0
            if wait:
                self._wake.wait(wait)
                self._wake.clear()
