"""Fixtures for lanterna-github-pat: a fake GitHub on 127.0.0.1 and a Lanterna home pointing at it.

Where lanterna-github-pat is not installed (the core-only session), nothing here is collected.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("lanterna_github_pat") is None:
    collect_ignore_glob = ["*.py"]

TOKEN = "ghp_" + "R3adOnlyT0ken" * 2 + "xYz0123456"
OTHER_TOKEN = "ghp_" + "0therTenantT0k" * 2 + "abcdefgh"
FILES = {
    "README.md": "# Demo\n\nA demo repository for the billing service.\n",
    "src/billing/invoice.py": "def total_invoice(lines):\n    return sum(line.amount for line in lines)\n",
    "src/billing/tax.py": "VAT_RATE = 0.2\n\ndef with_vat(amount):\n    return amount * (1 + VAT_RATE)\n",
    "docs/adr/0001-use-postgres.md": "# Use Postgres\n\nWe store invoices in Postgres.\n",
    ".env": "DATABASE_PASSWORD=hunter2\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00binary",
}


def write_config(home: Path, base_url: str, extra: str = "") -> None:
    (home / "config.toml").write_text(
        f'[github]\nbase_url = "{base_url}"\ntimeout = 2\nmax_wait = 5\nbackoff = 0.05\n{extra}', encoding="utf-8"
    )


@pytest.fixture
def fake_github() -> Iterator[object]:
    from tests.fake_github import FakeGitHub

    with FakeGitHub() as fake:
        fake.add_token(TOKEN, "ada", set())
        fake.add_repo("acme/billing", FILES)
        yield fake


@pytest.fixture
def github(fake_github: object, lanterna_home: Path, monkeypatch: pytest.MonkeyPatch, load_plugins) -> object:
    """The fake GitHub, with Lanterna configured for it and the github plugin loaded."""
    write_config(lanterna_home, fake_github.base_url)  # type: ignore[attr-defined]
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    load_plugins("github")
    return fake_github
