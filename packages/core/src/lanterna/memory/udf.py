"""The Pixeltable embedding UDFs, at an import path that must never move.

Pixeltable's catalog records an index's embedding function by its import path
(``lanterna.memory.udf.embed_384``): renaming this module or these functions breaks every
existing store. Chunks are embedded by Lanterna before insert (the index stores them as
precomputed arrays); these UDFs turn query strings into vectors for ``similarity(string=...)``
with the embedder the store was created with.
"""

from __future__ import annotations

import numpy as np
import pixeltable as pxt
from pixeltable.func import Batch

from lanterna.memory.embedders import DEFAULT_EMBEDDER, Embedder, get_embedder

_active: dict[int, Embedder] = {}


def activate(embedder: Embedder) -> None:
    """Make ``embedder`` the one the UDF of its dimension uses in this process."""
    _active[embedder.dimensions] = embedder


def _embedder(dimensions: int) -> Embedder:
    embedder = _active.get(dimensions)
    if embedder is None:
        embedder = get_embedder(DEFAULT_EMBEDDER)
        _active[dimensions] = embedder
    return embedder


@pxt.udf(batch_size=16)
# Pixeltable reads the column type from ``Array[(shape,), dtype]``, a run-time subscript that
# type checkers take for a malformed generic: hence the ignores on these two lines.
def embed_384(texts: Batch[str]) -> Batch[pxt.Array[(384,), pxt.Float]]:  # type: ignore[type-arg,syntax]
    vectors = _embedder(384).embed(list(texts))
    return [np.asarray(v, dtype=np.float32) for v in vectors]  # type: ignore[misc]


UDFS = {384: embed_384}
