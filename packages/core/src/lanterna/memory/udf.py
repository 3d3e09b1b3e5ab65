"""The embedding UDF of stores created by Lanterna 0.x, at an import path that must never move.

Pixeltable's catalog records an index's embedding function by its import path
(``lanterna.memory.udf.embed_384``): renaming this module or this function breaks every
store whose index was created with it, because loading the catalog imports it. New stores
index the precomputed vectors without a UDF (any dimension works; queries pass vectors),
so nothing here is called by Lanterna's own searches.
"""

from __future__ import annotations

import numpy as np
import pixeltable as pxt
from pixeltable.func import Batch

from lanterna.memory.embedders import Embedder

_active: dict[int, Embedder] = {}


def activate(embedder: Embedder) -> None:
    """Make ``embedder`` the one the UDF of its dimension uses in this process."""
    _active[embedder.dimensions] = embedder


def _embedder(dimensions: int) -> Embedder:
    embedder = _active.get(dimensions)
    if embedder is None:
        from lanterna.memory.embedders import EmbedderError

        raise EmbedderError(f"no {dimensions}-dimension embedder is active; open the memory store first")
    return embedder


@pxt.udf(batch_size=16)
# Pixeltable reads the column type from ``Array[(shape,), dtype]``, a run-time subscript that
# type checkers take for a malformed generic: hence the ignores on these two lines.
def embed_384(texts: Batch[str]) -> Batch[pxt.Array[(384,), pxt.Float]]:  # type: ignore[type-arg,syntax]
    vectors = _embedder(384).embed(list(texts))
    return [np.asarray(v, dtype=np.float32) for v in vectors]  # type: ignore[misc]
