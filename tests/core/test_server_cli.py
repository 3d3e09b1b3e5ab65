"""`lanterna tools`, `lanterna mcp-config` and the import weight of the listing commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

HEAVY = ("mcp", "pixeltable", "httpx", "httpx2")

PROBE = """
import json, sys
sys.argv = ["lanterna", *json.loads(sys.argv[1])]
from lanterna.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))
sys.stderr.write("HEAVY=" + json.dumps(heavy) + "\\n")
""".replace("HEAVY_NAMES", repr(HEAVY))


def lanterna(home: Path, *args: str, plugins: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(home, LANTERNA_LOAD_PLUGINS=plugins)
    return subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def heavy_modules(proc: subprocess.CompletedProcess[str]) -> list[str]:
    line = next(line for line in proc.stderr.splitlines() if line.startswith("HEAVY="))
    return json.loads(line.removeprefix("HEAVY="))


def test_tools_json_lists_each_tool_with_its_plugin_without_importing_mcp(lanterna_home: Path) -> None:
    proc = lanterna(lanterna_home, "tools", "--json", plugins="mcp_tools,mcp_broken")
    data = json.loads(proc.stdout)  # stdout is pure JSON despite the plugin printing on import
    by_name = {t["name"]: t for t in data["tools"]}
    assert by_name["session_diff"]["plugin"] == "session_memory"
    assert by_name["session_diff"]["action"] == "session.diff"
    assert by_name["probe_premium"] == {
        "name": "probe_premium",
        "plugin": "mcp_tools",
        "action": "tool.probe_premium",
        "resource": "tool:probe_premium",
        "feature": "premium_search",
        "title": "Probe premium",
        "annotations": {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False, "openWorldHint": True},
        "description": "Needs the 'premium_search' feature, which the free plan lacks.",
    }
    assert by_name["session_diff"]["annotations"]["readOnlyHint"] is True
    assert "probe_not_a_tool" not in by_name
    assert {r["plugin"] for r in data["rejected"]} == {"mcp_tools"}
    assert "broken tool registration" in proc.stderr
    assert heavy_modules(proc) == []


@pytest.mark.parametrize("args", [["tools"], ["tools", "--help"], ["serve", "--help"], ["mcp-config"]])
def test_listing_and_help_commands_import_no_heavy_library(lanterna_home: Path, args: list[str]) -> None:
    proc = lanterna(lanterna_home, *args)
    assert heavy_modules(proc) == []
    assert proc.stdout


def test_tools_table_names_the_plugins(lanterna_home: Path) -> None:
    proc = lanterna(lanterna_home, "tools")
    assert "session_branch" in proc.stdout and "session_memory" in proc.stdout


@pytest.mark.parametrize(
    ("client", "http", "expected"),
    [
        ("claude-code", False, {"mcpServers": {"lanterna": {"type": "stdio"}}}),
        ("claude-code", True, {"mcpServers": {"lanterna": {"type": "http", "url": "http://127.0.0.1:8765/mcp"}}}),
        ("cursor", False, {"mcpServers": {"lanterna": {"env": {"LANTERNA_REPO": "${workspaceFolder}"}}}}),
        ("cursor", True, {"mcpServers": {"lanterna": {"url": "http://127.0.0.1:8765/mcp"}}}),
        ("vscode", False, {"servers": {"lanterna": {"type": "stdio"}}}),
        ("vscode", True, {"servers": {"lanterna": {"type": "http", "url": "http://127.0.0.1:8765/mcp"}}}),
    ],
)
def test_mcp_config_snippets(lanterna_home: Path, client: str, http: bool, expected: dict) -> None:
    proc = lanterna(lanterna_home, "mcp-config", "--client", client, *(["--http"] if http else []))
    snippet = json.loads(proc.stdout)
    (top,) = expected
    entry = snippet[top]["lanterna"]
    for key, value in expected[top]["lanterna"].items():
        assert entry[key] == value
    if not http:
        command = [entry["command"], *entry["args"]]
        assert command[-1] == "serve"
        assert Path(command[0]).is_absolute()
    assert "merge this into" in proc.stderr


def test_mcp_config_stdio_command_really_starts_the_server(lanterna_home: Path, tmp_path: Path) -> None:
    """The printed command answers an MCP initialize over stdio."""
    entry = json.loads(lanterna(lanterna_home, "mcp-config").stdout)["mcpServers"]["lanterna"]
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    proc = subprocess.run(
        [entry["command"], *entry["args"]],
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        env=subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS=""),
        timeout=60,
        cwd=tmp_path,
    )
    assert json.loads(proc.stdout.splitlines()[0])["result"]["serverInfo"]["name"] == "lanterna"


def test_mcp_config_rejects_an_unknown_client(lanterna_home: Path) -> None:
    proc = lanterna(lanterna_home, "mcp-config", "--client", "emacs")
    assert "unknown client 'emacs'" in proc.stderr and "claude-code" in proc.stderr
    assert proc.stdout == ""


def test_serve_options_need_http(lanterna_home: Path) -> None:
    proc = lanterna(lanterna_home, "serve", "--port", "9000")
    assert "only apply with --http" in proc.stderr


@pytest.mark.parametrize("root_options", [[], ["--strict"]])
def test_a_malformed_serve_argument_is_one_line_through_the_typer_cli(
    lanterna_home: Path, root_options: list[str]
) -> None:
    proc = lanterna(lanterna_home, *root_options, "serve", "--port", "eighty")
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("HEAVY=")]
    assert lines == ["lanterna: --port takes a number, not 'eighty'; for example --port 8765"]
