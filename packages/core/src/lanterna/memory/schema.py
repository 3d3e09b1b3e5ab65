"""The store's schema, its version, and the checks made before Pixeltable is touched."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lanterna import __version__
from lanterna.memory.runtime import StoreError

#: Bump when the tables change; add a step to ``MIGRATIONS`` that brings the previous version up.
SCHEMA_VERSION = 2
DIR = "lanterna_memory"
META, DOCUMENTS, CHUNKS = f"{DIR}/meta", f"{DIR}/documents", f"{DIR}/chunks"
#: Vectors of a second embedder that rerank searches (``refine.py``); optional.
REFINED = f"{DIR}/refined"
MARKER = "lanterna-store.json"
#: The HNSW index of chunk vectors (``similarity(..., idx=VECTOR_INDEX)``).
VECTOR_INDEX = "semantic"
KINDS = ("code", "doc", "adr", "incident", "note", "meeting")
#: How the path of a record (note, ADR, incident…) begins: ``record:<kind>/<doc_id>``.
RECORD_PREFIX = "record:"
#: How a document's ``root`` reads: an absolute folder on the machine that ingested it
#: (``/home/ana/shop``), or a remote source as ``github:OWNER/REPO@REF`` (``gitlab:…`` alike).
ROOT_DOC = "absolute local folder, or github:OWNER/REPO@REF for a remote source"


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def document_columns() -> dict[str, Any]:
    import pixeltable as pxt

    return {
        "doc_id": pxt.Required[pxt.String],
        "tenant": pxt.Required[pxt.String],
        "service": pxt.Required[pxt.String],
        "kind": pxt.Required[pxt.String],
        "path": pxt.Required[pxt.String],
        "root": pxt.String | None,  # what ``path`` is relative to (see ``ROOT_DOC``); None for records
        "title": pxt.String | None,
        "content_hash": pxt.Required[pxt.String],
        "body": pxt.String | None,  # full text of records (notes, ADRs, incidents); None for files
        "status": pxt.String | None,
        "n_chunks": pxt.Int | None,
        "ingested_at": pxt.Required[pxt.Timestamp],
    }


def chunk_columns(dimensions: int) -> dict[str, Any]:
    import pixeltable as pxt

    return {
        "chunk_id": pxt.Required[pxt.String],
        "doc_id": pxt.Required[pxt.String],
        "tenant": pxt.Required[pxt.String],
        "service": pxt.Required[pxt.String],
        "kind": pxt.Required[pxt.String],
        "path": pxt.Required[pxt.String],
        "root": pxt.String | None,
        "start_line": pxt.Int | None,
        "end_line": pxt.Int | None,
        "symbol": pxt.String | None,  # enclosing definition(s): ``JSONDecoder.raw_decode``
        "text": pxt.Required[pxt.String],
        # (ignored for mypy) Pixeltable's Array[(shape,), dtype] is a run-time subscript, not a typing generic
        "embedding": pxt.Required[pxt.Array[(dimensions,), pxt.Float]],  # type: ignore[misc]
        "ingested_at": pxt.Required[pxt.Timestamp],
    }


def refined_columns(dimensions: int) -> dict[str, Any]:
    import pixeltable as pxt

    return {
        "chunk_id": pxt.Required[pxt.String],
        "vector": pxt.Required[pxt.Array[(dimensions,), pxt.Float]],  # type: ignore[misc]  # as in chunk_columns
    }


def create_indexes(*, documents: Any = None, chunks: Any = None, vector: bool = True) -> None:
    """Every index of the store's tables, created when a table is (first time, or by a purge).

    Btree indexes on the columns every query filters by; on chunks, the HNSW index over the
    precomputed vectors (``vector=False`` leaves it for ``create_vector_index``, once a table
    filled in bulk is full). It has no embedding UDF: Lanterna embeds texts itself and queries
    with vectors, so an embedder of any dimension works.
    """
    for table in (documents, chunks):
        if table is not None:
            for column in ("tenant", "path"):
                table.add_btree_index(column, if_exists="ignore")
    if chunks is not None:
        chunks.add_btree_index("doc_id", if_exists="ignore")
        if vector:
            create_vector_index(chunks)


def create_vector_index(chunks: Any) -> None:
    """The HNSW index of ``chunks``, built over the rows it holds (minutes for a large table:
    no statement timeout)."""
    from lanterna.memory.runtime import untimed

    with untimed():
        chunks.add_embedding_index(
            "embedding", idx_name=VECTOR_INDEX, metric="cosine", precision="fp32", if_exists="ignore"
        )


def marker_path(home: Path) -> Path:
    return home / MARKER


def read_marker(home: Path) -> dict[str, Any] | None:
    path = marker_path(home)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"the memory store marker {path} is unreadable ({exc}); restore it or move the store away"
        ) from None


def write_marker(home: Path, meta: dict[str, str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    marker_path(home).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def new_meta(embedder: str, dimensions: int) -> dict[str, str]:
    return {
        "schema_version": str(SCHEMA_VERSION),
        "python_version": python_version(),
        "embedder": embedder,
        "dimensions": str(dimensions),
        "created_by": f"lanterna {__version__}",
    }


def check_compatible(meta: dict[str, Any], where: Path | str) -> None:
    """Refuse a store this Lanterna cannot use, before anything reads its tables."""
    try:
        version = int(meta["schema_version"])
    except (KeyError, TypeError, ValueError):
        raise StoreError(
            f"the memory store at {where} has no valid schema version; it is corrupt: move it away"
        ) from None
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the memory store at {where} has schema version {version}, newer than this Lanterna understands"
            f" ({SCHEMA_VERSION}); upgrade lanterna"
        )
    created = meta.get("python_version")
    if created and created != python_version():
        raise StoreError(
            f"the memory store at {where} was created with Python {created}, this is Python {python_version()};"
            f" run lanterna with Python {created} or set [memory] pixeltable_home to a new folder"
        )


def check_embedder(meta: dict[str, Any], embedder: str, where: Path | str) -> None:
    stored = meta.get("embedder")
    if stored and stored != embedder:
        raise StoreError(
            f"the memory store at {where} was embedded with '{stored}', but the configured embedder is"
            f" '{embedder}'; run `lanterna memory reembed --embedder {embedder}` to switch it, or set"
            f' [memory] embedder = "{stored}"'
        )
