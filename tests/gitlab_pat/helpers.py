"""Running code inside a guarded operation, as the CLI and the MCP server do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from lanterna.errors import UserError
from lanterna.guard import Guard
from lanterna.plugins import get_host
from lanterna.types import RequestContext
from tests.gitlab_pat.conftest import TOKEN

T = TypeVar("T")


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return Guard(get_host()).run(RequestContext(transport="test"), "gitlab.test", "repo:gitlab:*", fn, *args, **kwargs)


def api_call(method: str, *args: Any, **kwargs: Any) -> Any:
    from lanterna_gitlab_pat.api import GitLab

    return guarded(lambda: getattr(GitLab.for_current_tenant(), method)(*args, **kwargs))


def error_of(method: str, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(UserError) as caught:
        api_call(method, *args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and TOKEN not in message
    return message
