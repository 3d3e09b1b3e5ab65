"""Running code inside a guarded operation, as the CLI and the MCP server do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from lanterna.guard import Guard
from lanterna.plugins import get_host
from lanterna.types import RequestContext

T = TypeVar("T")


def guarded(fn: Callable[..., T], *args: Any, tenant: str | None = None, **kwargs: Any) -> T:
    request = RequestContext(transport="test", tenant=tenant)
    return Guard(get_host()).run(request, "github.test", "repo:github:*", fn, *args, **kwargs)


def github_api() -> Any:
    from lanterna_github_pat.api import GitHub

    return GitHub.for_current_tenant()
