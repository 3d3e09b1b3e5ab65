"""Embedders of any size from 1 to 2,000 dimensions work; an invalid one is refused, naming its plugin."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lanterna import hookimpl
from lanterna.memory.embedders import EmbedderError, HashEmbedder, collect_embedders
from lanterna.memory.memory import memory_service
from lanterna.plugins import PluginHost

from .helpers import run_on_own_store, write_tree


class Sized(HashEmbedder):
    def __init__(self, name: str, dimensions: object) -> None:
        self.name, self.dimensions = name, dimensions  # type: ignore[assignment]


class BadSizes:
    @hookimpl
    def register_embedders(self, register):
        register(Sized("zero-dims", 0))
        register(Sized("text-dims", "16"))
        register(Sized("huge-dims", 5000))
        register(Sized("tiny-16", 16))


def test_invalid_dimensions_are_refused_at_registration_naming_the_plugin() -> None:
    host = PluginHost()
    host.register(BadSizes(), "bad-sizes")
    found, refused = collect_embedders(host)
    assert found["tiny-16"].dimensions == 16
    assert not {"zero-dims", "text-dims", "huge-dims"} & set(found)
    assert len(refused) == 3 and all(r.startswith("plugin 'bad-sizes' registered embedder") for r in refused)
    assert host.hook_failures[("register_embedders", "bad-sizes")] == 3
    with pytest.raises(EmbedderError) as error:
        memory_service(host).embedder("huge-dims")
    assert str(error.value) == (
        "plugin 'bad-sizes' registered embedder 'huge-dims' with dimensions 5000; it must be a whole number"
        " from 1 to 2000: fix or uninstall the plugin"
    )


INGEST_AND_SEARCH = textwrap.dedent(
    """
    import json, sys
    from lanterna import hookimpl
    from lanterna.guard import Guard
    from lanterna.memory.embedders import HashEmbedder
    from lanterna.memory.memory import memory_service
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    class Tiny(HashEmbedder):
        name, dimensions = "tiny-16", 16

    class TinyPlugin:
        @hookimpl
        def register_embedders(self, register):
            register(Tiny())

    host = get_host()
    host.register(TinyPlugin(), "tiny")
    memory = memory_service(host)
    with Guard(host).operation(RequestContext(transport="cli"), "memory.ingest", "service:small"):
        report = memory.ingest_path(sys.argv[1], "small")
        hits = memory.search("handler_2 dispatch", service="small", limit=3, mode="vector")
        hybrid = memory.search("handler_2", service="small", limit=1)
        stats = memory.stats()
    print(json.dumps({"report": report, "hits": hits, "hybrid": hybrid, "stats": stats}))
    """
)


def test_a_16_dimension_embedder_ingests_and_searches(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "small", {f"h{i}.py": f"def handler_{i}(event):\n    return {i}\n" for i in range(5)})
    out = run_on_own_store(tmp_path, "tiny-16", INGEST_AND_SEARCH, str(root))
    assert out["report"]["added"] == 5 and out["report"]["chunks"] == 5
    assert out["stats"]["embedder"] == "tiny-16" and out["stats"]["dimensions"] == 16
    assert len(out["hits"]) == 3  # the HNSW index over 16-float vectors answers
    assert out["hybrid"][0]["path"] == "h2.py"
