"""The ``[memory]`` section of the config, with environment overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lanterna.config import Config, data_dir


@dataclass(frozen=True)
class MemorySettings:
    """Where the store lives and how files are read.

    ``pixeltable_home``: ``LANTERNA_PIXELTABLE_HOME`` or ``[memory] pixeltable_home``, default
    ``<data dir>/pixeltable``. ``db_connect_str``: ``LANTERNA_DB_CONNECT_STR`` or ``[memory]
    db_connect_str``, an external PostgreSQL (with pgvector) for teams, passed to Pixeltable.
    ``embedder``: ``LANTERNA_EMBEDDER`` or ``[memory] embedder``; None when neither is set, and
    then a store keeps the embedder it was built with (a new one gets ``DEFAULT_EMBEDDER``).
    ``rerank``: ``LANTERNA_RERANK`` or ``[memory] rerank``, the embedder whose vectors, filled in
    in the background, rerank search results (``refine.py``); None when neither is set (then
    MiniLM for a ``minilm-static`` store), ``"off"`` for none.
    """

    pixeltable_home: Path
    db_connect_str: str | None
    embedder: str | None
    max_file_bytes: int
    chunk_lines: int
    rerank: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> MemorySettings:
        section = config.section("memory")
        home = os.environ.get("LANTERNA_PIXELTABLE_HOME") or section.get("pixeltable_home")
        connect = os.environ.get("LANTERNA_DB_CONNECT_STR") or section.get("db_connect_str")
        embedder = os.environ.get("LANTERNA_EMBEDDER") or section.get("embedder")
        rerank = os.environ.get("LANTERNA_RERANK") or section.get("rerank")
        return cls(
            pixeltable_home=Path(home).expanduser() if home else data_dir() / "pixeltable",
            db_connect_str=str(connect) if connect else None,
            embedder=str(embedder) if embedder else None,
            max_file_bytes=int(section.get("max_file_kb", 512)) * 1024,
            chunk_lines=int(section.get("chunk_lines", 40)),
            rerank=str(rerank) if rerank else None,
        )
