"""Long-term memory through a real MCP client session against the real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from lanterna.server.app import build_server
from tests.memory.helpers import write_tree

pytestmark = pytest.mark.anyio


async def test_ingest_with_progress_then_search_remember_and_forget_over_mcp(tmp_path: Path, tenant: str) -> None:
    root = write_tree(
        tmp_path / "billing",
        {
            f"invoice_{i}.py": f"def total_invoice_{i}(lines):\n    return sum(l.amount for l in lines)\n"
            for i in range(4)
        },
    )
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async with Client(build_server()) as client:
        schema = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        assert "ctx" not in schema["memory_ingest"]["properties"]  # the MCP context is injected, not an argument
        assert "tenant" not in str(schema)
        ingested = await client.call_tool(
            "memory_ingest", {"path": str(root), "service": "billing"}, progress_callback=on_progress
        )
        assert not ingested.is_error, ingested.content
        assert progress and progress[-1] == (4, 4)
        found = await client.call_tool("memory_search", {"query": "total_invoice_2", "service": "billing"})
        assert not found.is_error
        assert "invoice_2.py" in str(found.structured_content)
        note = await client.call_tool("memory_remember", {"text": "deploys freeze on Fridays", "service": "billing"})
        assert not note.is_error
        note_id = next(v for k, v in note.structured_content.items() if k.endswith("id"))
        forgotten = await client.call_tool("memory_forget", {"id": note_id})
        assert not forgotten.is_error, forgotten.content
        again = await client.call_tool("memory_search", {"query": "deploys freeze on Fridays", "service": "billing"})
        assert "deploys freeze" not in str(again.structured_content)
        missing = await client.call_tool("memory_ingest", {"path": str(tmp_path / "nope"), "service": "billing"})
        assert missing.is_error
        assert len(missing.content[0].text.splitlines()) == 1
