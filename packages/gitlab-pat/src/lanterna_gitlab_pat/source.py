"""The ``gitlab`` code source (``lanterna.sources.CodeSource``): each call uses the token of the
tenant whose request is running."""

from __future__ import annotations

from typing import Any

from lanterna.sources import RepoFile, Snapshot


class GitLabSource:
    name = "gitlab"

    def _api(self) -> Any:
        from lanterna_gitlab_pat.api import GitLab

        return GitLab.for_current_tenant()

    def list_repos(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._api() as api:
            return api.repos(limit)

    def list_files(self, repo: str, path: str = "", ref: str | None = None) -> list[RepoFile]:
        with self._api() as api:
            return api.list_files(repo, path, ref)

    def read_file(self, repo: str, path: str, ref: str | None = None) -> str:
        with self._api() as api:
            return api.read(repo, path, ref)

    def search(self, query: str, repo: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        with self._api() as api:
            return api.search(query, repo, limit)

    def list_commits(self, repo: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        with self._api() as api:
            return api.commits(repo, path, limit)

    def snapshot(self, repo: str, ref: str | None = None) -> Snapshot:
        return self._api().snapshot(repo, ref)  # fetch() uses the client later: not closed here
