"""Helpers shared by the memory tests."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from lanterna.guard import Guard
from lanterna.plugins import get_host
from lanterna.types import RequestContext

LANTERNA = [str(Path(sys.executable).with_name("lanterna"))]
ISOLATED = ("LANTERNA_CONFIG", "LANTERNA_DATA_DIR", "LANTERNA_TENANT", "LANTERNA_PIXELTABLE_HOME", "LANTERNA_EMBEDDER")


@contextlib.contextmanager
def operation(action: str = "memory.test", resource: str = "memory", tenant: str | None = None) -> Iterator[None]:
    request = RequestContext(transport="test", tenant=tenant)
    with Guard(get_host()).operation(request, action, resource):
        yield


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def subprocess_env(lanterna_home: Path, **extra: str) -> dict[str, str]:
    """Environment for a `lanterna` subprocess: its own home, no third-party plugin."""
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED}
    env["LANTERNA_HOME"] = str(lanterna_home)
    env["LANTERNA_LOAD_PLUGINS"] = ""
    env.update(extra)
    return env


#: The MCP tools of the memory built-in plugin.
MEMORY_TOOLS = frozenset(
    {
        "memory_search",
        "memory_ingest",
        "memory_remember",
        "memory_add_adr",
        "memory_add_incident",
        "memory_get",
        "memory_list",
        "memory_forget",
        "memory_services",
        "memory_stats",
    }
)
