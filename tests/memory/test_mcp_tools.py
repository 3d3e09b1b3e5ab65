"""The MCP tool functions, called as the server does: inside a guarded operation.

``test_mcp_session.py`` calls the same tools through a real MCP client session.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from lanterna.memory.mcp_tools import MemoryTools
from lanterna.plugins import get_host

from .helpers import MEMORY_TOOLS, memory, operation, write_tree


@pytest.fixture
def mcp_tools() -> MemoryTools:
    return MemoryTools(memory())


class RecordingContext:
    """Stands in for the SDK's Context: records the progress notifications a tool sends."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, float | None, str | None]] = []

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.progress.append((progress, total, message))


def test_plugin_registers_every_tool_with_an_action() -> None:
    registered: list[dict] = []

    def register(
        fn, *, name=None, description=None, action=None, resource=None, feature=None, title=None, annotations=None
    ) -> None:
        registered.append(
            {"fn": fn, "name": name, "action": action, "title": title, "annotations": annotations, "resource": resource}
        )

    memory = get_host().pm.get_plugin("memory")
    memory.register_mcp_tools(register=register)
    names = {r["name"] for r in registered}
    assert names == MEMORY_TOOLS
    for r in registered:
        assert r["action"].startswith("memory.")
        assert r["title"] and r["annotations"], r["name"]
        assert inspect.getdoc(r["fn"])
        assert "tenant" not in inspect.signature(r["fn"]).parameters
        assert r["resource"]({"service": "shop"}) == "service:shop"
        assert r["resource"]({}) == r["resource"]({"service": "  "}) == "service:*"


def test_ingest_tool_reports_progress_and_search_tool_finds(mcp_tools: MemoryTools, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "svc", {f"m{i}.py": f"def job_{i}():\n    return {i}\n" for i in range(5)})
    ctx = RecordingContext()

    async def scenario() -> dict:
        with operation("memory.ingest"):
            return await mcp_tools.memory_ingest(str(root), "jobs", ctx=ctx)

    report = asyncio.run(scenario())
    assert report["added"] == 5
    assert ctx.progress and ctx.progress[-1][:2] == (5, 5)
    with operation("memory.search"):
        hits = asyncio.run(mcp_tools.memory_search("job_3", service="jobs", limit=1))
        adr = mcp_tools.memory_add_adr("Use cron for jobs", "Jobs run from cron, not a queue.", service="jobs")
        listed = mcp_tools.memory_list(kind="adr")
        fetched = mcp_tools.memory_get(adr["id"])
        mcp_tools.memory_forget(adr["id"])
        after = mcp_tools.memory_list(kind="adr")
    assert hits[0]["path"] == "m3.py"
    assert [x["id"] for x in listed] == [adr["id"]]
    assert "not a queue" in fetched["text"]
    assert after == []


def test_ingest_over_http_is_refused_by_default(mcp_tools: MemoryTools, tmp_path: Path) -> None:
    from lanterna.guard import Guard
    from lanterna.memory.api import MemoryUsageError
    from lanterna.types import RequestContext

    guard = Guard(get_host())
    with (
        guard.operation(RequestContext(transport="http"), "memory.ingest", "service:svc"),
        pytest.raises(MemoryUsageError, match="over HTTP is off"),
    ):
        asyncio.run(mcp_tools.memory_ingest(str(tmp_path), "svc"))


def _http_ingest(path: Path | str, service: str = "svc") -> dict:
    from lanterna.guard import Guard
    from lanterna.types import RequestContext

    with Guard(get_host()).operation(RequestContext(transport="http"), "memory.ingest", f"service:{service}"):
        return asyncio.run(MemoryTools(memory()).memory_ingest(str(path), service))


def test_ingest_over_http_only_inside_the_allowed_roots(tmp_path: Path, lanterna_home: Path) -> None:
    from lanterna.memory.api import MemoryUsageError
    from lanterna.plugins import reset_host

    allowed = write_tree(tmp_path / "srv" / "code", {"svc/a.py": "def alpha():\n    return 1\n"})
    outside = write_tree(tmp_path / "private", {"shadow.txt": "root:secret-hash\n"})
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    (lanterna_home / "config.toml").write_text(f"[memory]\nallow_remote_ingest = [{str(allowed)!r}]\n")
    reset_host()

    assert _http_ingest(allowed / "svc")["added"] == 1
    for path in (outside, outside / "shadow.txt", allowed / "escape", allowed / ".." / "..", "/etc/shadow"):
        with pytest.raises(MemoryUsageError, match="is outside the folders HTTP clients may ingest") as refused:
            _http_ingest(path)
        assert str(allowed) in str(refused.value) and "\n" not in str(refused.value)

    (lanterna_home / "config.toml").write_text("[memory]\nallow_remote_ingest = true\n")
    reset_host()
    with pytest.raises(MemoryUsageError, match=r"allow_remote_ingest = true is not enough: list the folders"):
        _http_ingest(allowed / "svc")


def test_service_names_are_validated_everywhere_they_are_stored(mcp_tools: MemoryTools, tmp_path: Path) -> None:
    from lanterna.memory.api import MemoryUsageError

    root = write_tree(tmp_path / "s", {"a.py": "x = 1\n"})
    bad = ["x" * 1_000_000, "bill\x00ing", "two words", "-rf", "a\nb"]
    with operation("memory.note"):
        for name in bad:
            with pytest.raises(MemoryUsageError, match="is not a service name: use 1-100 letters") as refused:
                mcp_tools.memory_remember("a note", service=name)
            assert len(str(refused.value)) < 300 and "\n" not in str(refused.value)
            with pytest.raises(MemoryUsageError, match="is not a service name"):
                asyncio.run(mcp_tools.memory_ingest(str(root), name))
            with pytest.raises(MemoryUsageError, match="is not a service name"):
                asyncio.run(mcp_tools.memory_search("x", service=name))
        for good in ("billing-api", "acme/shop", "_global", "svc.v2", "team@corp:web+1"):
            assert mcp_tools.memory_remember("a note", service=good)["service"] == good
        assert {s["service"] for s in mcp_tools.memory_services()} >= {"billing-api", "acme/shop"}


def test_plain_tools_can_run_on_concurrent_worker_threads(mcp_tools: MemoryTools, tmp_path: Path) -> None:
    """The server runs tools on worker threads (a plain ``def``, or an async tool's blocking part):
    concurrent calls stay correct."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    root = write_tree(tmp_path / "c", {f"f{i}.py": f"def worker_{i}():\n    return {i}\n" for i in range(8)})
    with operation("memory.ingest"):
        mcp_tools.memory_services()  # store open before the threads start
        asyncio.run(mcp_tools.memory_ingest(str(root), "conc"))

    def call(i: int) -> tuple[str, str]:
        with operation("memory.search"):
            if i % 2:
                mcp_tools.memory_remember(f"thread note {i}", service="conc")
            found = asyncio.run(mcp_tools.memory_search(f"worker_{i}", service="conc", kind="code", limit=1))
            return f"f{i}.py", found[0]["path"]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: contextvars.copy_context().run(call, i), range(8)))
    assert all(expected == got for expected, got in results)
    with operation():
        assert len(mcp_tools.memory_list(kind="note", service="conc")) == 4
