"""Helpers shared by the memory tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lanterna.guard import Guard
from lanterna.memory.api import MemoryService
from lanterna.memory.memory import memory_service
from lanterna.plugins import get_host
from lanterna.types import RequestContext

LANTERNA = [str(Path(sys.executable).with_name("lanterna"))]


@contextlib.contextmanager
def operation(action: str = "memory.test", resource: str = "memory", tenant: str | None = None) -> Iterator[None]:
    request = RequestContext(transport="test", tenant=tenant)
    with Guard(get_host()).operation(request, action, resource):
        yield


def memory() -> MemoryService:
    """The long-term memory of the process-wide host (the one the CLI uses)."""
    return memory_service(get_host())


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


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


def own_store_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a process with a store of its own under ``tmp_path``, no third-party
    plugin and no daemon (the embedder is the store's own unless ``extra`` names one)."""
    from tests.helpers import subprocess_env

    return subprocess_env(
        tmp_path / "lanterna",
        own_store=True,
        LANTERNA_PIXELTABLE_HOME=str(tmp_path / "pxt"),
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_NO_DAEMON="1",
        **extra,
    )


def run_lanterna(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``lanterna ARGS`` in a process of its own with ``env``; with ``check``, it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "lanterna", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def run_on_own_store(tmp_path: Path, embedder: str, script: str, *args: str) -> Any:
    """Run ``script`` (Python that prints one JSON line last) in a process with a store of its own
    under ``tmp_path`` and ``embedder``, no third-party plugin; the parsed last line."""
    import json

    env = own_store_env(tmp_path, LANTERNA_EMBEDDER=embedder)
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
