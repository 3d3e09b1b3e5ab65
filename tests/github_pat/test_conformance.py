"""The GitHub source passes the core's code source conformance suite against the fake GitHub."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lanterna.plugins import PluginHost, get_host
from lanterna.testing import CodeSourceSuite
from tests.github_pat.conftest import TOKEN


class GitHubHarness:
    scheme = "github"
    repo = "acme/billing"
    missing_repo = "acme/nope"
    secret = TOKEN

    def __init__(self, fake) -> None:
        self.fake = fake

    def host(self) -> PluginHost:
        return get_host()

    def files(self) -> Mapping[str, bytes]:
        return self.fake.files(self.repo)

    def change(self, files: Mapping[str, bytes]) -> None:
        self.fake.commit(self.repo, dict(files))

    def requests(self) -> list[str]:
        return [s.method for s in self.fake.requests()]


class TestGitHubSource(CodeSourceSuite):
    @pytest.fixture
    def harness(self, github) -> GitHubHarness:
        return GitHubHarness(github)
