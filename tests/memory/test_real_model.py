"""The default embedders, end to end through the real `lanterna` CLI: the static table
distilled from MiniLM, reranked by the offline MiniLM model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lanterna.memory.embedders import MiniLMEmbedder
from tests.helpers import subprocess_env

from .helpers import LANTERNA, write_tree

CORPUS = {
    "billing/invoice.py": "def total_with_vat(lines, rate):\n"
    "    return sum(l.price * l.qty for l in lines) * (1 + rate)\n",
    "net/retry.py": "def call_with_retries(fn, attempts=5):\n    for n in range(attempts):\n        try:\n"
    "            return fn()\n        except TimeoutError:\n            time.sleep(2 ** n)\n",
    "auth/login.py": "def check_password(user, password):\n    return bcrypt.checkpw(password.encode(), user.hash)\n",
    "docs/oncall.md": "# On-call\n\n"
    "Page the secondary engineer if the primary does not acknowledge within 10 minutes.\n",
}


@pytest.mark.slow
def test_default_model_ranks_by_meaning(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "corpus", CORPUS)
    env = subprocess_env(
        tmp_path / "home", own_store=True, LANTERNA_LOAD_PLUGINS=""
    )  # default embedder, store under the data dir
    ingest = subprocess.run(
        [*LANTERNA, "ingest", str(root), "--service", "shop", "--json"], env=env, capture_output=True, timeout=300
    )
    assert ingest.returncode == 0, ingest.stderr.decode()[-2000:]
    assert json.loads(ingest.stdout)["added"] == 4
    queries = {
        "wait longer between attempts when a request times out": "net/retry.py",
        "how much tax is added to an order": "billing/invoice.py",
        "verify the user's credentials": "auth/login.py",
        "who do I escalate to when nobody answers the pager": "docs/oncall.md",
    }
    for query, expected in queries.items():
        done = subprocess.run(
            [*LANTERNA, "search", query, "--vector", "--json", "-n", "1"], env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert json.loads(done.stdout)[0]["path"] == expected, query
    stats = json.loads(subprocess.run([*LANTERNA, "stats", "--json"], env=env, capture_output=True, timeout=120).stdout)
    assert stats["embedder"] == "minilm-static"
    # the searches embedded their candidates with MiniLM; stored by a filler (daemon, server)
    assert stats["refined"]["embedder"] == "minilm-l6-v2-int8"
    assert stats["refined"]["chunks_done"] + stats["refined"]["chunks_pending"] == 4
    assert (tmp_path / "home" / "data" / "pixeltable" / "pgdata").is_dir()


@pytest.mark.slow
def test_minilm_matches_the_reference_model() -> None:
    """Known all-MiniLM-L6-v2 behaviour: paraphrases close, unrelated sentences far, unit vectors."""
    model = MiniLMEmbedder()
    a, b, c = model.embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
    )
    dot = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
    assert abs(dot(a, a) - 1) < 1e-4 and len(a) == 384
    assert 0.70 < dot(a, b) < 0.80  # measured 0.753 with the int8 model
    assert dot(a, c) < 0.1
