"""Incremental ingest of a source tree (a local folder or a code source's snapshot) into one
tenant's service.

Unchanged files (same content hash: sha256 of the text before redaction, or a code host's
blob id) are skipped, changed ones replaced, deleted ones removed — only among the documents
of this tenant and service. A run that was killed leaves chunks without a document row; the
next run removes them and stores those files again.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanterna.errors import UserError
from lanterna.memory.chunking import chunk_text, embedding_text, kind_for
from lanterna.memory.redaction import redact
from lanterna.memory.schema import KINDS, RECORD_PREFIX
from lanterna.memory.store import ChunkIn, DocumentIn, MemoryStore
from lanterna.memory.walker import ALWAYS_SKIPPED_DIRS, decode_text, is_secret_name, walk

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from lanterna.sources import Snapshot

    #: ``progress(files_done, files_total, chunks_done)``, called as the ingest goes.
    Progress = Callable[[int, int, int], None]

#: Chunks embedded and inserted together (one insert per table per batch), and when loading
#: in bulk (nothing is visible before the end, so only the embedder's batch matters).
WRITE_BATCH_CHUNKS = 64
BULK_WRITE_BATCH_CHUNKS = 512
#: Characters of text per chunk, on average, to estimate an ingest's chunks before chunking.
CHARS_PER_CHUNK = 1000
#: Chunks per second of embedding from which the rest of a large ingest loads in bulk: the
#: HNSW index takes ~3 ms a row, so below this rate it is a small part of the time, and
#: loading row by row keeps each file searchable as soon as it is stored.
BULK_MIN_EMBED_RATE = 1000
#: Files a code source need not download to know they are binary.
BINARY_SUFFIXES = frozenset(
    {
        "png",
        "jpg",
        "jpeg",
        "gif",
        "ico",
        "webp",
        "bmp",
        "tiff",
        "pdf",
        "zip",
        "gz",
        "tgz",
        "bz2",
        "xz",
        "7z",
        "jar",
        "war",
        "whl",
        "egg",
        "so",
        "dll",
        "dylib",
        "exe",
        "bin",
        "class",
        "pyc",
        "o",
        "a",
        "woff",
        "woff2",
        "ttf",
        "otf",
        "eot",
        "mp3",
        "mp4",
        "mov",
        "avi",
        "wav",
        "ogg",
        "webm",
        "sqlite",
        "db",
        "parquet",
        "npy",
        "pkl",
    }
)


class IngestError(UserError):
    """The ingest cannot start; the message says what to fix."""


@dataclass
class IngestReport:
    service: str
    root: str
    files_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    skipped_secrets: list[str] = field(default_factory=list)  # secret files, not stored at all
    redacted_secrets: list[str] = field(default_factory=list)  # stored with their secret values redacted
    skipped_binary: list[str] = field(default_factory=list)
    skipped_too_big: list[str] = field(default_factory=list)
    #: Files and folders left out by .gitignore rules or as tool folders (.git, node_modules…).
    skipped_ignored: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    #: Whether the new chunks were loaded in bulk (``MemoryStore.bulk_load``).
    bulk: bool = False
    #: What a code source reports about the download (requests made, bytes), if any.
    source: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SERVICE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/@+-]{0,99}")


def check_service(service: str) -> str:
    """``service`` stripped, or ``IngestError`` saying what a service name may be."""
    service = service.strip()
    if not service:
        raise IngestError("a service name is required: pass --service NAME (e.g. billing-api)")
    if not SERVICE_NAME.fullmatch(service):
        shown = "".join(c if c.isprintable() else "?" for c in service[:40]) + ("…" if len(service) > 40 else "")
        raise IngestError(
            f"'{shown}' is not a service name: use 1-100 letters, digits and . _ - / : @ +"
            " (no spaces), e.g. billing-api"
        )
    return service


def ingest(
    store: MemoryStore,
    tenant: str,
    root: Path,
    service: str,
    *,
    kind: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest a folder (the service's whole tree) or a single file on this machine."""
    started = time.perf_counter()
    service = check_service(service)
    _check_kind(kind)
    root = root.expanduser()
    if not root.exists():
        raise IngestError(f"path {root} does not exist; pass a folder or file to ingest")
    root = root.resolve()
    report = IngestReport(service=service, root=str(root))
    walked = walk(root, store.settings.max_file_bytes)
    report.skipped_secrets = list(walked.secrets)
    report.skipped_too_big = list(walked.too_big)
    report.skipped_ignored = walked.ignored
    paths = {(path.name if root.is_file() else path.relative_to(root).as_posix()): path for path in walked.files}

    def fetch(wanted: list[str]) -> Iterator[tuple[str, bytes]]:
        for rel in wanted:
            try:
                yield rel, paths[rel].read_bytes()
            except OSError:
                continue

    # a single file updates that file only; a folder is the service's whole tree
    entries: list[tuple[str, str | None]] = [(rel, None) for rel in paths]
    # paths are relative to the folder ingested (a single file's folder): recorded with each document
    base = str(root.parent if root.is_file() else root)
    return _ingest_entries(store, tenant, report, entries, fetch, base, not root.is_file(), kind, progress, started)


