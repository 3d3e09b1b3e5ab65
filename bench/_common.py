"""Shared set-up for the benchmarks: a temporary Lanterna home and a guarded operation."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent

#: Vocabulary of the generated code corpora.
WORDS = [
    *("order", "customer", "invoice", "payment", "refund", "stock", "parcel", "session", "token", "retry"),
    *("cache", "config", "event", "queue", "report", "account", "price", "discount", "shipment", "warehouse", "user"),
]


def isolated_home(embedder: str | None = None) -> Path:
    """Point Lanterna (and its Pixeltable store) at a fresh temporary folder."""
    home = Path(tempfile.mkdtemp(prefix="lanterna-bench-"))
    os.environ["LANTERNA_HOME"] = str(home)
    os.environ["LANTERNA_LOAD_PLUGINS"] = ""
    os.environ.pop("LANTERNA_PIXELTABLE_HOME", None)
    if embedder:
        os.environ["LANTERNA_EMBEDDER"] = embedder
    return home


@contextlib.contextmanager
def operation(tenant: str | None = None, action: str = "memory.bench") -> Iterator[None]:
    from lanterna.guard import Guard
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    with Guard(get_host()).operation(RequestContext(transport="cli", tenant=tenant), action, "memory"):
        yield


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
