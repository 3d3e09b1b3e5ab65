"""Chunks an interrupted write left (no document row) are never found, and forgetting them says so."""

from __future__ import annotations

import pytest

from lanterna.memory.api import MemoryUsageError
from lanterna.memory.store import ChunkIn, DocumentIn

from .helpers import memory, operation


class Crash(Exception):
    pass


class DiesOnInsert:
    """The documents table of a process killed after writing the chunks, before the document row."""

    def insert(self, rows):
        raise Crash


def test_chunks_without_a_document_are_not_searchable_and_forget_says_what_it_removed(
    monkeypatch: pytest.MonkeyPatch, tenant: str
) -> None:
    with operation():
        store = memory().store()
        memory().add_record("note", "the quarterly zebra migration plan is stored")
        doc = DocumentIn("code", "src/zebra.py", "h", [ChunkIn(1, 2, "def zebra_migration():\n    return 'zebra'\n")])
        with monkeypatch.context() as patched:
            patched.setattr(store, "documents", DiesOnInsert())
            with pytest.raises(Crash):
                store.write(tenant, "zoo", [doc])
        hits = memory().search("zebra migration", limit=10)
        assert [h["kind"] for h in hits] == ["note"]  # the half-written file is not found
        assert doc.doc_id not in {h["doc_id"] for h in memory().search("zebra", mode="vector", limit=10)}

        result = memory().forget(doc.doc_id)
        assert result["chunks_removed"] == 1
        assert result["note"] == (
            f"'{doc.doc_id}' was not a stored memory: 1 chunk(s) an interrupted write left under that id were removed"
        )
        with pytest.raises(MemoryUsageError, match="no memory with id"):
            memory().forget(doc.doc_id)