def ingest_snapshot(
    store: MemoryStore,
    tenant: str,
    snapshot: Snapshot,
    service: str,
    *,
    kind: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest a code source's snapshot of a repository: the same rules as a local folder, and
    only files whose content id differs from the stored one are downloaded."""
    started = time.perf_counter()
    service = check_service(service)
    _check_kind(kind)
    report = IngestReport(service=service, root=snapshot.label)
    entries: list[tuple[str, str | None]] = []
    for file in snapshot.files:
        parts = file.path.split("/")
        if any(part in ALWAYS_SKIPPED_DIRS for part in parts[:-1]):
            report.skipped_ignored += 1
            continue
        if is_secret_name(parts[-1]):
            report.skipped_secrets.append(file.path)
        elif parts[-1].rpartition(".")[2].lower() in BINARY_SUFFIXES:
            report.skipped_binary.append(file.path)  # known by name: not downloaded on every re-ingest
        elif file.size is not None and file.size > store.settings.max_file_bytes:
            report.skipped_too_big.append(file.path)
        else:
            entries.append((file.path, file.digest))
    report = _ingest_entries(
        store, tenant, report, entries, snapshot.fetch, snapshot.label, True, kind, progress, started
    )
    report.source = dict(snapshot.stats)
    return report


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise IngestError(f"unknown kind '{kind}'; use one of {', '.join(KINDS)}")


def _ingest_entries(store: MemoryStore, tenant: str, report: IngestReport, *args: Any) -> IngestReport:
    """One ingest of a (tenant, service) at a time, across processes and machines."""
    from lanterna.memory.locks import ingest_lock

    with ingest_lock(store.settings, tenant, report.service):
        return _ingest_locked(store, tenant, report, *args)


def _ingest_locked(
    store: MemoryStore,
    tenant: str,
    report: IngestReport,
    entries: list[tuple[str, str | None]],
    fetch: Callable[[list[str]], Iterable[tuple[str, bytes]]],
    root: str,
    whole_tree: bool,
    kind: str | None,
    progress: Progress | None,
    started: float,
) -> IngestReport:
    """Store ``entries`` (path, content id or None) of a tree; ``fetch`` downloads content.
    ``root`` is what the paths are relative to (``schema.ROOT_DOC``), recorded with every document.

    An entry whose content id matches the stored one is not fetched at all; an entry without
    an id is fetched and hashed (sha256 of its text) to find out.
    """
    service = report.service
    known = {p: v for p, v in store.known_documents(tenant, service).items() if not p.startswith(RECORD_PREFIX)}
    interrupted = store.interrupted_paths(tenant, service)
    total = len(entries)
    digests = dict(entries)
    seen: set[str] = set()
    unchanged: list[str] = []
    wanted: list[str] = []
    for rel, digest in entries:
        stored = known.get(rel)
        if digest is not None and stored is not None and stored[1] == digest and rel not in interrupted:
            seen.add(rel)
            report.files_seen += 1
            report.unchanged += 1
            unchanged.append(rel)
        else:
            wanted.append(rel)
    done = total - len(wanted)
    if progress and done:
        progress(done, total, report.chunks)

    pending: list[tuple[str, str, str]] = []  # (rel, text, hash) to store
    fetched = dict(fetch(wanted)) if wanted else {}
    for rel in wanted:
        data = fetched.pop(rel, None)
        if data is None:
            continue
        text = decode_text(data)
        if text is None:
            report.skipped_binary.append(rel)
            continue
        seen.add(rel)
        report.files_seen += 1
        digest = digests[rel] or hashlib.sha256(text.encode("utf-8")).hexdigest()  # of the file as it is
        stored = known.get(rel)
        if stored is not None and stored[1] == digest and rel not in interrupted:
            report.unchanged += 1
            unchanged.append(rel)
            done += 1
            if progress:
                progress(done, total, report.chunks)
            continue
        redacted = redact(text, rel)
        if redacted.count:
            report.redacted_secrets.append(rel)
            text = redacted.text
        if stored is not None:
            report.updated += 1
        else:
            report.added += 1
        pending.append((rel, text, digest))

    removed = set(known) - seen if whole_tree else set()
    report.removed = len(removed)
    replaced = {rel for rel, _, _ in pending if rel in known} | interrupted
    store.remove_paths(tenant, service, removed | replaced)
    if unchanged:  # stored before roots were recorded, or from a folder since moved
        roots = store.roots_of(tenant, service)
        store.set_root(tenant, service, root, [rel for rel in unchanged if roots.get(rel) != root])

    left = sum(len(text) for _, text, _ in pending)  # characters still to store
    with contextlib.ExitStack() as bulk:
        batch: list[DocumentIn] = []
        batch_chunks = 0
        for rel, text, digest in pending:
            left -= len(text)
            chunks = chunk_text(text, rel, max_lines=store.settings.chunk_lines)
            batch.append(
                DocumentIn(
                    kind=kind or kind_for(rel),
                    path=rel,
                    content_hash=digest,
                    title=rel,
                    root=root,
                    chunks=[
                        ChunkIn(c.start_line, c.end_line, c.text, c.symbol, embedding_text(rel, c.symbol, c.text))
                        for c in chunks
                    ],
                )
            )
            batch_chunks += len(chunks)
            if batch_chunks >= (BULK_WRITE_BATCH_CHUNKS if report.bulk else WRITE_BATCH_CHUNKS):
                first = not report.chunks
                report.embed_seconds += store.write(tenant, service, batch)
                report.chunks += batch_chunks
                done += len(batch)
                if progress:
                    progress(done, total, report.chunks)
                batch, batch_chunks = [], 0
                # The first batch is searchable at once; the rest goes in bulk if the embedder
                # is fast enough for the vector index to be what the ingest would wait for.
                if first and report.chunks >= BULK_MIN_EMBED_RATE * report.embed_seconds:
                    report.bulk = bulk.enter_context(store.bulk_load(left // CHARS_PER_CHUNK))
        if batch:
            report.embed_seconds += store.write(tenant, service, batch)
            report.chunks += batch_chunks
            done += len(batch)
    if progress:
        progress(total, total, report.chunks)
    report.seconds = time.perf_counter() - started
    return report
