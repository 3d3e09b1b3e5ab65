"""The memory built-in plugin: embedders, CLI commands, MCP tools, and releasing the store.

This module is imported by every ``lanterna`` start: it must not import Pixeltable,
onnxruntime or the MCP SDK (each hook imports what it needs when called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lanterna import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from lanterna.config import Config


class MemoryPlugin:
    def __init__(self, config: Config) -> None:
        self.config = config

    @hookimpl(trylast=True)
    def register_embedders(self, register: Callable[..., None]) -> None:
        from lanterna.memory.embedders import HashEmbedder, MiniLMEmbedder

        register(MiniLMEmbedder())
        register(HashEmbedder())

    @hookimpl(trylast=True)
    def register_commands(self, cli: Any) -> None:
        from lanterna.memory.commands import register

        register(cli)

    @hookimpl(trylast=True)
    def register_mcp_tools(self, register: Callable[..., None]) -> None:
        from lanterna.memory.mcp_tools import register as register_tools

        register_tools(register)

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

        runtime.release_connections()
