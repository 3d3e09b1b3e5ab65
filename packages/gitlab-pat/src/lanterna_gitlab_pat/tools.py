"""MCP tools for GitLab. Each runs in the guard with the resource ``repo:gitlab:GROUP/PROJECT``
(``repo:gitlab:*`` when it spans projects), so a policy can allow or deny per project.

Imported when tools are listed: no HTTP library at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanterna.codehost import register_tools
from lanterna_gitlab_pat.host import HOST

_api = HOST.client


def gitlab_repos(limit: int = 50) -> list[dict[str, Any]]:
    """Projects your GitLab token is a member of, most recently active first."""
    with _api() as api:
        return api.repos(limit)


def gitlab_repo(repo: str) -> dict[str, Any]:
    """Metadata of one project (GROUP/PROJECT): description, default branch, visibility, last activity."""
    with _api() as api:
        return api.repo(repo)


def gitlab_tree(repo: str, path: str = "", ref: str | None = None) -> list[dict[str, Any]]:
    """Files of a project (GROUP/PROJECT) under path, at ref (default branch if omitted)."""
    with _api() as api:
        return [{"path": f.path, "size": f.size} for f in api.list_files(repo, path, ref)]


def gitlab_read(repo: str, path: str, ref: str | None = None) -> str:
    """The text of one file of a project (GROUP/PROJECT) at ref (default branch if omitted)."""
    with _api() as api:
        return api.read(repo, path, ref)


def gitlab_search(query: str, repo: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Search code on GitLab, in one project (GROUP/PROJECT) or all you can see: repo, path, fragment."""
    with _api() as api:
        return api.search(query, repo, limit)


def gitlab_commits(repo: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Recent commits of a project (GROUP/PROJECT), of one path if given: sha, author, date, message."""
    with _api() as api:
        return api.commits(repo, path, limit)


def gitlab_mrs(repo: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
    """Merge requests of a project (GROUP/PROJECT); state: open, closed, merged or all."""
    with _api() as api:
        return api.prs(repo, state, limit)


def gitlab_mr(repo: str, number: int) -> dict[str, Any]:
    """One merge request with its description and diff (capped; diff_truncated says so)."""
    with _api() as api:
        return api.pr(repo, number)


def gitlab_issues(repo: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
    """Issues of a project (GROUP/PROJECT); state: open, closed, merged or all."""
    with _api() as api:
        return api.issues(repo, state, limit)


def gitlab_issue(repo: str, number: int) -> dict[str, Any]:
    """One issue with its body and comments."""
    with _api() as api:
        return api.issue(repo, number)


#: (tool, guard action, title)
TOOLS = (
    (gitlab_repos, "gitlab.repos", "List GitLab projects"),
    (gitlab_repo, "gitlab.read", "GitLab project metadata"),
    (gitlab_tree, "gitlab.read", "List files of a GitLab project"),
    (gitlab_read, "gitlab.read", "Read a file from GitLab"),
    (gitlab_search, "gitlab.search", "Search code on GitLab"),
    (gitlab_commits, "gitlab.read", "Recent GitLab commits"),
    (gitlab_mrs, "gitlab.mrs", "List GitLab merge requests"),
    (gitlab_mr, "gitlab.mrs", "Read a GitLab merge request"),
    (gitlab_issues, "gitlab.issues", "List GitLab issues"),
    (gitlab_issue, "gitlab.issues", "Read a GitLab issue"),
)


def register(register: Callable[..., None]) -> None:
    register_tools(register, HOST, TOOLS)
