"""Incremental ingest of a source tree into one tenant's service.

Unchanged files (same sha256) are skipped, changed ones replaced, deleted ones removed —
only among the documents of this tenant and service. A run that was killed leaves chunks
without a document row; the next run removes them and stores those files again.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanterna.memory.chunking import chunk_text, kind_for
from lanterna.memory.redaction import redact
from lanterna.memory.schema import KINDS
from lanterna.memory.store import ChunkIn, DocumentIn, MemoryStore
from lanterna.memory.walker import read_text, walk

if TYPE_CHECKING:
    from collections.abc import Callable

#: Chunks embedded and inserted together (one insert per table per batch).
WRITE_BATCH_CHUNKS = 64
RECORD_PREFIX = "record:"


class IngestError(Exception):
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
    embed_seconds: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_service(service: str) -> str:
    service = service.strip()
    if not service or len(service) > 200 or any(c in service for c in "\n\r\t"):
        raise IngestError("a service name is required (1-200 characters, one line): pass --service NAME")
    return service


def ingest(
    store: MemoryStore,
    tenant: str,
    root: Path,
    service: str,
    *,
    kind: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    started = time.perf_counter()
    service = check_service(service)
    if kind is not None and kind not in KINDS:
        raise IngestError(f"unknown kind '{kind}'; use one of {', '.join(KINDS)}")
    root = root.expanduser()
    if not root.exists():
        raise IngestError(f"path {root} does not exist; pass a folder or file to ingest")
    root = root.resolve()
    report = IngestReport(service=service, root=str(root))
    walked = walk(root, store.settings.max_file_bytes)
    report.skipped_secrets = list(walked.secrets)
    report.skipped_too_big = list(walked.too_big)
    known = {p: v for p, v in store.known_documents(tenant, service).items() if not p.startswith(RECORD_PREFIX)}
    interrupted = store.interrupted_paths(tenant, service)

    pending: list[tuple[str, str, str]] = []  # (rel, text, hash) to store
    seen: set[str] = set()
    total = len(walked.files)
    for index, path in enumerate(walked.files):
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        try:
            text = read_text(path)
        except OSError:
            continue
        if text is None:
            report.skipped_binary.append(rel)
            continue
        redacted = redact(text, rel)
        if redacted.count:
            report.redacted_secrets.append(rel)
            text = redacted.text
        seen.add(rel)
        report.files_seen += 1
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        stored = known.get(rel)
        if stored is not None and stored[1] == digest and rel not in interrupted:
            report.unchanged += 1
            if progress:
                progress(index + 1, total)
            continue
        if stored is not None:
            report.updated += 1
        else:
            report.added += 1
        pending.append((rel, text, digest))

    # a single file updates that file only; a folder is the service's whole tree
    removed = set() if root.is_file() else set(known) - seen
    report.removed = len(removed)
    replaced = {rel for rel, _, _ in pending if rel in known} | interrupted
    store.remove_paths(tenant, service, removed | replaced)

    done = total - len(pending)
    batch: list[DocumentIn] = []
    batch_chunks = 0
    for rel, text, digest in pending:
        chunks = chunk_text(text, rel, max_lines=store.settings.chunk_lines)
        batch.append(
            DocumentIn(
                kind=kind or kind_for(rel),
                path=rel,
                content_hash=digest,
                title=rel,
                chunks=[ChunkIn(c.start_line, c.end_line, c.text) for c in chunks],
            )
        )
        batch_chunks += len(chunks)
        if batch_chunks >= WRITE_BATCH_CHUNKS:
            report.embed_seconds += store.write(tenant, service, batch)
            report.chunks += batch_chunks
            done += len(batch)
            if progress:
                progress(done, total)
            batch, batch_chunks = [], 0
    if batch:
        report.embed_seconds += store.write(tenant, service, batch)
        report.chunks += batch_chunks
        done += len(batch)
    if progress:
        progress(total, total)
    report.seconds = time.perf_counter() - started
    return report
