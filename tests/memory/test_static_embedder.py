"""The opt-in static embedder distilled from MiniLM: its table, its vectors and a store built with it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from lanterna.memory import distill
from lanterna.memory.embedders import EmbedderError, StaticEmbedder

from .helpers import run_on_own_store, write_tree

REPO = Path(__file__).resolve().parents[2]
SHIPPED = Path(distill.__file__).parent / "data" / "minilm-static.npz"

TEXTS = [
    "def check_password(user, password):\n    return bcrypt.checkpw(password.encode(), user.hash)\n",
    "def call_with_retries(fn, attempts=5):\n    for n in range(attempts):\n        time.sleep(2 ** n)\n",
    "# On-call\n\nPage the secondary engineer if the primary does not acknowledge within 10 minutes.\n",
]


def dot(a: list[float], b: list[float]) -> float:
    return sum(p * q for p, q in zip(a, b, strict=True))


def test_the_table_ships_as_package_data_and_is_small() -> None:
    assert SHIPPED.is_file()
    assert SHIPPED.stat().st_size <= 12_000_000


def test_vectors_are_unit_length_deterministic_and_rank_by_meaning() -> None:
    first, second = StaticEmbedder(), StaticEmbedder()
    vectors = first.embed([*TEXTS, "", "   "])
    assert len(vectors) == 5 and all(len(v) == 384 for v in vectors)
    assert all(abs(math.sqrt(dot(v, v)) - 1) < 1e-5 for v in vectors)  # empty texts too
    assert second.embed(TEXTS) == vectors[:3]  # a fresh instance, the same floats
    (query,) = first.embed(["verify the user's credentials"])
    scores = [dot(query, v) for v in vectors[:3]]
    assert scores.index(max(scores)) == 0, scores
    assert first.embed([]) == []


def test_concurrent_first_calls_load_once_and_agree() -> None:
    embedder = StaticEmbedder()
    results: list[list[list[float]]] = []
    threads = [threading.Thread(target=lambda: results.append(embedder.embed(TEXTS))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(r == results[0] for r in results)


def test_importing_and_registering_loads_no_numpy_or_tokenizers() -> None:
    code = (
        "import sys\n"
        "from lanterna.memory.embedders import StaticEmbedder, check_embedder\n"
        "check_embedder(StaticEmbedder(), 'memory')\n"
        "print(sorted(m for m in ('numpy', 'tokenizers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def error_of(table: Path) -> str:
    with pytest.raises(EmbedderError) as error:
        StaticEmbedder(table).embed(["anything"])
    message = str(error.value)
    assert "\n" not in message
    assert message.endswith(
        "reinstall lanterna (pip install --force-reinstall lanterna)"
        " or rebuild it with python -m lanterna.memory.distill"
    )
    return message


def test_a_missing_table_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "minilm-static.npz"
    assert error_of(missing).startswith(f"the minilm-static embedder's table {missing} is missing: ")


def test_a_corrupt_table_says_what_to_do(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a table at all" * 100)
    assert error_of(garbage).startswith(f"the minilm-static embedder's table {garbage} is corrupt (")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(SHIPPED.read_bytes()[: SHIPPED.stat().st_size // 2])
    assert " is corrupt (" in error_of(truncated)
    flipped = tmp_path / "flipped.npz"
    data = bytearray(SHIPPED.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the compressed vectors: the zip CRC or inflate fails
    flipped.write_bytes(bytes(data))
    assert " is corrupt (" in error_of(flipped)


def test_a_table_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    import numpy as np

    small = tmp_path / "small.npz"
    np.savez_compressed(small, vectors=np.ones((10, 384), dtype=np.int8), scales=np.ones(10, dtype=np.float32))
    assert "expected int8 (30522, 384)" in error_of(small)


def test_the_frequency_corpus_leaves_out_the_retrieval_benchmark() -> None:
    queries = json.loads((REPO / "bench" / "stdlib_queries.json").read_text())
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from retrieval_quality import STDLIB_DISTRACTORS
    finally:
        sys.path.remove(str(REPO / "bench"))
    tested = {p for q in queries for p in q["relevant"]} | set(STDLIB_DISTRACTORS)
    assert {p.split("/")[0].removesuffix(".py") for p in tested} <= distill.EXCLUDED_MODULES
    files = distill.corpus_files()
    # a distribution's Python may ship its stdlib without the test suite (Debian: ~600 files)
    assert len(files) > 300
    names = {f.name for f in files}
    assert "decoder.py" not in {f.name for f in files if f.parent.name == "json"}
    assert "textwrap.py" not in names and "test_textwrap.py" not in names and "difflib.py" not in names
    assert "ast.py" in names


INGEST_AND_SEARCH = textwrap.dedent(
    """
    import json, sys
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    memory = memory_service(get_host())
    with Guard(get_host()).operation(RequestContext(transport="cli"), "memory.ingest", "service:shop"):
        report = memory.ingest_path(sys.argv[1], "shop")
        found = {
            f"{mode}: {query}": memory.search(query, service="shop", limit=1, mode=mode)[0]["path"]
            for query in ("how do I verify a user's password", "wait longer between attempts when a call fails")
            for mode in ("vector", "hybrid")
        }
        stats = memory.stats()
    print(json.dumps({"report": report, "found": found, "stats": stats}))
    """
)


def test_ingest_and_search_through_the_memory_service(tmp_path: Path) -> None:
    corpus = {
        "auth/login.py": TEXTS[0],
        "net/retry.py": TEXTS[1],
        "docs/oncall.md": TEXTS[2],
        "billing/invoice.py": "def total_with_vat(lines, rate):\n    return sum(l.price for l in lines) * (1 + rate)\n",
    }
    root = write_tree(tmp_path / "shop", corpus)
    out = run_on_own_store(tmp_path, "minilm-static", INGEST_AND_SEARCH, str(root))
    assert out["report"]["added"] == 4
    assert out["stats"]["embedder"] == "minilm-static" and out["stats"]["dimensions"] == 384
    expected = {
        "how do I verify a user's password": "auth/login.py",
        "wait longer between attempts when a call fails": "net/retry.py",
    }
    assert out["found"] == {f"{m}: {q}": path for q, path in expected.items() for m in ("vector", "hybrid")}
