"""The MCP server in-process: tools from plugins, every call through the guard, errors as MCP errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from mcp import Client

from lanterna import hookimpl
from lanterna.plugins import get_host
from lanterna.server.app import build_server
from lanterna.server.tools import ToolRegistry, collect_tools
from tests.core.server_helpers import audit_events, commit_file, init_repo, text_of
from tests.memory.helpers import MEMORY_TOOLS

pytestmark = pytest.mark.anyio

SESSION_TOOLS = {
    "session_branch",
    "session_log",
    "session_status",
    "session_diff",
    "session_file_history",
    "session_search_commits",
}
CORE_TOOLS = SESSION_TOOLS | MEMORY_TOOLS


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = init_repo(tmp_path / "repo")
    commit_file(repo, "README.md", "hello\n", "Initial commit")
    monkeypatch.setenv("LANTERNA_REPO", str(repo))
    return repo


def _arguments(schema: dict) -> dict:
    """Minimal valid arguments for a tool's input schema."""
    samples = {"string": "README.md", "integer": 1, "boolean": False, "number": 1.0}
    return {name: samples[schema["properties"][name].get("type", "string")] for name in schema.get("required", [])}


async def test_core_server_lists_the_built_in_tools_without_plugins(repo: Path) -> None:
    async with Client(build_server()) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == CORE_TOOLS


async def test_every_listed_tool_runs_through_the_guard(repo: Path, load_plugins, lanterna_home: Path) -> None:
    load_plugins("mcp_tools", "guard_probe")
    server = build_server()
    registry: ToolRegistry = server.lanterna_registry
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == set(registry.tools)
        for tool in tools:
            arguments = {"steps": 1} if tool.name == "probe_progress" else _arguments(tool.input_schema)
            before = len(audit_events(lanterna_home))
            await client.call_tool(tool.name, arguments)
            new = audit_events(lanterna_home)[before:]
            spec = registry.tools[tool.name]
            assert [e["action"] for e in new] == [spec.action], tool.name
            assert new[0]["tenant"] == "local"
            assert new[0]["outcome"] in ("success", "error", "denied")


async def test_a_denying_plugin_blocks_every_tool_before_its_body_runs(
    repo: Path, load_plugins, monkeypatch: pytest.MonkeyPatch, lanterna_home: Path
) -> None:
    load_plugins("mcp_tools", "guard_probe")
    monkeypatch.setenv("PROBE_DENY", "*")
    async with Client(build_server()) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) >= len(CORE_TOOLS) + 4
        for tool in tools:
            arguments = {"steps": 1} if tool.name == "probe_progress" else _arguments(tool.input_schema)
            result = await client.call_tool(tool.name, arguments)
            assert result.is_error, tool.name
            expected = "premium_search" if tool.name == "probe_premium" else "probe denies"
            assert expected in text_of(result), tool.name
            assert "\n" not in text_of(result)
    outcomes = {e["outcome"] for e in audit_events(lanterna_home)}
    assert outcomes == {"denied"}


async def test_every_server_tool_is_a_guarded_registry_entry(repo: Path, load_plugins) -> None:
    load_plugins("mcp_tools", "guard_probe")
    server = build_server()
    registry = server.lanterna_registry
    sdk_tools = await server.list_tools()
    assert sdk_tools
    for tool in sdk_tools:
        wrapped = server._tool_manager.get_tool(tool.name).fn
        assert wrapped.lanterna_spec is registry.tools[tool.name]


async def test_a_raising_tool_is_an_mcp_error_and_the_server_stays_up(repo: Path, load_plugins) -> None:
    from testplug_mcp_probe.tools import SECRET_IN_ERROR

    load_plugins("mcp_tools")
    async with Client(build_server()) as client:
        result = await client.call_tool("probe_boom", {"text": "x"})
        assert result.is_error
        message = text_of(result)
        assert "probe_boom" in message and "mcp_tools" in message and "RuntimeError" in message
        assert SECRET_IN_ERROR not in message
        assert "\n" not in message
        exited = await client.call_tool("probe_exit", {})
        assert exited.is_error and "SystemExit" in text_of(exited)
        after = await client.call_tool("session_branch", {})
        assert not after.is_error
        assert after.structured_content["branch"] == "main"
    assert ("tool:probe_boom", "mcp_tools") in get_host().hook_failures


