"""``lanterna github …`` in a subprocess, and listing commands that load no HTTP library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.github_pat.conftest import TOKEN
from tests.helpers import subprocess_env

LANTERNA = str(Path(sys.executable).with_name("lanterna"))


def lanterna(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = subprocess_env(home, LANTERNA_LOAD_PLUGINS="github", GITHUB_TOKEN=TOKEN, COLUMNS="200", **env)
    return subprocess.run([LANTERNA, *args], capture_output=True, text=True, env=full, timeout=60)


def test_check_repos_read_search_prs_issues(github, lanterna_home):
    github.repos["acme/billing"].issues.append({"number": 2, "title": "Refunds", "state": "open", "user": {}})
    check = lanterna(lanterna_home, "github", "check")
    assert check.returncode == 0, check.stderr
    assert "GitHub user: ada" in check.stdout and "can write: True" in check.stdout
    assert "warning: this token can write (repo)" in check.stdout
    report = json.loads(lanterna(lanterna_home, "github", "check", "--json").stdout)
    assert report["scopes"] == ["repo"] and report["rate_limit"]["limit"] == 5000
    repos = json.loads(lanterna(lanterna_home, "github", "repos", "--json").stdout)
    assert [r["full_name"] for r in repos] == ["acme/billing"]
    read = lanterna(lanterna_home, "github", "read", "acme/billing", "src/billing/tax.py")
    assert read.stdout.startswith("VAT_RATE = 0.2")
    search = lanterna(lanterna_home, "github", "search", "with_vat", "--repo", "acme/billing")
    assert "acme/billing: src/billing/tax.py" in search.stdout
    issues = json.loads(lanterna(lanterna_home, "github", "issues", "acme/billing", "--json").stdout)
    assert [i["title"] for i in issues] == ["Refunds"]
    assert lanterna(lanterna_home, "github", "prs", "acme/billing").returncode == 0


def test_errors_are_one_line_without_the_token(github, lanterna_home):
    missing = lanterna(lanterna_home, "github", "read", "acme/nope", "x.py")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("lanterna: GitHub has no x.py in acme/nope") and missing.stderr.count("\n") == 1
    del github.tokens[TOKEN]
    revoked = lanterna(lanterna_home, "github", "repos")
    assert revoked.stderr.startswith("lanterna: GitHub rejected the token (401)") and TOKEN not in revoked.stderr


@pytest.mark.parametrize("command", [["tools"], ["plugins"], ["hooks"], ["--help"], ["github", "--help"]])
def test_listing_commands_import_no_http_library(lanterna_home, command):
    probe = (
        "import sys; from lanterna.cli import main; sys.argv = ['lanterna', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'httpx', 'httpx2', 'pixeltable', 'mcp'})\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)"
    )
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="github")
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, env=env, timeout=60
    )
    assert "HEAVY=\n" in result.stderr, result.stderr
    if command == ["tools"]:
        assert "github_read" in result.stdout
