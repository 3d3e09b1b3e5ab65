"""The Pixeltable store: documents and their embedded chunks, always scoped by tenant.

Every method takes the tenant explicitly and puts it in the SQL ``where``; callers get it
from ``lanterna.guard.current_request()``. Writes keep one rule that makes kill -9 safe:
a document row is inserted only after all its chunks, so a chunk without a document row is
an interrupted write, cleaned up by the next ingest of that service.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from lanterna.memory import schema
from lanterna.memory.embedders import DEFAULT_EMBEDDER
from lanterna.memory.runtime import RuntimeSettings, StoreError, start, untimed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from lanterna.memory.embedders import Embedder
    from lanterna.memory.locks import StoreUse
    from lanterna.memory.refine import Refiner
    from lanterna.memory.settings import MemorySettings

log = logging.getLogger("lanterna.memory")
#: Rows per Pixeltable insert: each insert is one transaction.
INSERT_BATCH = 256
#: Documents remembered as stored before the memory of them starts again.
STORED_CACHE = 200_000


@dataclass
class ChunkIn:
    start_line: int
    end_line: int
    text: str
    symbol: str | None = None
    embed: str | None = None  # the text to embed, when it differs from ``text`` (path and symbol on top)


@dataclass
class DocumentIn:
    kind: str
    path: str
    content_hash: str
    chunks: list[ChunkIn]
    title: str | None = None
    body: str | None = None
    status: str | None = None
    root: str | None = None  # what ``path`` is relative to: ``schema.ROOT_DOC``
    doc_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Hit:
    doc_id: str
    service: str
    kind: str
    path: str
    start_line: int | None
    end_line: int | None
    text: str
    score: float
    vector_score: float = 0.0
    root: str | None = None
    symbol: str | None = None
    chunk_id: str = ""

    def as_dict(self, snippet_chars: int = 400) -> dict[str, Any]:
        snippet = self.text if len(self.text) <= snippet_chars else self.text[: snippet_chars - 1] + "…"
        return {
            "doc_id": self.doc_id,
            "service": self.service,
            "kind": self.kind,
            "root": self.root,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "symbol": self.symbol,
            "score": round(self.score, 4),
            "snippet": snippet,
        }


F = TypeVar("F", bound="Callable[..., Any]")


class StoreLock:
    """Queries run side by side; writes one at a time (alongside queries); purge alone.

    No query waits for another query, so one tenant's slow search never holds up another
    tenant's calls. Writes are serialised because concurrent inserts into one Pixeltable table
    each bump its version. ``exclusive()`` (purge, which replaces the tables) waits for every
    query and write to end and holds new ones back; its own thread may still read and write.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._owner: int | None = None  # thread holding exclusive()
        self._writer = threading.RLock()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        if self._owner == threading.get_ident():
            yield
            return
        with self._cond:
            while self._owner is not None:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        # The writer lock first: a write waiting for its turn holds no share, so it never
        # stands in the way of an exclusive() taken by the thread that is writing.
        with self._writer, self.reading():
            yield

    def holding_writes(self) -> threading.RLock:
        """Hold back other threads' writes (reads go on); its holder may still write."""
        return self._writer

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._writer:
            with self._cond:
                while self._owner is not None or self._shared:
                    self._cond.wait()
                self._owner = threading.get_ident()
            try:
                yield
            finally:
                with self._cond:
                    self._owner = None
                    self._cond.notify_all()


def _reading(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: MemoryStore, *args: Any, **kwargs: Any) -> Any:
        with self.lock.reading():
            return method(self, *args, **kwargs)

    # (ignored for mypy) functools.wraps keeps the method's signature, which mypy cannot see through F
    return wrapper  # type: ignore[return-value]


