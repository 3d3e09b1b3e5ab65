"""MCP tools of long-term memory: methods of ``MemoryTools`` over one ``MemoryService``.

The server wraps each in the guard (resource ``service:<name>``, or ``service:*`` when the
call names no service) and sets the request, so the tenant comes from
``current_request()``; tools never take it as an argument.

Imported by the ``register_mcp_tools`` hook, also by ``lanterna tools``, which must not load
the MCP SDK: ``Context`` is imported for type checking only and the server resolves it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lanterna.memory.api import resource_for
from lanterna.server.tools import READ_ONLY

if TYPE_CHECKING:  # the server resolves the name itself: listing tools must not import the SDK
    from mcp.server.mcpserver import Context

    from lanterna.memory.api import MemoryService


class MemoryTools:
    def __init__(self, service: MemoryService) -> None:
        self.service = service

    def register(self, register: Any) -> None:
        for fn, action in (
            (self.memory_ingest, "memory.ingest"),
            (self.memory_search, "memory.search"),
            (self.memory_remember, "memory.note"),
            (self.memory_add_adr, "memory.adr"),
            (self.memory_add_incident, "memory.incident"),
            (self.memory_get, "memory.get"),
            (self.memory_list, "memory.list"),
            (self.memory_forget, "memory.forget"),
            (self.memory_services, "memory.services"),
            (self.memory_stats, "memory.stats"),
        ):
            title, hints = ANNOTATIONS[fn.__name__]
            register(fn, name=fn.__name__, action=action, resource=_resource, title=title, annotations=hints)

    # -- the tools: their docstrings are what the assistant reads -------------------------

    async def memory_ingest(
        self, path: str, service: str, kind: str | None = None, ctx: Context | None = None
    ) -> dict[str, Any]:
        """Ingest a folder or file on this machine, or a repository of a code host
        (github:OWNER/REPO[@REF], gitlab:GROUP/PROJECT[@REF]), into long-term memory under a service name.

        Unchanged files are skipped, changed ones re-embedded, deleted ones removed. Secret files
        (.env, keys) are never stored; secrets inside other files are stored redacted. The report
        lists both. kind: code, doc, adr, incident, note or meeting.
        """
        loop = asyncio.get_running_loop()
        progress = None
        if ctx is not None:

            def progress(done: int, total: int, chunks: int) -> None:
                message = f"{done}/{total} files, {chunks} chunks"
                asyncio.run_coroutine_threadsafe(ctx.report_progress(done, total, message), loop)

        return await asyncio.to_thread(self.service.ingest_path, path, service, kind, progress)

    async def memory_search(
        self,
        query: str,
        service: str | None = None,
        kind: str | None = None,
        path: str | None = None,
        limit: int = 10,
        per_file: int = 2,
    ) -> list[dict[str, Any]]:
        """Search long-term memory (code, docs, ADRs, incidents, notes) by meaning and identifiers.

        Returns ranked results, each with root (the ingested folder, or github:OWNER/REPO@REF),
        path relative to it, line range, symbol, snippet, score and the id to fetch or forget.
        path is a glob over stored paths, e.g. 'src/*.py'; per_file caps the results of one file.
        """
        from lanterna.memory.runtime import Cancellation

        cancellation = Cancellation()

        def run() -> list[dict[str, Any]]:
            with cancellation.tracking():
                return self.service.search(query, service, kind, path, limit, per_file=per_file)

        try:
            return await asyncio.to_thread(run)
        except asyncio.CancelledError:  # the client went away: its query stops holding the store
            cancellation.cancel()
            raise

    def memory_remember(self, text: str, title: str | None = None, service: str | None = None) -> dict[str, Any]:
        """Remember a note (a fact, decision or how-to worth keeping); returns its id."""
        return self.service.add_record("note", text, title=title, service=service)

    def memory_add_adr(
        self, title: str, text: str, service: str | None = None, status: str = "accepted"
    ) -> dict[str, Any]:
        """Record an architecture decision (context, decision, consequences); returns its id."""
        return self.service.add_record("adr", text, title=title, service=service, status=status)

    def memory_add_incident(
        self, title: str, text: str, service: str | None = None, status: str = "open"
    ) -> dict[str, Any]:
        """Record an incident (what happened, impact, cause, fix); returns its id."""
        return self.service.add_record("incident", text, title=title, service=service, status=status)

    def memory_get(self, id: str) -> dict[str, Any]:
        """Fetch one memory in full by its id (from search results or lists)."""
        return self.service.get_record(id)

    def memory_list(self, kind: str | None = None, service: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """List memories, newest first; e.g. kind='adr' lists the ADRs, kind='incident' the incidents."""
        return self.service.list_records(kind, service, limit)

    def memory_forget(self, id: str) -> dict[str, Any]:
        """Forget a memory by id: no search or tool returns it afterwards."""
        return self.service.forget(id)

    def memory_services(self) -> list[dict[str, Any]]:
        """List the services (projects) in memory with document and chunk counts and their roots."""
        return self.service.services()

    def memory_stats(self) -> dict[str, Any]:
        """Statistics of long-term memory for your tenant."""
        return self.service.stats()


#: Title and MCP hints per tool. Every tool works on this server's own store (closed world);
#: forget removes data for good, and ingest removes what was deleted from the ingested folder.
_ADDS = {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False, "openWorldHint": False}
ANNOTATIONS: dict[str, tuple[str, dict[str, bool]]] = {
    # open world: it may read a code host's repository (github:OWNER/REPO)
    "memory_ingest": (
        "Ingest files into memory",
        {**_ADDS, "destructiveHint": True, "idempotentHint": True, "openWorldHint": True},
    ),
    "memory_search": ("Search memory", READ_ONLY),
    "memory_remember": ("Remember a note", _ADDS),
    "memory_add_adr": ("Record an ADR", _ADDS),
    "memory_add_incident": ("Record an incident", _ADDS),
    "memory_get": ("Get a memory", READ_ONLY),
    "memory_list": ("List memories", READ_ONLY),
    "memory_forget": ("Forget a memory", {**_ADDS, "destructiveHint": True, "idempotentHint": True}),
    "memory_services": ("List services", READ_ONLY),
    "memory_stats": ("Memory statistics", READ_ONLY),
}


def _resource(arguments: dict[str, Any]) -> str:
    return resource_for(arguments.get("service"))
