"""The code source suite passes a correct in-memory source and fails deliberately wrong ones."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from lanterna import hookimpl
from lanterna.plugins import PluginHost
from lanterna.sources import RepoFile, Snapshot, SourceError
from lanterna.testing import CodeSourceSuite, make_test_host, run_suite

SECRET = "mem-token-" + "x" * 20


class MemorySource:
    """Right: repositories held in a dict; content ids are hashes of the bytes."""

    name = "mem"

    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos
        self.methods: list[str] = []

    def _files(self, repo: str) -> dict[str, bytes]:
        self.methods.append("GET")
        if repo not in self.repos:
            raise SourceError(f"no repository {repo}; check its name")
        return self.repos[repo]

    def digest(self, path: str, data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def list_repos(self, limit: int = 50) -> list[dict[str, Any]]:
        return [{"full_name": name} for name in sorted(self.repos)][:limit]

    def list_files(self, repo: str, path: str = "", ref: str | None = None) -> list[RepoFile]:
        return [RepoFile(p, len(d), self.digest(p, d)) for p, d in sorted(self._files(repo).items())]

    def read_file(self, repo: str, path: str, ref: str | None = None) -> str:
        return self._files(repo)[path].decode()

    def search(self, query: str, repo: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        return []

    def list_commits(self, repo: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        self._files(repo)
        return []

    def fetch(self, files: dict[str, bytes], paths: list[str]) -> Iterator[tuple[str, bytes]]:
        for path in paths:
            yield path, files[path]

    def snapshot(self, repo: str, ref: str | None = None) -> Snapshot:
        files = dict(self._files(repo))
        listing = self.list_files(repo)
        return Snapshot(f"mem:{repo}@1", "1", listing, lambda paths: self.fetch(files, paths))


class IdsByPath(MemorySource):
    """Wrong: the content id names the path, so it never follows the content."""

    def digest(self, path: str, data: bytes) -> str:
        return f"path:{path}"


class GreedyFetch(MemorySource):
    """Wrong: fetch hands out every file, whatever was asked for."""

    def fetch(self, files: dict[str, bytes], paths: list[str]) -> Iterator[tuple[str, bytes]]:
        yield from files.items()


class LeakyErrors(MemorySource):
    """Wrong: the error for a missing repository quotes the credential."""

    def _files(self, repo: str) -> dict[str, bytes]:
        if repo not in self.repos:
            raise SourceError(f"no repository {repo} for token {SECRET}")
        return super()._files(repo)


class Plugin:
    def __init__(self, source: MemorySource) -> None:
        self.source = source

    @hookimpl
    def register_code_sources(self, register: Any) -> None:
        register(self.source)


class Harness:
    scheme = "mem"
    repo = "acme/app"
    missing_repo = "acme/nope"
    secret = SECRET

    def __init__(self, kind: type[MemorySource]) -> None:
        self.repos = {self.repo: {"a.py": b"A = 1\n", "b.py": b"A = 1\n", "docs/c.md": b"# C\n"}}
        self.source = kind(self.repos)
        self._host = make_test_host([Plugin(self.source)])

    def host(self) -> PluginHost:
        return self._host

    def files(self) -> Mapping[str, bytes]:
        return self.repos[self.repo]

    def change(self, files: Mapping[str, bytes]) -> None:
        self.repos[self.repo] = dict(files)

    def requests(self) -> list[str]:
        return list(self.source.methods)


def failed(kind: type[MemorySource]) -> set[str]:
    return {r.name for r in run_suite(CodeSourceSuite, lambda: Harness(kind)) if r.outcome == "failed"}


def test_a_correct_source_passes_every_check():
    assert failed(MemorySource) == set()


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        (IdsByPath, "test_content_ids_follow_the_content"),
        (IdsByPath, "test_lists_every_file_with_a_content_id"),
        (GreedyFetch, "test_snapshot_fetches_exactly_the_paths_asked_for"),
        (LeakyErrors, "test_a_missing_repository_is_one_line_without_the_credential"),
    ],
)
def test_a_wrong_source_fails_the_check_for_its_fault(kind, check):
    assert check in failed(kind)
