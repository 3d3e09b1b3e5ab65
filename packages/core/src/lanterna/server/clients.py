"""Configuration snippets that register the Lanterna MCP server with an MCP client."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

CLIENTS = ("claude-code", "cursor", "vscode")
#: Where each client reads the snippet from (project scope).
CONFIG_FILES = {"claude-code": ".mcp.json", "cursor": ".cursor/mcp.json", "vscode": ".vscode/mcp.json"}


def lanterna_command() -> list[str]:
    """The absolute command that starts this installation's ``lanterna``."""
    beside = Path(sys.executable).parent / ("lanterna.exe" if sys.platform == "win32" else "lanterna")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("lanterna")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "lanterna"]


def snippet(client: str, *, http: bool, url: str) -> dict[str, Any]:
    """The JSON to put in the client's MCP configuration file."""
    command, *prefix = lanterna_command()
    stdio: dict[str, Any] = {"command": command, "args": [*prefix, "serve"]}
    if client == "claude-code":
        # Claude Code starts project servers in the project folder: the cwd is the repository.
        entry = {"type": "http", "url": url} if http else {"type": "stdio", **stdio}
        return {"mcpServers": {"lanterna": entry}}
    if client == "cursor":
        entry = {"url": url} if http else {**stdio, "env": {"LANTERNA_REPO": "${workspaceFolder}"}}
        return {"mcpServers": {"lanterna": entry}}
    if client == "vscode":
        entry = (
            {"type": "http", "url": url}
            if http
            else {"type": "stdio", **stdio, "env": {"LANTERNA_REPO": "${workspaceFolder}"}}
        )
        return {"servers": {"lanterna": entry}}
    raise ValueError(f"unknown client '{client}'; choose one of {', '.join(CLIENTS)}")


def hint(client: str, *, http: bool, url: str) -> str:
    """One line telling the user where the snippet goes (printed on stderr)."""
    where = f"merge this into {CONFIG_FILES[client]} in your project"
    if client == "claude-code":
        command = (
            f"claude mcp add --transport http lanterna {url}"
            if http
            else ("claude mcp add lanterna -- " + " ".join([*lanterna_command(), "serve"]))
        )
        where += f", or run: {command}"
    if http:
        where += "; start the server first with `lanterna serve --http`"
    return where
