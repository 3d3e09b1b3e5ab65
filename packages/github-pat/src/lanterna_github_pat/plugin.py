"""The ``github`` entry point: a code source, MCP tools and ``lanterna github`` commands.

Loaded by every ``lanterna`` start, so nothing here imports an HTTP library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanterna import hookimpl
from lanterna.config import Config


class GitHubPlugin:
    LANTERNA_PLUGIN_API = 1

    def __init__(self, config: Config) -> None:
        self.config = config

    @hookimpl
    def register_code_sources(self, register: Callable[..., None]) -> None:
        from lanterna.codehost import HostSource
        from lanterna_github_pat.host import HOST

        register(HostSource(HOST))

    @hookimpl
    def register_mcp_tools(self, register: Callable[..., None]) -> None:
        from lanterna_github_pat.tools import register as register_tools

        register_tools(register)

    @hookimpl
    def register_commands(self, cli: Any) -> None:
        from lanterna.codehost import command_group
        from lanterna_github_pat.host import HOST

        cli.add_typer(command_group(HOST), name=HOST.name)