async def test_a_feature_the_plan_lacks_is_denied_with_what_to_do(repo: Path, load_plugins) -> None:
    load_plugins("mcp_tools")
    async with Client(build_server()) as client:
        result = await client.call_tool("probe_premium", {"query": "q"})
    assert result.is_error
    assert "premium_search" in text_of(result) and "free plan" in text_of(result)
    assert "license" in text_of(result)


async def test_sync_tool_runs_on_a_worker_thread_with_the_resolved_request(
    repo: Path, load_plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_plugins("mcp_tools")
    monkeypatch.setenv("LANTERNA_TENANT", "acme")
    monkeypatch.setenv("LANTERNA_USER", "ada")
    async with Client(build_server(transport="stdio")) as client:
        first = (await client.call_tool("probe_whoami", {})).structured_content
        second = (await client.call_tool("probe_whoami", {})).structured_content
    assert first["tenant"] == "acme" and first["user"] == "ada"
    assert first["transport"] == "stdio"
    assert first["main_thread"] is False
    assert first["request_id"] != second["request_id"]
    assert first["x_tenant_id"] is None


async def test_async_tool_gets_the_mcp_context_and_reports_progress(repo: Path, load_plugins) -> None:
    load_plugins("mcp_tools")
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(build_server()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools["probe_progress"].input_schema["properties"]) == {"steps"}
        result = await client.call_tool("probe_progress", {"steps": 3}, progress_callback=on_progress)
    assert not result.is_error
    assert result.structured_content == {"steps": 3, "tenant": "local"}
    assert [p for p, _, _ in seen] == [1, 2, 3]


async def test_bad_registrations_are_refused_and_a_broken_plugin_is_reported(repo: Path, load_plugins) -> None:
    load_plugins("mcp_tools", "mcp_broken")
    host = get_host()
    registry = collect_tools(host)
    assert "probe_not_a_tool" not in registry.tools
    assert registry.tools["session_branch"].plugin == "session_memory"
    reasons = dict.fromkeys(p for p, _ in registry.rejected)
    assert "mcp_tools" in reasons
    assert any("tenant" in r and "current_request" in r for _, r in registry.rejected)
    assert any("already registered by plugin 'session_memory'" in r for _, r in registry.rejected)
    assert ("register_mcp_tools", "mcp_broken") in host.hook_failures
    async with Client(build_server(host)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names >= SESSION_TOOLS and "probe_whoami" in names


async def test_tool_arguments_are_validated_by_schema(repo: Path) -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool("session_log", {"limit": "many"})
    assert result.is_error
    assert "limit" in text_of(result)


class SlowStart:
    """A plugin whose startup blocks until the test lets it go."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []

    @hookimpl
    def startup(self, config: object) -> None:
        self.calls.append("startup")
        self.release.wait(30)
        self.calls.append("started")

    @hookimpl
    def shutdown(self) -> None:
        self.calls.append("shutdown")


async def test_tools_list_is_answered_while_startup_is_still_running(repo: Path) -> None:
    host = get_host()
    slow = SlowStart()
    assert host.register(slow, "slow_start").status == "loaded"
    server = build_server(host)
    async with Client(server) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "session_branch" in names
        assert slow.calls == ["startup"]  # tools/list did not wait for the backend
        assert not (await client.call_tool("session_status", {})).is_error
        slow.release.set()
        assert server.lanterna_lifecycle.ready.wait(10)
    assert slow.calls == ["startup", "started", "shutdown"]


class AnnotatedTools:
    @hookimpl
    def register_mcp_tools(self, register) -> None:
        def wipe_cache() -> str:
            """Clears a cache."""
            return "wiped"

        def lookup(word: str) -> str:
            """Reads a dictionary."""
            return word

        def typo() -> str:
            """Misspells a hint."""
            return ""

        register(wipe_cache, title="Wipe the cache", annotations={"destructive_hint": True, "idempotentHint": True})
        register(lookup)
        register(typo, annotations={"readOnly": True})


HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


async def test_every_tool_has_a_title_and_all_four_mcp_hints(repo: Path, load_plugins) -> None:
    load_plugins("mcp_tools")
    host = get_host()
    host.register(AnnotatedTools(), "annotated")
    registry = collect_tools(host)
    assert ("annotated", "tool 'typo': unknown annotation 'readOnly'; use " + ", ".join(HINTS)) in registry.rejected
    async with Client(build_server(host, registry=registry)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) >= CORE_TOOLS and "lookup" in tools
    for name, tool in tools.items():
        hints = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
        assert set(HINTS) <= set(hints), f"{name} lacks MCP hints: {hints}"
        assert tool.title and tool.annotations.title == tool.title, name
    hints = {name: tool.annotations for name, tool in tools.items()}
    for name in SESSION_TOOLS | {"memory_search", "memory_get", "memory_list", "memory_services", "memory_stats"}:
        assert hints[name].read_only_hint and not hints[name].destructive_hint and not hints[name].open_world_hint
    for name in ("memory_forget", "memory_ingest"):
        assert hints[name].destructive_hint and not hints[name].read_only_hint
    assert not hints["memory_remember"].read_only_hint and not hints["memory_remember"].destructive_hint
    # a plugin's own hints arrive as given; what it leaves out takes MCP's cautious defaults
    assert tools["wipe_cache"].title == "Wipe the cache"
    assert (hints["wipe_cache"].destructive_hint, hints["wipe_cache"].idempotent_hint) == (True, True)
    assert (hints["lookup"].read_only_hint, hints["lookup"].destructive_hint, hints["lookup"].open_world_hint) == (
        False,
        True,
        True,
    )
    assert tools["lookup"].title == "Lookup"


class LeakyTool:
    """A tool whose error text repeats its argument and a database's SQL parameters."""

    @hookimpl
    def register_mcp_tools(self, register):
        def leaky_store(text: str) -> str:
            """Fail like a database driver does."""
            try:
                raise KeyError(f"row for {text!r} missing")
            except KeyError as inner:
                raise RuntimeError(
                    f"(psycopg.errors.UniqueViolation) duplicate key for {text}\n"
                    "DETAIL: Key (body)=(patient 4711 record) already exists.\n"
                    "[SQL: INSERT INTO notes (body) VALUES (%(body)s)]\n"
                    f"[parameters: {{'body': '{text}'}}]\n"
                    "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
                ) from inner

        register(leaky_store)


async def test_a_failing_tool_logs_where_it_failed_but_not_its_arguments_or_sql_parameters(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    get_host().register(LeakyTool(), "leaky")
    secret = "my private note about the merger"
    with caplog.at_level("INFO"):
        async with Client(build_server()) as client:
            result = await client.call_tool("leaky_store", {"text": secret})
    assert result.is_error and "leaky_store" in text_of(result)
    log = caplog.text
    assert "leaky_store" in log and "RuntimeError" in log and "KeyError" in log
    assert "[parameters: redacted]" in log and "in leaky_store" in log  # the stack is kept
    assert secret not in log and "patient 4711" not in log


def test_a_plugin_may_give_the_sdk_s_tool_annotations_title_included() -> None:
    from mcp.types import ToolAnnotations

    from lanterna.server.tools import ToolRegistry

    def lookup(word: str) -> str:
        """Reads a dictionary."""
        return word

    registry = ToolRegistry()
    registry.registrar("dictionary")(
        lookup, annotations=ToolAnnotations(title="Look a word up", readOnlyHint=True, openWorldHint=False)
    )
    spec = registry.tools["lookup"]
    assert spec.title == "Look a word up"
    assert spec.annotations == {
        "readOnlyHint": True,
        "destructiveHint": True,  # left out: MCP's cautious default
        "idempotentHint": False,
        "openWorldHint": False,
    }
