"""The GitLab source passes the core's code source conformance suite against the fake GitLab."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lanterna.plugins import PluginHost, get_host
from lanterna.testing import CodeSourceSuite
from tests.gitlab_pat.conftest import PROJECT, TOKEN


class GitLabHarness:
    scheme = "gitlab"
    repo = PROJECT
    missing_repo = "acme/platform/nope"
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


class TestGitLabSource(CodeSourceSuite):
    @pytest.fixture
    def harness(self, gitlab) -> GitLabHarness:
        return GitLabHarness(gitlab)
