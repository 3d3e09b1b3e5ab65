"""Session memory (git) as a built-in plugin: six read-only MCP tools over the repository.

The repository is ``LANTERNA_REPO``, else ``[session] repo`` in the config file, else the
server's working directory (read at each call, so a relative setting follows the cwd).

Over HTTP with a tenancy plugin installed, the caller is one tenant among several and the
server's own repository is the operator's: each tenant is served only the repository
configured for it, and a tenant without one is refused::

    [session.repos]
    acme = "/srv/repos/acme-app"
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanterna import hookimpl

if TYPE_CHECKING:
    from types import ModuleType

    from lanterna.plugins import PluginHost
    from lanterna.session.git import GitRepo
    from lanterna.types import RegisterTool, RequestContext


def git() -> ModuleType:
    """``lanterna.session.git``, imported when a session tool first runs (not at every CLI start)."""
    from lanterna.session import git as module

    return module


class SessionMemory:
    def __init__(self, host: PluginHost) -> None:
        self.config = host.config

    def repo_path(self) -> Path:
        request = _guarded_request()
        if request is not None and request.multi_tenant and request.transport == "http":
            return self.tenant_repo(request.tenant or "")
        configured = os.environ.get("LANTERNA_REPO") or self.config.get("session", "repo")
        return Path(configured).expanduser() if configured else Path.cwd()

    def tenant_repo(self, tenant: str) -> Path:
        """The repository ``[session.repos]`` gives ``tenant``; refused when there is none."""
        repos = self.config.get("session", "repos", {})
        configured = repos.get(tenant) if isinstance(repos, dict) else None
        if isinstance(configured, list) and len(configured) == 1:
            configured = configured[0]
        if isinstance(configured, list):
            raise git().GitError(
                f"tenant '{tenant}' has {len(configured)} repositories under [session.repos];"
                " session tools serve one per tenant: the operator keeps one in the server's config file"
            )
        if not configured or not isinstance(configured, str):
            raise git().GitError(
                f"no repository is configured for tenant '{tenant}' on this server, so session tools have"
                " nothing to show; the operator adds one under [session.repos] in the server's config file"
                f' ({tenant} = "/path/to/repo")'
            )
        return Path(configured).expanduser()

    def repo(self) -> GitRepo:
        return git().GitRepo(self.repo_path())

    def resource(self, _arguments: dict[str, Any]) -> str:
        """The repository the call will read (the guard computes it once the tenant is known)."""
        try:
            return f"repo:{self.repo_path().resolve()}"
        except git().GitError:  # a tenant without a repository: the tool itself refuses, and that is recorded
            return "repo:(none)"

    def diff_bytes(self) -> int:
        return int(self.config.get("session", "max_diff_bytes", git().DEFAULT_DIFF_BYTES))

    @hookimpl(trylast=True)
    def register_mcp_tools(self, register: RegisterTool) -> None:
        from lanterna.server.tools import READ_ONLY

        tools: list[tuple[Callable[..., Any], str, str]] = [
            (self.session_branch, "session.branch", "Current branch"),
            (self.session_log, "session.log", "Recent commits"),
            (self.session_status, "session.status", "Working-tree status"),
            (self.session_diff, "session.diff", "Diff"),
            (self.session_file_history, "session.file_history", "File history"),
            (self.session_search_commits, "session.search", "Search commit messages"),
        ]
        for fn, action, title in tools:
            register(
                fn,
                name=fn.__name__,
                action=action,
                resource=self.resource,
                title=title,
                annotations=READ_ONLY,
            )

    # -- the tools: their docstrings are what the assistant reads -------------------------

    def session_branch(self) -> dict[str, Any]:
        """The current branch of the repository (or that HEAD is detached), HEAD's commit, and its upstream."""
        return self.repo().branch()

    def session_log(self, limit: int = 20, ref: str | None = None) -> dict[str, Any]:
        """Recent commits, newest first, with author, date, message and changed files.

        limit: how many commits (1-200). ref: start from this branch, tag or commit instead of HEAD.
        """
        return {"commits": self.repo().log(limit=limit, ref=ref)}

    def session_status(self) -> dict[str, Any]:
        """Working-tree status: staged, unstaged, untracked and conflicted files."""
        return self.repo().status()

    def session_diff(
        self, commit: str | None = None, path: str | None = None, staged_only: bool = False, max_bytes: int = 0
    ) -> dict[str, Any]:
        """The diff of the working tree against HEAD, or of one commit; capped in size, says when truncated.

        commit: show this commit instead of the working tree. path: only this file or folder.
        staged_only: only what is staged. max_bytes: size cap (default from config, at most 1 MiB).
        """
        cap = max_bytes if max_bytes > 0 else self.diff_bytes()
        return self.repo().diff(commit=commit, path=path, staged_only=staged_only, max_bytes=cap)

    def session_file_history(self, path: str, limit: int = 20) -> dict[str, Any]:
        """Commits that changed a file (following renames), newest first. path: relative to the repository root."""
        repo = self.repo()
        relative = repo.relative_path(path)
        return {"path": relative, "commits": repo.log(limit=limit, path=relative, follow=True)}

    def session_search_commits(
        self, query: str, limit: int = 20, regex: bool = False, all_branches: bool = False
    ) -> dict[str, Any]:
        """Search commit messages (case-insensitive). regex: treat query as an extended regular expression.

        all_branches: search every branch and tag, not only the history of HEAD.
        """
        if not query.strip():
            raise git().GitError("the search query is empty; give a word or phrase to look for in commit messages")
        commits = self.repo().log(limit=limit, grep=query, regex=regex, all_refs=all_branches)
        return {"query": query, "commits": commits}


def _guarded_request() -> RequestContext | None:
    from lanterna.guard import current_request

    try:
        return current_request()
    except RuntimeError:  # not inside a guarded operation
        return None
