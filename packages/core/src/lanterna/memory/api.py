"""The long-term memory service: what the CLI commands and the MCP tools call.

A ``MemoryService`` is built from the plugin host that registered the memory plugin: its
settings come from that host's config and its embedders from that host's plugins, so a
server or an application with a host of its own gets a memory of its own configuration.
Every method works for the tenant of the guarded operation running now
(``current_request().tenant``) and returns plain JSON-able data.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanterna.errors import UserError
from lanterna.guard import current_request
from lanterna.memory.schema import KINDS, RECORD_PREFIX

if TYPE_CHECKING:
    from collections.abc import Callable

    from lanterna.memory.embedders import Embedder
    from lanterna.memory.settings import MemorySettings
    from lanterna.memory.store import MemoryStore
    from lanterna.plugins import PluginHost
    from lanterna.sources import SourceSpec

RECORD_KINDS = ("note", "adr", "incident", "meeting")
#: Most records one listing returns (the same bound as a search's results).
MAX_LIST = 200


class MemoryUsageError(UserError):
    """Bad input to a memory operation; the message says what to do."""


def resource_for(service: str | None) -> str:
    """The guard resource of a memory operation: ``service:<name>``, or ``service:*`` for all."""
    service = (service or "").strip()
    return f"service:{service}" if service else "service:*"


class MemoryService:
    """Long-term memory for one plugin host."""

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self._embedders: dict[str, Embedder] | None = None
        self._refused: list[str] = []
        self._lock = threading.Lock()

    # -- configuration ---------------------------------------------------------------------

    @property
    def settings(self) -> MemorySettings:
        from lanterna.memory.settings import MemorySettings

        return MemorySettings.from_config(self.host.config)

    def embedders(self) -> dict[str, Embedder]:
        """Every embedder the host's plugins register, by name (resolved once per service)."""
        with self._lock:
            if self._embedders is None:
                from lanterna.memory.embedders import collect_embedders

                self._embedders, self._refused = collect_embedders(self.host)
            return self._embedders

    def embedder(self, name: str) -> Embedder:
        from lanterna.memory.embedders import EmbedderError

        found = self.embedders()
        if name not in found:
            for reason in self._refused:
                if f"embedder '{name}'" in reason:  # it was registered, but refused: say why
                    raise EmbedderError(reason)
            known = ", ".join(sorted(found)) or "none"
            raise EmbedderError(f"no embedder named '{name}' (available: {known}); fix [memory] embedder")
        return found[name]

    def store(self) -> MemoryStore:
        from lanterna.memory.store import get_store

        return get_store(self.settings, self.embedder)

    def tenant(self) -> str:
        value = current_request().tenant
        if not value:
            raise MemoryUsageError("the request has no tenant; configure tenancy")
        return value

    # -- operations ------------------------------------------------------------------------

    def ingest_path(
        self, path: str, service: str, kind: str | None = None, progress: Callable[[int, int, int], None] | None = None
    ) -> dict[str, Any]:
        from lanterna.memory.ingest import IngestError, ingest
        from lanterna.sources import SourceSpec

        spec = SourceSpec.parse(path) if not Path(path).expanduser().exists() else None
        if spec is not None:
            return self._ingest_source(spec, service, kind, progress)
        if current_request().transport == "http":
            # a remote client would otherwise read any file of the server's machine into its memory
            _check_remote_path(path, self.host.config.get("memory", "allow_remote_ingest", []))
        kind = _kind(kind)
        try:
            report = ingest(self.store(), self.tenant(), Path(path), service, kind=kind, progress=progress)
        except IngestError as exc:
            raise MemoryUsageError(str(exc)) from None
        return report.as_dict()

    def _ingest_source(
        self, spec: SourceSpec, service: str, kind: str | None, progress: Callable[[int, int, int], None] | None
    ) -> dict[str, Any]:
        """``scheme:REPO[@REF]``: the plugin registered for the scheme reads the repository."""
        from lanterna.guard import authorize
        from lanterna.memory.ingest import IngestError, check_service, ingest_snapshot
        from lanterna.sources import find_source

        try:
            service = check_service(service)
            source = find_source(self.host, spec.scheme)
            # a policy on the repository binds its ingest as it binds the code host's own tools
            authorize(self.host, "memory.ingest", f"repo:{spec.scheme}:{spec.repo}")
            snapshot = source.snapshot(spec.repo, spec.ref)
            report = ingest_snapshot(
                self.store(), self.tenant(), snapshot, service, kind=_kind(kind), progress=progress
            )
        except IngestError as exc:
            raise MemoryUsageError(str(exc)) from None
        return report.as_dict()

    def search(
        self,
        query: str,
        service: str | None = None,
        kind: str | None = None,
        path: str | None = None,
        limit: int = 10,
        mode: str = "hybrid",
        per_file: int = 2,
    ) -> list[dict[str, Any]]:
        from lanterna.memory.search import SearchError
        from lanterna.memory.search import search as run_search

        if mode not in ("hybrid", "vector"):
            raise MemoryUsageError("mode must be 'hybrid' or 'vector'")
        service = _service(service)
        if not query.strip():
            raise MemoryUsageError("the search query is empty; say what you are looking for")
        kind = _kind(kind)
        s = self.store()
        t = self.tenant()
        if service and not s.has_service(t, service):
            raise MemoryUsageError(
                f"unknown service '{service}': nothing was ingested under it; `lanterna services` lists the"
                f" ingested ones, `lanterna ingest PATH --service {service}` adds it"
            )
        try:
            hits = run_search(
                s,
                t,
                query,
                service=service,
                kind=kind,
                path_glob=path,
                limit=limit,
                # (ignored for mypy) mode was checked against 'hybrid' and 'vector' above; mypy sees str
                mode=mode,  # type: ignore[arg-type]
                per_file=per_file,
            )
        except SearchError as exc:
            raise MemoryUsageError(str(exc)) from None
        except Exception as exc:
            from lanterna.memory.runtime import QUERY_TIMEOUT_S, timed_out

            if not timed_out(exc):
                raise
            raise MemoryUsageError(
                f"the search took longer than {QUERY_TIMEOUT_S} s and was stopped;"
                " narrow it with service=, kind= or path="
            ) from None
        return [h.as_dict() for h in hits]

    def add_record(
        self,
        kind: str,
        text: str,
        *,
        title: str | None = None,
        service: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        """Store a note, ADR, incident or meeting record; returns its id."""
        from lanterna.memory.chunking import chunk_text
        from lanterna.memory.redaction import redact
        from lanterna.memory.store import ChunkIn, DocumentIn

        _kind(kind, RECORD_KINDS)
        text = redact(text.strip()).text  # a secret pasted into a note is not kept either
        if not text:
            raise MemoryUsageError(f"the {kind} is empty; give its text")
        title = redact(title or text.splitlines()[0]).text[:200].strip()
        body = f"# {title}\n\n{text}" if kind != "note" else text
        doc = DocumentIn(
            kind=kind,
            path="",
            content_hash=hashlib.sha256(body.encode()).hexdigest(),
            chunks=[],
            title=title,
            body=body,
            status=status,
        )
        doc.path = f"{RECORD_PREFIX}{kind}/{doc.doc_id}"
        doc.chunks = [ChunkIn(c.start_line, c.end_line, c.text) for c in chunk_text(body, "record.md")]
        service = _service(service) or "_global"
        self.store().write(self.tenant(), service, [doc])
        return {"id": doc.doc_id, "kind": kind, "title": title, "service": service, "status": status}

    def get_record(self, doc_id: str) -> dict[str, Any]:
        row = self.store().get_document(self.tenant(), doc_id)
        if row is None:
            raise MemoryUsageError(f"no memory with id '{doc_id}'; `lanterna search` or the list tools show ids")
        return {
            "id": row["doc_id"],
            "kind": row["kind"],
            "service": row["service"],
            "path": row["path"],
            "title": row["title"],
            "status": row["status"],
            "ingested_at": str(row["ingested_at"]),
            "text": row["body"],
        }

    def list_records(
        self, kind: str | None = None, service: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        if not 1 <= limit <= MAX_LIST:
            raise MemoryUsageError(f"limit must be between 1 and {MAX_LIST}")
        rows = self.store().list_documents(self.tenant(), kind=_kind(kind), service=_service(service), limit=limit)
        return [
            {
                "id": r["doc_id"],
                "kind": r["kind"],
                "service": r["service"],
                "path": r["path"],
                "title": r["title"],
                "status": r["status"],
                "ingested_at": str(r["ingested_at"]),
            }
            for r in rows
        ]

    def forget(self, doc_id: str) -> dict[str, Any]:
        found, chunks = self.store().forget(self.tenant(), doc_id)
        if not found and not chunks:
            raise MemoryUsageError(f"no memory with id '{doc_id}' to forget; `lanterna memories` lists ids")
        result: dict[str, Any] = {"forgotten": doc_id, "chunks_removed": chunks}
        if not found:
            result["note"] = (
                f"'{doc_id}' was not a stored memory: {chunks} chunk(s) an interrupted write left under that id"
                " were removed"
            )
        return result

    def services(self) -> list[dict[str, Any]]:
        return self.store().services(self.tenant())

    def stats(self) -> dict[str, Any]:
        return self.store().stats(self.tenant())

    def reembed(
        self, embedder: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Move the store (every tenant: an operator action) to ``embedder``, by default the
        configured one, embedding every chunk again."""
        from dataclasses import replace

        from lanterna.memory.embedders import DEFAULT_EMBEDDER
        from lanterna.memory.store import get_store

        target = self.embedder(embedder or self.settings.embedder or DEFAULT_EMBEDDER)
        store = get_store(replace(self.settings, embedder=None), self.embedder)  # opened with its own embedder
        if store.embedder.name == target.name:
            return {"chunks": 0, "embedder": target.name, "previous_embedder": target.name, "unchanged": True}
        return store.reembed(target, progress)

    def refine(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Embed every chunk that has no rerank vector yet, now (a daemon or server does it in
        the background); returns ``{"embedder", "chunks_done", "chunks_pending"}``."""
        refiner = self.store().refiner
        if refiner is None or not refiner.active:
            raise MemoryUsageError(
                "this store has no rerank embedder, so there is nothing to refine; set [memory] rerank"
                " (MiniLM reranks a minilm-static store by default)"
            )
        if not refiner.claim():
            raise MemoryUsageError(
                "another process (a memory daemon or a server) is refining this store;"
                " `lanterna stats` shows its progress"
            )
        return refiner.fill(progress)

    def purge(self) -> dict[str, int]:
        """Drop deleted rows from Pixeltable's version history (every tenant: an operator action)."""
        return self.store().purge()


def _kind(kind: str | None, allowed: tuple[str, ...] = KINDS) -> str | None:
    if kind is not None and kind not in allowed:
        raise MemoryUsageError(f"unknown kind '{kind}'; use one of {', '.join(allowed)}")
    return kind


def _service(service: str | None) -> str | None:
    """A valid service name, or None when none was given."""
    from lanterna.memory.ingest import IngestError, check_service

    if service is None or not service.strip():
        return None
    try:
        return check_service(service)
    except IngestError as exc:
        raise MemoryUsageError(str(exc)) from None


def _check_remote_path(path: str, roots: Any) -> None:
    """Refuse an HTTP ingest of ``path`` unless it lies (symlinks resolved) in an allowed root."""
    example = 'allow_remote_ingest = ["/srv/code"]'
    if roots is True:
        raise MemoryUsageError(
            "[memory] allow_remote_ingest = true is not enough: list the folders HTTP clients may ingest,"
            f" e.g. {example}"
        )
    if isinstance(roots, str):
        roots = [roots]
    if not roots or not isinstance(roots, list):
        raise MemoryUsageError(
            "ingesting server paths over HTTP is off; run `lanterna ingest` on the server,"
            f" or list the folders HTTP clients may ingest in [memory]: {example}"
        )
    target = Path(path).expanduser().resolve()
    for root in roots:
        allowed = Path(str(root)).expanduser().resolve()
        if target == allowed or target.is_relative_to(allowed):
            return
    listed = ", ".join(str(r) for r in roots)
    raise MemoryUsageError(
        f"'{path}' is outside the folders HTTP clients may ingest ({listed});"
        " run `lanterna ingest` on the server, or ask its operator to add the folder to [memory] allow_remote_ingest"
    )
