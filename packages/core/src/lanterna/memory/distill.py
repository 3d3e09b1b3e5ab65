"""Build the static embedder's token table from the shipped MiniLM (model2vec-style distillation).

    python -m lanterna.memory.distill [OUT.npz] [--dimensions 0]

Each WordPiece token of MiniLM's vocabulary goes through the model alone (``[CLS] token
[SEP]``), mean-pooled like a sentence. Each token's vector is then scaled by a smooth inverse
frequency weight ``a / (a + p(token))`` (``a = 1e-3``), so that common tokens such as ``self``
or ``(`` count for little in a text's sum.

``p`` is the token's add-one-smoothed relative frequency in the ``.py`` files of the running
Python's standard library, without the modules that ``bench/retrieval_quality.py`` asks about
or uses as distractors (``EXCLUDED_MODULES``) and without their ``test_*`` modules, so the
retrieval benchmark does not grade a table weighted by its own test material. For Python 3.11
that is 1,682 files, 8.9 million tokens.

With ``--dimensions N`` the centred vectors are first reduced to ``N`` dimensions by PCA
(smaller table); the default keeps MiniLM's 384 dimensions, which measured better on
``bench/retrieval_quality.py`` (MRR 0.896 / 0.918 on shop / stdlib against 0.887 / 0.888 at 256).
The result is stored as int8 with one float32 scale per token (``vectors``, ``scales``), and
compressed: about 10 MB. Deterministic for a given model, vocabulary and standard library (a
distribution's Python may ship it without its test suite, which changes the frequencies: the
shipped table was built with CPython 3.11's full standard library); about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path
from typing import Any

#: Smooth inverse frequency constant (1e-3 and 1e-4 measured within noise; 1e-3 slightly better).
SIF_A = 1e-3

#: Top-level standard library modules left out of the frequency corpus: the files the retrieval
#: benchmark's stdlib questions are about and its distractors (tests keep this list in step).
EXCLUDED_MODULES = frozenset(
    {
        "base64",
        "bisect",
        "calendar",
        "csv",
        "difflib",
        "email",
        "fnmatch",
        "glob",
        "heapq",
        "http",
        "json",
        "secrets",
        "shlex",
        "string",
        "tempfile",
        "textwrap",
        "urllib",
    }
)

#: Where the static embedder reads its table (package data, shipped in the wheel).
TABLE = Path(__file__).parent / "data" / "minilm-static.npz"


def token_vectors(embedder: Any, batch: int = 1024) -> Any:
    """``(vocabulary size, 384)`` float32: each token run through MiniLM on its own, mean-pooled."""
    import numpy as np

    embedder.embed(["load"])
    session, vocab = embedder._session, embedder._tokenizer.get_vocab()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    size = len(vocab)
    out = np.zeros((size, embedder.dimensions), dtype=np.float32)
    for start in range(0, size, batch):
        ids = np.arange(start, min(size, start + batch), dtype=np.int64)
        x = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        (hidden,) = session.run(
            None, {"input_ids": x, "attention_mask": np.ones_like(x), "token_type_ids": np.zeros_like(x)}
        )
        out[start : start + len(ids)] = hidden.mean(axis=1)
    return out


def corpus_files() -> list[Path]:
    """The standard library's ``.py`` files, less ``EXCLUDED_MODULES`` and their tests, sorted."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in sorted(stdlib.rglob("*.py")):
        parts = path.relative_to(stdlib).parts
        if parts[0] == "site-packages" or parts[0].removesuffix(".py") in EXCLUDED_MODULES:
            continue
        tested = {p.removesuffix(".py").removeprefix("test_") for p in parts if p.startswith("test_")}
        if tested & EXCLUDED_MODULES:
            continue
        files.append(path)
    return files


def token_frequencies(tokenizer: Any, size: int) -> Any:
    """Relative frequency of each token in ``corpus_files()`` (add-one smoothed)."""
    import numpy as np

    texts = [p.read_text(encoding="utf-8", errors="ignore") for p in corpus_files()]
    counts = np.ones(size, dtype=np.float64)
    for start in range(0, len(texts), 256):
        for encoding in tokenizer.encode_batch(texts[start : start + 256], add_special_tokens=False):
            np.add.at(counts, encoding.ids, 1)
    return counts / counts.sum()


def quantise(weighted: Any) -> tuple[Any, Any]:
    """int8 rows and the float32 scale of each (``row ≈ int8 row * scale``)."""
    import numpy as np

    scales = np.abs(weighted).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    return np.round(weighted / scales[:, None]).astype(np.int8), scales.astype(np.float32)


def distill(out: Path, dimensions: int = 0) -> None:
    import numpy as np

    from lanterna.memory.embedders import MiniLMEmbedder

    model = MiniLMEmbedder()
    vectors = token_vectors(model)
    if dimensions:
        centred = vectors - vectors.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        vectors = centred @ components[:dimensions].T
    tokenizer = model._tokenizer
    tokenizer.no_truncation()  # whole files: MiniLM's own cut at 256 tokens is for its window
    frequency = token_frequencies(tokenizer, len(vectors))
    quantised, scales = quantise(vectors * (SIF_A / (SIF_A + frequency))[:, None])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, vectors=quantised, scales=scales)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=TABLE)
    parser.add_argument("--dimensions", type=int, default=0, help="reduce by PCA to this many (0: keep 384)")
    args = parser.parse_args()
    distill(args.out, args.dimensions)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