def _writing(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: MemoryStore, *args: Any, **kwargs: Any) -> Any:
        with self.lock.writing():
            return method(self, *args, **kwargs)

    # (ignored for mypy) functools.wraps keeps the method's signature, which mypy cannot see through F
    return wrapper  # type: ignore[return-value]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MemoryStore:
    """One process-wide handle on the Pixeltable tables of long-term memory."""

    def __init__(
        self,
        settings: MemorySettings,
        embedder: Embedder,
        tables: dict[str, Any],
        embedder_named: Callable[[str], Embedder],
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self._embedder_named = embedder_named  # the rerank embedder is looked up by name
        self.meta_table = tables["meta"]
        self.documents = tables["documents"]
        self.chunks = tables["chunks"]
        # MCP runs plain tools on worker threads; Pixeltable keeps a connection per thread.
        self.lock = StoreLock()
        #: This process's hold on the store (``locks.StoreUse``): purge needs every other one gone.
        self.use: StoreUse | None = None
        #: (tenant, doc_id) of documents seen with their row (``stored_documents``).
        self._stored: set[tuple[str, str]] = set()
        #: While ``bulk_load`` runs: the staging chunks table and the document rows held back.
        self._bulk: tuple[Any, list[dict[str, Any]]] | None = None
        #: The vectors that rerank searches (``refine.py``), when a second embedder is set.
        self.refiner: Refiner | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: MemorySettings, embedder_named: Callable[[str], Embedder]) -> MemoryStore:
        """Start Pixeltable, check (or create) the schema and return the store.

        The embedder is the configured one (``settings.embedder``), which must be the one the
        store was built with; with none configured, the store's own, and ``DEFAULT_EMBEDDER``
        for a new store. The marker is checked before any model loads, so a mismatch is
        reported at once.
        """
        home = settings.pixeltable_home
        marker = schema.read_marker(home)
        if marker is not None:  # checked before Pixeltable reads anything of this store
            schema.check_compatible(marker, home)
            if settings.embedder:
                schema.check_embedder(marker, settings.embedder, home)
        embedder = embedder_named(settings.embedder or (marker or {}).get("embedder") or DEFAULT_EMBEDDER)
        from lanterna.memory.locks import schema_lock

        with schema_lock(settings):  # several processes may start one store at once
            return cls._open(settings, embedder, embedder_named)

    @classmethod
    def _open(
        cls, settings: MemorySettings, embedder: Embedder, embedder_named: Callable[[str], Embedder]
    ) -> MemoryStore:
        home = settings.pixeltable_home
        start(RuntimeSettings(home=home, db_connect_str=settings.db_connect_str))
        import pixeltable as pxt

        from lanterna.memory import udf

        where = (settings.db_connect_str and "the configured database") or home
        try:
            existing = set(pxt.list_tables(schema.DIR)) if schema.DIR in pxt.list_dirs() else set()
        except Exception as exc:
            raise StoreError(
                f"cannot read the memory store at {where}: {exc}; move it away or fix the database"
            ) from exc
        existing = _finish_interrupted_swap(_finish_interrupted_purge(existing))
        if not existing:
            tables = cls._create(embedder)
            meta = schema.new_meta(embedder.name, embedder.dimensions)
        else:
            missing = {schema.META, schema.DOCUMENTS, schema.CHUNKS} - existing
            if missing:
                raise StoreError(
                    f"the memory store at {where} is incomplete (missing {', '.join(sorted(missing))});"
                    " it is corrupt: move it away and ingest again"
                )
            tables = {
                "meta": pxt.get_table(schema.META),
                "documents": pxt.get_table(schema.DOCUMENTS),
                "chunks": pxt.get_table(schema.CHUNKS),
            }
            meta = {r["key"]: r["value"] for r in tables["meta"].select().collect()}
            if REEMBED_TARGET in meta and STAGING not in pxt.list_tables(schema.DIR):  # stopped before its table
                tables["meta"].delete(where=tables["meta"].key == REEMBED_TARGET)
                del meta[REEMBED_TARGET]
            schema.check_compatible(meta, where)
            stored = meta.get("embedder")
            if not settings.embedder and stored and stored != embedder.name:
                embedder = embedder_named(stored)  # a shared database's store, with no local marker yet
            schema.check_embedder(meta, embedder.name, where)
            meta = cls._migrate(tables, meta)
        udf.activate(embedder)
        schema.write_marker(home, meta)
        store = cls(settings, embedder, tables, embedder_named)
        store.refiner = _refiner(store, existing)
        return store

    @staticmethod
    def _create(embedder: Embedder) -> dict[str, Any]:
        import pixeltable as pxt

        pxt.create_dir(schema.DIR, if_exists="ignore")
        meta = pxt.create_table(
            schema.META, {"key": pxt.Required[pxt.String], "value": pxt.String | None}, if_exists="ignore"
        )
        documents = pxt.create_table(schema.DOCUMENTS, schema.document_columns(), if_exists="ignore")
        chunks = pxt.create_table(schema.CHUNKS, schema.chunk_columns(embedder.dimensions), if_exists="ignore")
        schema.create_indexes(documents=documents, chunks=chunks)
        # written last: a store with a meta row is a complete store
        meta.insert([{"key": k, "value": v} for k, v in schema.new_meta(embedder.name, embedder.dimensions).items()])
        return {"meta": meta, "documents": documents, "chunks": chunks}

    @staticmethod
    def _migrate(tables: dict[str, Any], meta: dict[str, str]) -> dict[str, str]:
        """Bring an older store up to ``schema.SCHEMA_VERSION``, one step per version."""
        version = int(meta["schema_version"])
        while version < schema.SCHEMA_VERSION:
            MIGRATIONS[version](tables)
            version += 1
            table = tables["meta"]
            table.update({"value": str(version)}, where=table.key == "schema_version")
            meta["schema_version"] = str(version)
        return meta

    # -- writing ---------------------------------------------------------------------------

    @_reading
    def known_documents(
        self, tenant: str, service: str, kinds: Sequence[str] | None = None
    ) -> dict[str, tuple[str, str]]:
        """``{path: (doc_id, content_hash)}`` of the stored documents of one service."""
        d = self.documents
        where = (d.tenant == tenant) & (d.service == service)
        if kinds:
            where = where & d.kind.isin(list(kinds))
        return {
            r["path"]: (r["doc_id"], r["content_hash"])
            for r in d.where(where).select(d.path, d.doc_id, d.content_hash).collect()
        }

    @_reading
    def roots_of(self, tenant: str, service: str) -> dict[str, str | None]:
        """``{path: root}`` of the stored documents of one service."""
        d = self.documents
        rows = d.where((d.tenant == tenant) & (d.service == service)).select(d.path, d.root).collect()
        return {r["path"]: r["root"] for r in rows}

    @_writing
    def set_root(self, tenant: str, service: str, root: str, paths: Iterable[str]) -> None:
        """Record ``root`` for stored documents (and their chunks) of one service."""
        paths = sorted(set(paths))
        c, d = self.chunks, self.documents
        for start_at in range(0, len(paths), 500):
            part = paths[start_at : start_at + 500]
            c.update({"root": root}, where=(c.tenant == tenant) & (c.service == service) & c.path.isin(part))
            d.update({"root": root}, where=(d.tenant == tenant) & (d.service == service) & d.path.isin(part))

    @_reading
    def has_service(self, tenant: str, service: str) -> bool:
        d = self.documents
        return d.where((d.tenant == tenant) & (d.service == service)).count() > 0

    @_reading
    def interrupted_paths(self, tenant: str, service: str) -> set[str]:
        """Paths with chunks but no document row: writes a kill -9 interrupted."""
        c, d = self.chunks, self.documents
        chunk_docs = {
            r["doc_id"]: r["path"]
            for r in c.where((c.tenant == tenant) & (c.service == service))
            .select(c.doc_id, c.path)
            .distinct()
            .collect()
        }
        if not chunk_docs:
            return set()
        stored = {
            r["doc_id"] for r in d.where((d.tenant == tenant) & (d.service == service)).select(d.doc_id).collect()
        }
        return {path for doc_id, path in chunk_docs.items() if doc_id not in stored}

    @_writing
    def remove_paths(self, tenant: str, service: str, paths: Iterable[str]) -> None:
        paths = sorted(set(paths))
        if not paths:
            return
        c, d = self.chunks, self.documents
        for start_at in range(0, len(paths), 500):
            part = paths[start_at : start_at + 500]
            c.delete(where=(c.tenant == tenant) & (c.service == service) & c.path.isin(part))
            d.delete(where=(d.tenant == tenant) & (d.service == service) & d.path.isin(part))

    def write(
        self,
        tenant: str,
        service: str,
        documents: Sequence[DocumentIn],
        on_embedded: Callable[[int], None] | None = None,
    ) -> float:
        """Embed and store new documents (their paths must not be stored). Returns seconds spent embedding."""
        import time

        import numpy as np

        texts = [chunk.embed or chunk.text for doc in documents for chunk in doc.chunks]
        started = time.perf_counter()
        vectors = self.embedder.embed(texts) if texts else []
        embed_seconds = time.perf_counter() - started
        if on_embedded:
            on_embedded(len(texts))
        now = _now()
        rows = []
        vector_iter = iter(vectors)
        for doc in documents:
            for chunk in doc.chunks:
                rows.append(
                    {
                        "chunk_id": uuid.uuid4().hex,
                        "doc_id": doc.doc_id,
                        "tenant": tenant,
                        "service": service,
                        "kind": doc.kind,
                        "path": doc.path,
                        "root": doc.root,
                        "start_line": chunk.start_line,
                        "end_line": chunk.end_line,
                        "symbol": chunk.symbol,
                        "text": chunk.text,
                        "embedding": np.asarray(next(vector_iter), dtype=np.float32),
                        "ingested_at": now,
                    }
                )
        with self.lock.writing():
            target, held_back = self._bulk or (self.chunks, None)
            _insert_in_batches(target, rows, INSERT_BATCH)
            doc_rows = [
                {
                    "doc_id": doc.doc_id,
                    "tenant": tenant,
                    "service": service,
                    "kind": doc.kind,
                    "path": doc.path,
                    "root": doc.root,
                    "title": doc.title,
                    "content_hash": doc.content_hash,
                    "body": doc.body,
                    "status": doc.status,
                    "n_chunks": len(doc.chunks),
                    "ingested_at": now,
                }
                for doc in documents
            ]
            if held_back is not None:
                held_back.extend(doc_rows)
            elif doc_rows:
                self.documents.insert(doc_rows)
        if self.refiner is not None:
            self.refiner.wake()
        return embed_seconds

    @contextlib.contextmanager
    def bulk_load(self, new_chunks: int) -> Iterator[bool]:
        """Load a large batch of new documents in bulk; yields whether it does.

        The HNSW index costs most of an insert (PostgreSQL updates it row by row: ~300 rows/s
        against ~5,000 without it). In bulk, ``write()`` fills a copy of the chunks table that
        has no vector index yet, which is indexed once full and then takes the chunks table's
        place; the documents' rows follow, so a document is found only with all its chunks.
        Searches keep answering from the current table meanwhile, and other writes wait.

        Only worth it when the new chunks are at least ``BULK_MIN_CHUNKS`` and outnumber the
        stored ones (which are copied), and possible only while no other process has the
        store open (its handle would point at the replaced table). Otherwise, and if the
        load fails, writes go to the chunks table as usual (a failed load keeps nothing of it).
        """
        if (
            new_chunks < BULK_MIN_CHUNKS
            or self._bulk is not None
            or new_chunks < self.chunks.count()
            or self.reembed_state() is not None  # its staging table waits to be continued
        ):
            yield False
            return
        from lanterna.memory.locks import StoreInUse

        with contextlib.ExitStack() as held:
            if self.use is not None:
                try:
                    held.enter_context(self.use.exclusively())
                except StoreInUse:
                    log.info("bulk load skipped: another process has the memory store open")
                    yield False
                    return
            held.enter_context(self.lock.holding_writes())
            held.enter_context(untimed())  # copying and indexing a large table takes minutes
            self._bulk = (self._staging_copy(), [])
            try:
                yield True
                self._finish_bulk_load()
            finally:
                if self._bulk is not None:
                    self._drop_staging()

    def _staging_copy(self) -> Any:
        """A new, unindexed chunks table holding every stored chunk."""
        import pixeltable as pxt

        staging = pxt.create_table(STAGING, schema.chunk_columns(self.embedder.dimensions), if_exists="replace")
        schema.create_indexes(chunks=staging, vector=False)  # btree upkeep is cheap, building one later is not
        rows = [dict(r) for r in self.chunks.select().collect()]
        _insert_in_batches(staging, rows, BULK_BATCH)
        return staging

    def _finish_bulk_load(self) -> None:
        assert self._bulk is not None
        staging, held_back = self._bulk
        schema.create_vector_index(staging)
        with self.lock.exclusive():
            self._swap_in_staging()
            self._bulk = None
            _insert_in_batches(self.documents, held_back, BULK_BATCH)

    def _swap_in_staging(self) -> None:
        """The complete, indexed ``STAGING`` table becomes the chunks table (see ``_finish_interrupted_swap``)."""
        import pixeltable as pxt

        pxt.move(schema.CHUNKS, OLD_CHUNKS)
        pxt.move(STAGING, schema.CHUNKS)
        self.chunks = pxt.get_table(schema.CHUNKS)
        meta = _apply_reembed_target(self.meta_table)
        schema.write_marker(self.settings.pixeltable_home, meta)
        pxt.drop_table(OLD_CHUNKS)

    def _drop_staging(self) -> None:
        import pixeltable as pxt

        self._bulk = None
        pxt.drop_table(STAGING, if_not_exists="ignore")

    @_writing
    def forget(self, tenant: str, doc_id: str) -> tuple[bool, int]:
        """Delete one document and its chunks from every query.

        Returns whether the document existed and how many chunks went: chunks without a
        document are what an interrupted write left.
        """
        c, d = self.chunks, self.documents
        found = d.where((d.tenant == tenant) & (d.doc_id == doc_id)).count() > 0
        chunks = c.where((c.tenant == tenant) & (c.doc_id == doc_id)).count()
        if chunks:
            c.delete(where=(c.tenant == tenant) & (c.doc_id == doc_id))
        if found:
            d.delete(where=(d.tenant == tenant) & (d.doc_id == doc_id))
        self._stored.discard((tenant, doc_id))
        return found, chunks

    @_reading
    def stored_documents(self, tenant: str, doc_ids: Iterable[str]) -> set[str]:
        """Those of ``doc_ids`` that have a document row (chunks of the others are an interrupted write).

        Only the ids not yet seen with a row are asked about: once a document has its row, its
        chunks can only go together with it (every delete removes the chunks first), so a search
        that finds them again needs no second look.
        """
        wanted = set(doc_ids)
        known = {i for i in wanted if (tenant, i) in self._stored}
        ids = sorted(wanted - known)
        if not ids:
            return known
        d = self.documents
        rows = d.where((d.tenant == tenant) & d.doc_id.isin(ids)).select(d.doc_id).collect()
        found = {r["doc_id"] for r in rows}
        if len(self._stored) > STORED_CACHE:
            self._stored.clear()
        self._stored.update((tenant, i) for i in found)
        return known | found

    # -- reading ---------------------------------------------------------------------------

    @_reading
    def get_document(self, tenant: str, doc_id: str) -> dict[str, Any] | None:
        d = self.documents
        rows = list(d.where((d.tenant == tenant) & (d.doc_id == doc_id)).select().collect())
        if not rows:
            return None
        row = dict(rows[0])
        if row.get("body") is None:
            c = self.chunks
            parts = c.where((c.tenant == tenant) & (c.doc_id == doc_id)).select(c.text, c.start_line).collect()
            row["body"] = "\n".join(p["text"] for p in sorted(parts, key=lambda p: p["start_line"] or 0))
        return row

    def _documents_of(self, tenant: str, service: str | None, kind: str | None) -> Any:
        """The filter on documents for a tenant, optionally one service and one kind."""
        d = self.documents
        where = d.tenant == tenant
        if service:
            where = where & (d.service == service)
        if kind:
            where = where & (d.kind == kind)
        return where

    @_reading
    def list_documents(
        self, tenant: str, *, kind: str | None = None, service: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        d = self.documents
        columns = (d.doc_id, d.service, d.kind, d.path, d.title, d.status, d.ingested_at)
        query = d.where(self._documents_of(tenant, service, kind)).select(*columns)
        rows = [dict(r) for r in query.order_by(d.ingested_at, asc=False).limit(limit).collect()]
        return rows

    @_reading
    def services(self, tenant: str) -> list[dict[str, Any]]:
        d = self.documents
        rows = d.where(d.tenant == tenant).select(d.service, d.kind, d.n_chunks, d.root).collect()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            entry = out.setdefault(
                r["service"], {"service": r["service"], "documents": 0, "chunks": 0, "kinds": {}, "roots": set()}
            )
            entry["documents"] += 1
            entry["chunks"] += r["n_chunks"] or 0
            entry["kinds"][r["kind"]] = entry["kinds"].get(r["kind"], 0) + 1
            if r["root"]:
                entry["roots"].add(r["root"])
        for entry in out.values():
            entry["roots"] = sorted(entry["roots"])
        return sorted(out.values(), key=lambda e: e["service"])

    def stats(self, tenant: str) -> dict[str, Any]:
        services = self.services(tenant)
        return {
            "tenant": tenant,
            "services": len(services),
            "documents": sum(s["documents"] for s in services),
            "chunks": sum(s["chunks"] for s in services),
            "roots": {s["service"]: s["roots"] for s in services},
            "embedder": self.embedder.name,
            "dimensions": self.embedder.dimensions,
            "reembed": self.reembed_state(),
            "refined": self.refiner.progress(tenant) if self.refiner is not None and self.refiner.active else None,
            "schema_version": schema.SCHEMA_VERSION,
            "store": str(self.settings.pixeltable_home) if not self.settings.db_connect_str else "external database",
        }

    @_reading
    def paths_matching(self, tenant: str, glob: str, service: str | None, kind: str | None) -> list[str]:
        import fnmatch

        d = self.documents
        paths = {r["path"] for r in d.where(self._documents_of(tenant, service, kind)).select(d.path).collect()}
        return sorted(p for p in paths if fnmatch.fnmatchcase(p, glob))

    @_reading
    def vector_search(self, tenant: str, vector: Sequence[float], *, limit: int, where_extra: Any = None) -> list[Hit]:
        import numpy as np

        c = self.chunks
        sim = c.embedding.similarity(vector=np.asarray(vector, dtype=np.float32), idx=schema.VECTOR_INDEX)
        where = c.tenant == tenant
        if where_extra is not None:
            where = where & where_extra
        query = c.where(where).select(*self._hit_columns(), score=sim).order_by(sim, asc=False)
        return [_hit(r, r["score"]) for r in query.limit(limit).collect()]

    @_reading
    def text_search(
        self, tenant: str, terms: Sequence[str], vector: Sequence[float], *, limit: int, where_extra: Any = None
    ) -> list[Hit]:
        """Chunks containing any of ``terms`` (case-insensitive, in SQL), scored by cosine to ``vector``."""
        import numpy as np

        c = self.chunks
        if not terms:
            return []
        match = None
        for term in terms:
            clause = c.text.contains(term, case=False)
            match = clause if match is None else (match | clause)
        where = (c.tenant == tenant) & match
        if where_extra is not None:
            where = where & where_extra
        query = c.where(where).select(*self._hit_columns(), c.embedding)
        q = np.asarray(vector, dtype=np.float32)
        return [_hit(r, float(np.dot(q, r["embedding"]))) for r in query.limit(limit).collect()]

    def _hit_columns(self) -> tuple[Any, ...]:
        c = self.chunks
        return (c.chunk_id, c.doc_id, c.service, c.kind, c.root, c.path, c.start_line, c.end_line, c.symbol, c.text)

    def filters(self, *, service: str | None, kind: str | None, paths: list[str] | None) -> Any:
        c = self.chunks
        where = None
        for clause in (
            (c.service == service) if service else None,
            (c.kind == kind) if kind else None,
            c.path.isin(paths) if paths is not None else None,
        ):
            if clause is not None:
                where = clause if where is None else (where & clause)
        return where

    # -- maintenance -----------------------------------------------------------------------

    def purge(self) -> dict[str, int]:
        """Rewrite both tables from their live rows, then drop the old ones with their history.

        Refused while another process has the store open: its table handles would point at
        dropped tables, and what it writes meanwhile would be lost.
        """
        from lanterna.memory.locks import StoreInUse

        counts: dict[str, int] = {}
        exclusively = self.use.exclusively() if self.use is not None else contextlib.nullcontext()
        try:
            with exclusively, self.lock.exclusive(), untimed():
                self._rewrite(counts)
        except StoreInUse:
            raise StoreError(
                "another process has the memory store open (a running server or another command);"
                " stop it, then run `lanterna memory-purge` again"
            ) from None
        return counts

    def _rewrite(self, counts: dict[str, int]) -> None:
        """Copy each table's live rows to a new table, drop the old one, give the copy its name.

        A crash after a drop leaves the complete copy under its staging name; ``open()``
        finishes the rename (``_finish_interrupted_purge``).
        """
        import pixeltable as pxt

        for name, attr, columns in (
            (schema.CHUNKS, "chunks", schema.chunk_columns(self.embedder.dimensions)),
            (schema.DOCUMENTS, "documents", schema.document_columns()),
        ):
            old = getattr(self, attr)
            before = len(old.get_versions())
            rows = [dict(r) for r in old.select().collect()]
            staging = f"{name}_purge"
            fresh = pxt.create_table(staging, columns, if_exists="replace")
            schema.create_indexes(**{attr: fresh}, vector=False)
            _insert_in_batches(fresh, rows, BULK_BATCH)
            if attr == "chunks":
                schema.create_vector_index(fresh)  # once full: far faster than row by row
            pxt.drop_table(name)
            pxt.move(staging, name)
            setattr(self, attr, pxt.get_table(name))
            counts[attr] = len(rows)
            counts[f"{attr}_versions_dropped"] = before
        if self.refiner is not None:
            counts["refined"] = self.refiner.rewrite(lambda table, rows: _insert_in_batches(table, rows, BULK_BATCH))

    def reembed(self, target: Embedder, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Embed every chunk again with ``target`` and make it the store's embedder.

        The new vectors go into a table of their own (``STAGING``, indexed once full), which
        replaces the chunks table when complete, so two vector spaces never meet in one index.
        Searches go on meanwhile, from the old vectors; writes wait; other processes cannot
        open the store, so it is refused while one has it open, like ``purge``. A reembed that
        stopped (kill -9, Ctrl-C) is continued by the next one to the same embedder: only the
        chunks not embedded yet are. ``progress(chunks_done, chunks_total)`` as it goes.
        """
        from lanterna.memory.locks import StoreInUse

        exclusively = self.use.exclusively() if self.use is not None else contextlib.nullcontext()
        try:
            with exclusively, self.lock.holding_writes(), untimed():
                return self._reembed(target, progress)
        except StoreInUse:
            raise StoreError(
                "another process has the memory store open (a running server or another command);"
                " stop it, then run `lanterna memory reembed` again"
            ) from None

    def _reembed(self, target: Embedder, progress: Callable[[int, int], None] | None) -> dict[str, Any]:
        import time

        import numpy as np

        started = time.perf_counter()
        before = self.embedder.name
        staging, reused = self._reembed_staging(target)
        c = self.chunks
        columns = [getattr(c, name) for name in schema.chunk_columns(target.dimensions) if name != "embedding"]
        rows = [dict(r) for r in c.select(*columns).collect()]
        live = {r["chunk_id"] for r in rows}
        stale = sorted(reused - live)  # chunks deleted since the stopped reembed embedded them
        delete_chunk_ids(staging, stale)
        done = len(reused & live)
        todo = [r for r in rows if r["chunk_id"] not in reused]
        embed_seconds = 0.0
        if progress:
            progress(done, len(rows))
        for start_at in range(0, len(todo), BULK_BATCH):
            batch = todo[start_at : start_at + BULK_BATCH]
            begun = time.perf_counter()
            vectors = target.embed([embedded_text(r) for r in batch])
            embed_seconds += time.perf_counter() - begun
            for row, vector in zip(batch, vectors, strict=True):
                row["embedding"] = np.asarray(vector, dtype=np.float32)
            staging.insert(batch)  # one transaction: a kill loses this batch at most
            done += len(batch)
            if progress:
                progress(done, len(rows))
        schema.create_vector_index(staging)
        from lanterna.memory import refine, udf

        kept = None  # moving to the table the old embedder reranks: its vectors rerank from now on
        if refine.refiner_name(self.settings.rerank, target.name) == before:
            kept = [
                {"chunk_id": r["chunk_id"], "vector": r["embedding"]}
                for r in c.select(c.chunk_id, c.embedding).collect()
            ]
        with self.lock.exclusive():  # the table and the embedder that queries it change together
            self._swap_in_staging()
            self.embedder = target
            udf.activate(target)
        adopted = self._renew_refiner(kept or [])
        return {
            "chunks": len(rows),
            "rerank_vectors_kept": adopted,
            "resumed": len(reused & live),
            "embedder": target.name,
            "previous_embedder": before,
            "dimensions": target.dimensions,
            "embed_seconds": round(embed_seconds, 2),
            "seconds": round(time.perf_counter() - started, 2),
        }

    def _renew_refiner(self, vectors: list[dict[str, Any]]) -> int:
        """The refiner for the store's embedder after a reembed, given ``vectors`` it may keep;
        returns how many it kept."""
        import pixeltable as pxt

        old = self.refiner
        if old is not None:
            old.stop()
        self.refiner = _refiner(self, set(pxt.list_tables(schema.DIR)))
        if self.refiner is None:
            return 0
        kept = self.refiner.adopt(vectors, lambda table, rows: _insert_in_batches(table, rows, BULK_BATCH))
        if _refine_in_background:
            self.refiner.start()
        return kept

    def _reembed_staging(self, target: Embedder) -> tuple[Any, set[str]]:
        """The staging table for a reembed to ``target``, and the chunk ids it already holds:
        those of a stopped reembed to the same embedder, else none (a new table)."""
        import pixeltable as pxt

        wanted = f"{target.name}:{target.dimensions}"
        meta = {r["key"]: r["value"] for r in self.meta_table.select().collect()}
        if meta.get(REEMBED_TARGET) == wanted and STAGING in pxt.list_tables(schema.DIR):
            staging: Any = pxt.get_table(STAGING)
            return staging, {r["chunk_id"] for r in staging.select(staging.chunk_id).collect()}
        self._set_meta({REEMBED_TARGET: wanted})
        staging = pxt.create_table(STAGING, schema.chunk_columns(target.dimensions), if_exists="replace")
        schema.create_indexes(chunks=staging, vector=False)
        return staging, set()

    def reembed_state(self) -> dict[str, Any] | None:
        """A stopped or running reembed: the embedder it moves to and its chunks done, else None."""
        import pixeltable as pxt

        rows = self.meta_table.where(self.meta_table.key == REEMBED_TARGET).select(self.meta_table.value).collect()
        if not rows or STAGING not in pxt.list_tables(schema.DIR):
            return None
        name = str(rows[0]["value"]).rpartition(":")[0]
        staging: Any = pxt.get_table(STAGING)
        return {"embedder": name, "chunks_done": staging.count(), "chunks_total": self.chunks.count()}

    def _set_meta(self, values: dict[str, str]) -> None:
        set_meta(self.meta_table, values)

    @_reading
    def history_contains(self, text: str) -> bool:
        """Whether any stored version of the chunks (deleted ones included) holds ``text``."""
        from lanterna.memory import pxt_adapter

        return pxt_adapter.count_containing(self.chunks, "text", text) > 0


def _refiner(store: MemoryStore, existing: set[str]) -> Refiner | None:
    """The store's refiner when ``[memory] rerank`` (or the default for its embedder) names one."""
    from lanterna.memory import refine
    from lanterna.memory.embedders import EmbedderError

    name = refine.refiner_name(store.settings.rerank, store.embedder.name)
    if name is None:
        return None
    try:
        embedder = store._embedder_named(name)
    except EmbedderError as exc:
        raise EmbedderError(f'{exc} (named by [memory] rerank; set it to "off" to rank without one)') from None
    return refine.Refiner(store, embedder, refine.open_table(store.meta_table, embedder, existing))


def _finish_interrupted_purge(existing: set[str]) -> set[str]:
    """Complete or undo a purge that stopped half-way; returns the tables there are now.

    Purge fills ``<table>_purge`` with every live row before it drops ``<table>``: a staging
    table without its original is the complete copy and takes the name; next to its original,
    it is an unfinished copy and goes.
    """
    import pixeltable as pxt

    for name in (schema.CHUNKS, schema.DOCUMENTS, schema.REFINED):
        staging = f"{name}_purge"
        if staging not in existing:
            continue
        if name in existing:
            pxt.drop_table(staging)
        else:
            log.warning("finishing an interrupted memory-purge: %s becomes %s", staging, name)
            pxt.move(staging, name)
            existing.add(name)
        existing.discard(staging)
    return existing


#: Where ``reembed`` and ``bulk_load`` build a new chunks table, and the name the old one
#: takes while the new one takes its place; the meta key naming the embedder moved to.
STAGING = f"{schema.CHUNKS}_staging"
OLD_CHUNKS = f"{schema.CHUNKS}_old"
REEMBED_TARGET = "reembed_to"
#: Rows per insert into a table without a vector index (fast: larger transactions pay off).
BULK_BATCH = 1024
#: New chunks from which an ingest loads in bulk (``MemoryStore.bulk_load``).
BULK_MIN_CHUNKS = 1000


def _insert_in_batches(table: Any, rows: list[dict[str, Any]], size: int) -> None:
    """Insert ``rows`` into ``table``, ``size`` at a time (each insert is one transaction)."""
    for start_at in range(0, len(rows), size):
        table.insert(rows[start_at : start_at + size])


def delete_chunk_ids(table: Any, chunk_ids: Sequence[str]) -> None:
    """Delete the rows of ``table`` with these ``chunk_id``s, 500 ids per statement."""
    for start_at in range(0, len(chunk_ids), 500):
        table.delete(where=table.chunk_id.isin(list(chunk_ids[start_at : start_at + 500])))


def embedded_text(row: dict[str, Any]) -> str:
    """The text a stored chunk was embedded from: records as they are, files with their place on top."""
    from lanterna.memory.chunking import embedding_text

    if row["path"].startswith(schema.RECORD_PREFIX):
        return row["text"]
    return embedding_text(row["path"], row["symbol"], row["text"])


def set_meta(meta_table: Any, values: dict[str, str]) -> None:
    for key, value in values.items():
        meta_table.delete(where=meta_table.key == key)
        meta_table.insert([{"key": key, "value": value}])


def _apply_reembed_target(meta_table: Any) -> dict[str, str]:
    """Make the embedder named by ``REEMBED_TARGET`` the store's; the store's meta afterwards."""
    meta = {r["key"]: r["value"] for r in meta_table.select().collect()}
    target = meta.get(REEMBED_TARGET)
    if target:
        name, _, dimensions = target.rpartition(":")
        set_meta(meta_table, {"embedder": name, "dimensions": dimensions})
        meta_table.delete(where=meta_table.key == REEMBED_TARGET)
    return {r["key"]: r["value"] for r in meta_table.select().collect()}


def _finish_interrupted_swap(existing: set[str]) -> set[str]:
    """Complete, keep or undo a reembed or bulk load that stopped half-way; returns the tables
    there are now (the staging table of a stopped reembed is not among them).

    Before ``OLD_CHUNKS`` exists the chunks table is untouched and the staging one may be
    partial: a reembed's is kept for the next reembed to continue (``REEMBED_TARGET`` names
    its embedder), a bulk load's goes. Once the chunks table has been renamed the staging one
    is complete (it is renamed only when full and indexed): the swap is finished.
    """
    import pixeltable as pxt

    if schema.META not in existing or not {OLD_CHUNKS, STAGING} & existing:
        return existing
    meta_table: Any = pxt.get_table(schema.META)
    if OLD_CHUNKS in existing:
        if schema.CHUNKS not in existing and STAGING in existing:
            pxt.move(STAGING, schema.CHUNKS)
            existing.add(schema.CHUNKS)
        log.warning("finishing an interrupted memory reembed or bulk load")
        _apply_reembed_target(meta_table)
        pxt.drop_table(OLD_CHUNKS)
    elif STAGING in existing and not meta_table.where(meta_table.key == REEMBED_TARGET).count():
        log.warning("dropping the unfinished table of an interrupted bulk load")
        pxt.drop_table(STAGING)
    existing -= {OLD_CHUNKS, STAGING}
    return existing


def _hit(row: dict[str, Any], score: float) -> Hit:
    return Hit(
        doc_id=row["doc_id"],
        service=row["service"],
        kind=row["kind"],
        path=row["path"],
        start_line=row["start_line"],
        end_line=row["end_line"],
        text=row["text"],
        score=float(score),
        vector_score=float(score),
        root=row["root"],
        symbol=row["symbol"],
        chunk_id=row["chunk_id"],
    )


def _add_roots_and_symbols(tables: dict[str, Any]) -> None:
    """Version 2: documents and chunks record their root, chunks their symbol (None in older rows)."""
    import pixeltable as pxt

    tables["documents"].add_column(if_exists="ignore", root=pxt.String | None)
    tables["chunks"].add_columns({"root": pxt.String | None, "symbol": pxt.String | None}, if_exists="ignore")


#: ``{from_version: step}``; each step upgrades the tables by one schema version.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], None]] = {1: _add_roots_and_symbols}

_store: MemoryStore | None = None
_store_lock = threading.Lock()
_refine_in_background = False


def opened_store() -> MemoryStore | None:
    """The process-wide store if this process has opened it, else None (opens nothing)."""
    return _store


def refine_in_background() -> None:
    """Let this long-running process (daemon, server) fill the refined vectors of the store
    it opens, on a thread of its own (``refine.Refiner.start``)."""
    global _refine_in_background
    _refine_in_background = True
    with _store_lock:
        if _store is not None and _store.refiner is not None:
            _store.refiner.start()


def get_store(settings: MemorySettings, embedder_named: Callable[[str], Embedder]) -> MemoryStore:
    """The process-wide store (opened on first use; Pixeltable allows one home per process)."""
    global _store
    with _store_lock:
        if _store is None:
            from lanterna.memory.locks import StoreUse

            use = StoreUse(settings)  # before opening: a purge elsewhere cannot start under us
            try:
                _store = MemoryStore.open(settings, embedder_named)
            except BaseException:
                use.release()
                raise
            _store.use = use
            if _refine_in_background and _store.refiner is not None:
                _store.refiner.start()
        elif _store.settings.pixeltable_home != settings.pixeltable_home:
            raise StoreError(
                f"this process already uses the memory store at {_store.settings.pixeltable_home};"
                " one store per process"
            )
        return _store


def close_store() -> bool:
    """Forget the store and stop Pixeltable's Postgres if this process was its last user."""
    global _store
    from lanterna.memory import runtime

    with _store_lock:
        if _store is not None and _store.refiner is not None:
            _store.refiner.stop()
        if _store is not None and _store.use is not None:
            _store.use.release()
        _store = None
        return runtime.stop()
