"""``[gitlab]`` settings: API base URL (self-hosted: ``https://HOST/api/v4``), timeouts and how
long to wait for rate limits. Tokens are resolved per request, by tenant."""

from __future__ import annotations

from dataclasses import dataclass

from lanterna.config import Config

DEFAULT_BASE_URL = "https://gitlab.com/api/v4"
TOKEN_ENV = ("GITLAB_TOKEN",)


@dataclass(frozen=True)
class GitLabSettings:
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 20.0
    max_wait: float = 60.0
    backoff: float = 1.0
    #: the largest diff a merge request answer carries, in characters
    diff_limit: int = 20_000

    @classmethod
    def from_config(cls, config: Config) -> GitLabSettings:
        section = config.section("gitlab")
        return cls(
            base_url=str(section.get("base_url", DEFAULT_BASE_URL)).rstrip("/"),
            timeout=float(section.get("timeout", cls.timeout)),
            max_wait=float(section.get("max_wait", cls.max_wait)),
            backoff=float(section.get("backoff", cls.backoff)),
            diff_limit=int(section.get("diff_limit", cls.diff_limit)),
        )
