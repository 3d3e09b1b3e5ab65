"""The github_* tools over MCP: a stdio session with the real server process, and two tenants
over streamable HTTP, each served with its own token only."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lanterna import hookimpl
from lanterna.plugins import get_host, reset_host
from lanterna.testing.harness import RequestTenancy
from tests.fake_github import FakeGitHub
from tests.github_pat.conftest import FILES, OTHER_TOKEN, TOKEN, write_config
from tests.helpers import subprocess_env

pytestmark = pytest.mark.anyio
LANTERNA = str(Path(sys.executable).with_name("lanterna"))
TOOLS = {
    "github_repos", "github_repo", "github_tree", "github_read", "github_search",
    "github_commits", "github_prs", "github_pr", "github_issues", "github_issue",
}  # fmt: skip


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def test_github_tools_over_an_mcp_stdio_session(github, lanterna_home):
    from mcp import Client, StdioServerParameters

    repo = github.repos["acme/billing"]
    repo.pulls.append({"number": 9, "title": "Add refunds", "state": "open", "user": {"login": "bob"}})
    repo.diffs[9] = "diff --git a/refund.py b/refund.py\n+def refund(): ...\n"
    repo.issues.append({"number": 4, "title": "Tax rounding", "state": "open", "user": {"login": "eve"}})
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="github", GITHUB_TOKEN=TOKEN)
    async with Client(StdioServerParameters(command=LANTERNA, args=["serve"], env=env)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= TOOLS
        assert all(tools[n].annotations.read_only_hint and tools[n].annotations.open_world_hint for n in TOOLS)
        repos = await client.call_tool("github_repos", {})
        assert not repos.is_error and "acme/billing" in text_of(repos)
        read = await client.call_tool("github_read", {"repo": "acme/billing", "path": "src/billing/tax.py"})
        assert not read.is_error and "VAT_RATE = 0.2" in text_of(read)
        tree = await client.call_tool("github_tree", {"repo": "acme/billing", "path": "docs"})
        assert "0001-use-postgres.md" in text_of(tree)
        pr = await client.call_tool("github_pr", {"repo": "acme/billing", "number": 9})
        assert not pr.is_error and "def refund()" in text_of(pr)
        issues = await client.call_tool("github_issues", {"repo": "acme/billing"})
        assert "Tax rounding" in text_of(issues)
        search = await client.call_tool("github_search", {"query": "with_vat", "repo": "acme/billing"})
        assert "src/billing/tax.py" in text_of(search)
        missing = await client.call_tool("github_read", {"repo": "acme/nope", "path": "README.md"})
        assert missing.is_error
        assert len(text_of(missing).splitlines()) == 1
        assert text_of(missing).endswith(
            "GitHub has no README.md in acme/nope, or the token cannot see it (404);"
            " check the name and the token's access"
        )
    assert {s.method for s in github.requests()} == {"GET"}


class Served:
    """The MCP server's streamable HTTP app on a free local port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the MCP server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/mcp"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


async def call(url: str, tenant: str, tool: str, arguments: dict[str, Any]) -> Any:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"x-tenant-id": tenant}, timeout=30)
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        return await client.call_tool(tool, arguments)


async def test_two_tenants_over_http_each_with_its_own_token(lanterna_home, monkeypatch):
    from lanterna.server.app import build_server

    with FakeGitHub() as fake:
        fake.add_token(TOKEN, "alice", set())
        fake.add_repo("alpha/app", FILES)
        fake.add_token(OTHER_TOKEN, "bob", set())
        fake.add_repo("beta/app", {"beta.py": "BETA = 'only for tenant b'\n"})
        fake.tokens[TOKEN].repos = {"alpha/app"}
        fake.tokens[OTHER_TOKEN].repos = {"beta/app"}
        tenants = f'[github.tenants.a]\ntoken = "{TOKEN}"\n[github.tenants.b]\ntoken = "{OTHER_TOKEN}"\n'
        write_config(lanterna_home, fake.base_url, tenants)
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "N0tForTenants" * 3)  # the server's own env serves nobody
        monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "github")
        reset_host()
        host = get_host()
        host.register(RequestTenancy(tenant="nobody"), "request-tenancy")
        with Served(build_server(host, transport="http").streamable_http_app()) as url:
            a = await call(url, "a", "github_read", {"repo": "alpha/app", "path": "src/billing/tax.py"})
            assert not a.is_error and "VAT_RATE" in text_of(a)
            assert {s.headers["authorization"] for s in fake.requests()} == {f"Bearer {TOKEN}"}
            fake.reset()
            b = await call(url, "b", "github_read", {"repo": "beta/app", "path": "beta.py"})
            assert not b.is_error and "only for tenant b" in text_of(b)
            assert {s.headers["authorization"] for s in fake.requests()} == {f"Bearer {OTHER_TOKEN}"}
            fake.reset()
            crossed = await call(url, "a", "github_read", {"repo": "beta/app", "path": "beta.py"})
            assert crossed.is_error and "only for tenant b" not in text_of(crossed)
            assert "(404)" in text_of(crossed)
            assert {s.headers["authorization"] for s in fake.requests()} == {f"Bearer {TOKEN}"}
            fake.reset()
            refused = await call(url, "c", "github_repos", {})
            assert refused.is_error
            assert text_of(refused).endswith(
                "no GitHub token is configured for tenant 'c'; an operator sets"
                " [github.tenants.c] token in the server's config file"
            )
            assert fake.requests() == []


class RepoPolicy:
    """Denies one repository; records the resources the guard asked about."""

    def __init__(self) -> None:
        self.resources: list[str] = []

    @hookimpl
    def authorize(self, action: str, resource: str) -> str | None:
        self.resources.append(resource)
        return "acme/secret is off limits" if resource == "repo:github:acme/secret" else None


@contextlib.asynccontextmanager
async def policy_session(github: Any) -> AsyncIterator[tuple[RepoPolicy, Any]]:
    """An in-process MCP session whose host denies acme/secret (a repository with a secret plan)."""
    from mcp import Client

    from lanterna.server.app import build_server

    github.add_repo("acme/secret", {"plan.md": "secret plans\n"})
    policy = RepoPolicy()
    host = get_host()
    host.register(policy, "repo-policy")
    async with Client(build_server(host)) as client:
        yield policy, client


async def test_a_policy_allows_or_denies_per_repository(github):
    async with policy_session(github) as (policy, client):
        allowed = await client.call_tool("github_read", {"repo": "acme/billing", "path": "README.md"})
        denied = await client.call_tool("github_read", {"repo": "acme/secret", "path": "plan.md"})
        listed = await client.call_tool("github_repos", {})
    assert not allowed.is_error and denied.is_error and "acme/secret is off limits" in text_of(denied)
    assert "secret plans" not in text_of(denied) and not listed.is_error
    assert policy.resources == ["repo:github:acme/billing", "repo:github:acme/secret", "repo:github:*"]
    assert not [s for s in github.requests() if "acme/secret" in s.path]


async def test_a_repository_policy_binds_its_ingest_too(github):
    async with policy_session(github) as (policy, client):
        denied = await client.call_tool("memory_ingest", {"path": "github:acme/secret", "service": "plans"})
        allowed = await client.call_tool("memory_ingest", {"path": "github:acme/billing", "service": "billing"})
    assert denied.is_error and "acme/secret is off limits" in text_of(denied)
    assert not allowed.is_error, text_of(allowed)
    assert "repo:github:acme/secret" in policy.resources and "repo:github:acme/billing" in policy.resources
    assert not [s for s in github.requests() if "acme/secret" in s.path]
