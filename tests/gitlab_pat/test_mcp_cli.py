"""The gitlab_* tools over an MCP stdio session, and ``lanterna gitlab …`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gitlab_pat.conftest import PROJECT, TOKEN
from tests.helpers import subprocess_env

LANTERNA = str(Path(sys.executable).with_name("lanterna"))
TOOLS = {
    "gitlab_repos", "gitlab_repo", "gitlab_tree", "gitlab_read", "gitlab_search",
    "gitlab_commits", "gitlab_mrs", "gitlab_mr", "gitlab_issues", "gitlab_issue",
}  # fmt: skip


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@pytest.mark.anyio
async def test_gitlab_tools_over_an_mcp_stdio_session(gitlab, lanterna_home):
    from mcp import Client, StdioServerParameters

    project = gitlab.projects[PROJECT]
    project.merge_requests.append({"iid": 2, "title": "Refunds", "state": "opened", "author": {"username": "bob"}})
    project.diffs[2] = [{"old_path": "r.py", "new_path": "r.py", "diff": "+def refund(): ...\n"}]
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="gitlab", GITLAB_TOKEN=TOKEN)
    async with Client(StdioServerParameters(command=LANTERNA, args=["serve"], env=env)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= TOOLS
        assert all(tools[n].annotations.read_only_hint for n in TOOLS)
        read = await client.call_tool("gitlab_read", {"repo": PROJECT, "path": "src/billing/tax.py"})
        assert not read.is_error and "VAT_RATE" in text_of(read)
        mr = await client.call_tool("gitlab_mr", {"repo": PROJECT, "number": 2})
        assert not mr.is_error and "def refund()" in text_of(mr)
        repos = await client.call_tool("gitlab_repos", {})
        assert PROJECT in text_of(repos)
        missing = await client.call_tool("gitlab_issue", {"repo": PROJECT, "number": 99})
        assert missing.is_error and len(text_of(missing).splitlines()) == 1
        assert f"GitLab has no issue #99 of {PROJECT}, or the token cannot see it (404)" in text_of(missing)
    assert {s.method for s in gitlab.requests()} == {"GET"}


def lanterna(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(home, LANTERNA_LOAD_PLUGINS="gitlab", GITLAB_TOKEN=TOKEN, COLUMNS="200")
    return subprocess.run([LANTERNA, *args], capture_output=True, text=True, env=env, timeout=60)


def test_cli_check_repos_read_and_a_revoked_token(gitlab, lanterna_home):
    check = json.loads(lanterna(lanterna_home, "gitlab", "check", "--json").stdout)
    assert check["user"] == "ada" and check["scopes"] == ["read_api", "read_repository"] and not check["can_write"]
    repos = lanterna(lanterna_home, "gitlab", "repos")
    assert repos.stdout.startswith(PROJECT)
    read = lanterna(lanterna_home, "gitlab", "read", PROJECT, "README.md", "--ref", "main")
    assert read.stdout.startswith("# Billing")
    gitlab.tokens[TOKEN].revoked = True
    revoked = lanterna(lanterna_home, "gitlab", "check")
    assert revoked.returncode == 2 and revoked.stderr.count("\n") == 1
    assert revoked.stderr.startswith("lanterna: GitLab rejected the token (401) (Token was revoked.")
