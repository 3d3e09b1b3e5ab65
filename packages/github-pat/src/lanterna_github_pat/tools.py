"""MCP tools for GitHub. Each runs in the guard with the resource ``repo:github:OWNER/REPO``
(``repo:github:*`` when it spans repositories), so a policy can allow or deny per repository.

Imported when tools are listed: no HTTP library at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanterna.codehost import register_tools
from lanterna_github_pat.host import HOST

_api = HOST.client


def github_repos(limit: int = 50) -> list[dict[str, Any]]:
    """Repositories your GitHub token can see, most recently updated first."""
    with _api() as api:
        return api.repos(limit)


def github_repo(repo: str) -> dict[str, Any]:
    """Metadata of one repository (OWNER/REPO): description, default branch, language, last push."""
    with _api() as api:
        return api.repo(repo)


def github_tree(repo: str, path: str = "", ref: str | None = None) -> list[dict[str, Any]]:
    """Files of a repository (OWNER/REPO) under path, at ref (default branch if omitted), with sizes."""
    with _api() as api:
        return [{"path": f.path, "size": f.size} for f in api.list_files(repo, path, ref)]


def github_read(repo: str, path: str, ref: str | None = None) -> str:
    """The text of one file of a repository (OWNER/REPO) at ref (default branch if omitted)."""
    with _api() as api:
        return api.read(repo, path, ref)


def github_search(query: str, repo: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Search code on GitHub, in one repository (OWNER/REPO) or all you can see: repo, path, fragment."""
    with _api() as api:
        return api.search(query, repo, limit)


def github_commits(repo: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Recent commits of a repository (OWNER/REPO), of one path if given: sha, author, date, message."""
    with _api() as api:
        return api.commits(repo, path, limit)


def github_prs(repo: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
    """Pull requests of a repository (OWNER/REPO); state: open, closed or all."""
    with _api() as api:
        return api.prs(repo, state, limit)


def github_pr(repo: str, number: int) -> dict[str, Any]:
    """One pull request with its description and diff (capped; diff_truncated says so)."""
    with _api() as api:
        return api.pr(repo, number)


def github_issues(repo: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
    """Issues of a repository (OWNER/REPO), pull requests left out; state: open, closed or all."""
    with _api() as api:
        return api.issues(repo, state, limit)


def github_issue(repo: str, number: int) -> dict[str, Any]:
    """One issue with its body and comments."""
    with _api() as api:
        return api.issue(repo, number)


#: (tool, guard action, title)
TOOLS = (
    (github_repos, "github.repos", "List GitHub repositories"),
    (github_repo, "github.read", "GitHub repository metadata"),
    (github_tree, "github.read", "List files of a GitHub repository"),
    (github_read, "github.read", "Read a file from GitHub"),
    (github_search, "github.search", "Search code on GitHub"),
    (github_commits, "github.read", "Recent GitHub commits"),
    (github_prs, "github.prs", "List GitHub pull requests"),
    (github_pr, "github.prs", "Read a GitHub pull request"),
    (github_issues, "github.issues", "List GitHub issues"),
    (github_issue, "github.issues", "Read a GitHub issue"),
)


def register(register: Callable[..., None]) -> None:
    register_tools(register, HOST, TOOLS)
