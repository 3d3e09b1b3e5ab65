"""Fixtures for lanterna-gitlab-pat: a fake GitLab on 127.0.0.1 and a Lanterna home pointing at it.

Where lanterna-gitlab-pat is not installed (the core-only session), nothing here is collected.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("lanterna_gitlab_pat") is None:
    collect_ignore_glob = ["*.py"]

TOKEN = "glpat-" + "R3adOnlyT0kenXy" + "z0123"
OTHER_TOKEN = "glpat-" + "0therTenantT0ken" + "abcd"
PROJECT = "acme/platform/billing"
FILES = {
    "README.md": "# Billing\n\nThe billing service of the platform group.\n",
    "src/billing/invoice.py": "def total_invoice(lines):\n    return sum(line.amount for line in lines)\n",
    "src/billing/tax.py": "VAT_RATE = 0.2\n\ndef with_vat(amount):\n    return amount * (1 + VAT_RATE)\n",
    "docs/adr/0001-use-postgres.md": "# Use Postgres\n\nWe store invoices in Postgres.\n",
    "id_rsa": "not really a key\n",
}


def write_config(home: Path, base_url: str, extra: str = "") -> None:
    (home / "config.toml").write_text(
        f'[gitlab]\nbase_url = "{base_url}"\ntimeout = 2\nmax_wait = 5\nbackoff = 0.05\n{extra}', encoding="utf-8"
    )


@pytest.fixture
def fake_gitlab() -> Iterator[object]:
    from tests.fake_gitlab import FakeGitLab

    with FakeGitLab() as fake:
        fake.add_token(TOKEN, "ada", set())
        fake.add_project(PROJECT, FILES)
        yield fake


@pytest.fixture
def gitlab(fake_gitlab: object, lanterna_home: Path, monkeypatch: pytest.MonkeyPatch, load_plugins) -> object:
    """The fake GitLab, with Lanterna configured for it and the gitlab plugin loaded."""
    write_config(lanterna_home, fake_gitlab.base_url)  # type: ignore[attr-defined]
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    load_plugins("gitlab")
    return fake_gitlab
