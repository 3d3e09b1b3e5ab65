"""The memory built-in plugin: embedders, CLI commands and MCP tools of long-term memory.

The plugin owns one ``MemoryService`` built for the host that registered it (that host's
config and embedders); the tools and commands are that service's operations. This module is
imported by every ``lanterna`` start: it must not import Pixeltable, onnxruntime or the MCP
SDK (each hook imports what it needs when called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lanterna import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from lanterna.memory.api import MemoryService
    from lanterna.plugins import PluginHost


class MemoryPlugin:
    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self._service: MemoryService | None = None

    def service(self) -> MemoryService:
        """The long-term memory of this plugin's host (built on first use: cheap plugin loading)."""
        if self._service is None:
            from lanterna.memory.api import MemoryService

            self._service = MemoryService(self.host)
        return self._service

    @hookimpl(trylast=True)
    def register_embedders(self, register: Callable[..., None]) -> None:
        from lanterna.memory.embedders import HashEmbedder, MiniLMEmbedder, StaticEmbedder

        register(MiniLMEmbedder())
        register(StaticEmbedder())
        register(HashEmbedder())

    @hookimpl(trylast=True)
    def register_commands(self, cli: Any) -> None:
        from lanterna.memory.commands import register

        register(cli, self.service())

    @hookimpl(trylast=True)
    def register_mcp_tools(self, register: Callable[..., None]) -> None:
        from lanterna.memory.mcp_tools import MemoryTools

        MemoryTools(self.service()).register(register)

    @hookimpl(trylast=True)
    def check_health(self) -> str | None:
        from lanterna.memory import runtime

        return runtime.ping()

    @hookimpl(trylast=True)
    def shutdown(self) -> None:
        # Only release connections: the embedded Postgres is stopped when the process exits
        # (runtime's atexit), and Pixeltable cannot be initialised twice in one process, so a
        # server stopped and started again in-process keeps a working store.
        from lanterna.memory import runtime
        from lanterna.memory.store import opened_store

        opened = opened_store()
        if opened is not None and opened.refiner is not None:
            opened.refiner.stop()  # before its connections go; a server started again restarts it
        runtime.release_connections()


def memory_service(host: PluginHost) -> MemoryService:
    """The long-term memory of ``host`` (for applications and scripts that embed Lanterna)."""
    plugin = host.pm.get_plugin("memory")
    if not isinstance(plugin, MemoryPlugin):
        raise LookupError("this plugin host has no long-term memory plugin")
    return plugin.service()
