"""The ``lanterna`` command line. Listing commands import no Pixeltable, MCP or HTTP library."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from lanterna import __version__
from lanterna.config import ConfigError
from lanterna.console import JsonOption, fail, print_json
from lanterna.errors import UserError
from lanterna.launch import DEFAULT_ADDRESS, DEFAULT_PORT, SERVE_HELP
from lanterna.plugins import PluginHost, get_host


class LanternaGroup(typer.core.TyperGroup):
    """The root command group: a ``UserError`` from any command becomes ``lanterna: <line>``, exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise fail(" ".join(str(exc).split()), 1) from None


app = typer.Typer(
    cls=LanternaGroup,
    name="lanterna",
    help="Context memory for AI coding assistants: git session memory and long-term memory over MCP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A plain aligned table: cheap to import (no rich on listing paths), easy to grep."""
    import shutil

    cells = [columns, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    bold = sys.stdout.isatty()
    if bold:
        # on a terminal, give the last column whatever room is left, truncating rather than
        # wrapping; piped or redirected, every value is printed in full
        width = shutil.get_terminal_size((120, 24)).columns
        room = max(20, width - sum(widths[:-1]) - 2 * (len(columns) - 1))
        widths[-1] = min(widths[-1], room)

    def line(row: list[str]) -> str:
        last = row[-1] if len(row[-1]) <= widths[-1] else row[-1][: widths[-1] - 1] + "…"
        return "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)), last]).rstrip()

    header = line(columns)
    print(f"{title}\n" + (f"\033[1m{header}\033[0m" if bold else header))
    for row in rows:
        print(line(row))


def _version_callback(value: bool) -> None:
    if not value:
        return
    print(f"lanterna {__version__}")
    for plugin in get_host().plugins:
        if not plugin.builtin:
            print(f"  {plugin.name}: {plugin.distribution} {plugin.version} ({plugin.status})")
    raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show core and plugin versions."),
    ] = False,
    no_daemon: Annotated[
        bool,
        typer.Option(
            "--no-daemon",
            help="Run a memory command in this process, not in the memory daemon (or LANTERNA_NO_DAEMON=1).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit non-zero when any plugin failed to load or to register a command or tool"
            " (or LANTERNA_STRICT_PLUGINS=1).",
        ),
    ] = False,
) -> None:
    host = get_host()
    if strict:
        host.strict = True
    if host.strict or ctx.invoked_subcommand == "plugins":
        _collect_registrations(host)
    *reasons, summary = host.strict_violation() or [""]
    for line in reasons:
        print(f"lanterna: {line}", file=sys.stderr)
    if summary:
        raise fail(summary, 3)
    failed = host.failed()
    if failed and ctx.invoked_subcommand != "plugins":
        names = ", ".join(p.name for p in failed)
        print(f"lanterna: {len(failed)} plugin(s) failed ({names}); `lanterna plugins` shows why", file=sys.stderr)


def _collect_registrations(host: PluginHost) -> None:
    """Run the registration hooks the command itself would not, so their failures count."""
    import logging

    from lanterna.server.tools import collect_tools

    logger = logging.getLogger("lanterna")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the failures are reported once, as plugin failures
    try:
        collect_tools(host)
    finally:
        logger.setLevel(level)


@app.command("plugins")
def plugins_command(
    as_json: JsonOption = False,
    show_all: Annotated[bool, typer.Option("--all", help="Include the core's built-in plugins.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the traceback of each plugin that failed to load.")
    ] = False,
) -> None:
    """List plugins: name, distribution, version, status and the hooks each implements."""
    from lanterna.plugins import distributions_without_entry_point

    plugins = [p for p in get_host().plugins if show_all or not p.builtin]
    hints = [
        f"hint: {dist} is installed but declares no `lanterna` entry point, so it is not loaded;"
        f" add one under [project.entry-points.lanterna] in its pyproject.toml and reinstall it"
        for dist in distributions_without_entry_point()
    ]
    if as_json:
        return print_json([p.as_dict() for p in plugins])
    if not plugins:
        print("No plugins installed. `lanterna install NAME` adds one; `--all` shows the built-in ones.")
    else:
        rows = [[p.name, p.distribution, p.version, p.status, ", ".join(p.hooks) or "-"] for p in plugins]
        _table("Plugins", ["name", "distribution", "version", "status", "hooks"], rows)
        # reasons go on their own lines: a table would cut them to the terminal's width
        for p in plugins:
            if p.reason:
                print(f"{p.name} ({p.status}): {p.reason}")
            if verbose and p.traceback:
                print(p.traceback.rstrip())
    for hint in hints:
        print(hint, file=sys.stderr)


def _hook_rows(host: PluginHost) -> list[dict[str, Any]]:
    from lanterna.hookdocs import hook_docs

    rows = []
    for doc in hook_docs():
        implementers = [
            {
                "plugin": impl.plugin_name,
                "tryfirst": impl.tryfirst,
                "trylast": impl.trylast,
                "wrapper": impl.wrapper or impl.hookwrapper,
            }
            for impl in host.implementations(doc.name)
        ]
        rows.append(
            {
                "name": doc.name,
                "family": doc.family,
                "firstresult": doc.firstresult,
                "summary": doc.summary,
                "implementers": implementers,
            }
        )
    return rows


@app.command("hooks")
def hooks_command(
    name: Annotated[str | None, typer.Argument(help="Show one hook in full.")] = None,
    as_json: JsonOption = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the hooks reference (docs/hooks.md).")] = False,
) -> None:
    """List every hook with its family, purpose and implementers in call order."""
    if markdown:
        from lanterna.hookdocs import render_markdown

        sys.stdout.write(render_markdown())
        return
    rows = _hook_rows(get_host())
    if name is not None:
        rows = [r for r in rows if r["name"] == name]
        if not rows:
            raise fail(f"no hook named '{name}'; `lanterna hooks` lists them", 2)
    if as_json:
        return print_json(rows)
    if name is not None:
        from lanterna.hookdocs import hook_docs

        doc = next(d for d in hook_docs() if d.name == name)
        print(f"{doc.name}{doc.signature}  [{doc.family}{', first result' if doc.firstresult else ''}]\n")
        print(doc.doc + "\n")
        order = [
            i["plugin"]
            + (
                " (wrapper)"
                if i["wrapper"]
                else " (trylast)"
                if i["trylast"]
                else " (tryfirst)"
                if i["tryfirst"]
                else ""
            )
            for i in rows[0]["implementers"]
        ]
        print("implementers, in call order: " + (", ".join(order) or "none"))
        return
    table_rows = [
        [r["family"], r["name"], r["summary"], ", ".join(i["plugin"] for i in r["implementers"]) or "-"] for r in rows
    ]
    _table("Hooks", ["family", "hook", "purpose", "implementers (call order)"], table_rows)


def _usage_last_day(host: PluginHost) -> dict[str, Any] | None:
    """The local tenant's usage over the last 24 hours, if a metering plugin keeps it."""
    import time

    from lanterna.types import RequestContext

    try:
        identity = host.call("tenant_from_request", request=RequestContext(transport="cli"))
        now = time.time()
        summary = identity and host.call("usage_summary", tenant=identity.tenant, since=now - 86400, until=now)
    except Exception:  # noqa: BLE001 - status must report, not crash; the failure is counted
        return None
    if not summary:
        return None
    return {"tenant": summary.tenant, "total": summary.total, "by_action": dict(summary.by_action)}


def _quota_today(host: PluginHost, limits: dict[str, int]) -> dict[str, Any] | None:
    """Today's operations (UTC day, as quotas count them) against the plan's daily limit."""
    import time

    from lanterna.types import RequestContext

    limit = limits.get("operations_per_day")
    if limit is None:
        return None
    now = time.time()
    try:
        identity = host.call("tenant_from_request", request=RequestContext(transport="cli"))
        summary = identity and host.call("usage_summary", tenant=identity.tenant, since=now - now % 86400, until=now)
    except Exception:  # noqa: BLE001 - status must report, not crash; the failure is counted
        return None
    if not summary:
        return None
    used = summary.total
    return {"tenant": summary.tenant, "limit": limit, "used": used, "remaining": max(0, limit - used)}


def _paths(host: PluginHost) -> dict[str, Any]:
    from lanterna.config import config_path, data_dir, state_dir

    return {
        "config": str(host.config.path or config_path()),
        "config_exists": host.config.path is not None,
        "data": str(data_dir()),
        "state": str(state_dir()),
        "memory": _memory_location(host),
    }


def _memory_location(host: PluginHost) -> str:
    """Where long-term memory lives: its Pixeltable home, or the external database (its URL may
    hold a password, so it is not shown)."""
    from lanterna.memory.settings import MemorySettings

    settings = MemorySettings.from_config(host.config)
    if settings.db_connect_str:
        return "external PostgreSQL ([memory] db_connect_str or LANTERNA_DB_CONNECT_STR)"
    return str(settings.pixeltable_home)


def _status(host: PluginHost) -> dict[str, Any]:
    from lanterna.hookspecs import FAMILIES, PAID_FAMILIES
    from lanterna.plugins import recorded_hook_failures
    from lanterna.types import FREE_PLAN, RequestContext

    active: dict[str, list[str]] = {}
    for plugin in host.plugins:
        if plugin.status in ("loaded", "degraded") and not plugin.builtin:
            for hook in plugin.hooks:
                family = FAMILIES.get(hook)
                if family and plugin.name not in active.setdefault(family, []):
                    active[family].append(plugin.name)
    paid = sorted(f for f in active if f in PAID_FAMILIES)
    plan_error = ""
    try:
        plan = host.call("active_plan", request=RequestContext(transport="cli")) or FREE_PLAN
    except Exception as exc:  # noqa: BLE001 - status must report, not crash
        plan, plan_error = FREE_PLAN, str(exc)
    failures = recorded_hook_failures()
    return {
        "paths": _paths(host),
        "quota_today": _quota_today(host, dict(plan.limits)),
        "usage_24h": _usage_last_day(host),
        "version": __version__,
        "mode": "cloud" if paid else "oss",
        "active_families": {f: active[f] for f in sorted(active)},
        "entitlements": {
            "tier": plan.tier,
            "state": plan.state,
            "features": sorted(plan.features),
            "limits": dict(plan.limits),
            "source": plan.source,
            "error": plan_error,
        },
        "plugin_failures": [
            {"name": p.name, "distribution": p.distribution, "version": p.version, "reason": p.reason}
            for p in host.failed()
        ],
        "hook_failures": [{"hook": h, "plugin": p, "count": n} for (h, p), n in sorted(failures.items())],
    }


@app.command("status")
def status_command(as_json: JsonOption = False) -> None:
    """Show the mode (oss or cloud), active hook families, entitlements and failures."""
    status = _status(get_host())
    if as_json:
        return print_json(status)
    ent = status["entitlements"]
    print(f"lanterna {status['version']}  mode: {status['mode']}")
    print(
        f"plan: {ent['tier']} ({ent['state']}, from {ent['source']})"
        + (f"  features: {', '.join(ent['features'])}" if ent["features"] else "")
    )
    if ent["limits"]:
        print("limits: " + ", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in ent["limits"].items()))
    if ent["error"]:
        print(f"entitlements error: {ent['error']}")
    quota = status["quota_today"]
    if quota is not None:
        print(
            f"today (tenant {quota['tenant']}): {quota['used']} of {quota['limit']} operations used,"
            f" {quota['remaining']} left; the count starts again at 00:00 UTC"
        )
    usage = status["usage_24h"]
    if usage is not None:
        print(f"usage (24 h, tenant {usage['tenant']}): {usage['total']} operation(s)")
    families = status["active_families"]
    print("active families: " + (", ".join(f"{f} ({', '.join(p)})" for f, p in families.items()) or "none (core only)"))
    for p in status["plugin_failures"]:
        print(f"plugin failed: {p['name']} ({p['distribution']} {p['version']}): {p['reason']}")
    for f in status["hook_failures"]:
        print(f"hook failures: {f['plugin']} in {f['hook']}: {f['count']}")
    if not status["plugin_failures"] and not status["hook_failures"]:
        print("no plugin or hook failures")
    paths = status["paths"]
    exists = "" if paths["config_exists"] else " (not created; defaults in use)"
    print(f"config file: {paths['config']}{exists}")
    print(f"data: {paths['data']}")
    print(f"state: {paths['state']}")
    print(f"long-term memory: {paths['memory']}")


def _pip(args: list[str]) -> int:
    """Run pip for this interpreter; in a venv made without pip (uv), use ``uv pip``."""
    import importlib.util
    import shutil
    import subprocess

    if importlib.util.find_spec("pip") is not None:
        return subprocess.call([sys.executable, "-m", "pip", *args])
    uv = shutil.which("uv")
    if uv is None:
        raise fail("pip is not installed in Lanterna's environment; run `python -m ensurepip` and try again", 2)
    command, *rest = args
    rest = [a for a in rest if a not in ("-y", "--yes")]  # uv never prompts
    return subprocess.call([uv, "pip", command, "--python", sys.executable, *rest])


@app.command("install")
def install_command(
    packages: Annotated[list[str] | None, typer.Argument(help="Plugin distributions, as pip takes them.")] = None,
    upgrade: Annotated[bool, typer.Option("-U", "--upgrade", help="Upgrade to the newest compatible release.")] = False,
    editable: Annotated[
        list[str] | None, typer.Option("-e", "--editable", help="Install a local plugin project in editable mode.")
    ] = None,
) -> None:
    """Install plugins into Lanterna's environment, never moving the core's version."""
    import os
    import tempfile

    packages, editable = packages or [], editable or []
    if not packages and not editable:
        raise fail("name a plugin to install: `lanterna install NAME` or `lanterna install -e PATH`", 2)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write(f"lanterna=={__version__}\n")
    try:
        args = ["install", "-c", constraints.name, *(["--upgrade"] if upgrade else []), *packages]
        for path in editable:
            args += ["-e", path]
        code = _pip(args)
    finally:
        os.unlink(constraints.name)
    if code:
        raise fail(f"pip could not install {' '.join([*packages, *editable])}; see its message above", code)
    _report_changes(get_host())


def _report_changes(before: PluginHost) -> None:
    """After an install: which plugins are new, what they hook into, and what that changes for the user."""
    import json
    import subprocess

    from lanterna.hookspecs import FAMILIES

    def lanterna_json(*args: str) -> Any:
        proc = subprocess.run([sys.executable, "-m", "lanterna", *args, "--json"], capture_output=True, text=True)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    plugins, status = lanterna_json("plugins"), lanterna_json("status")
    if plugins is None or status is None:
        return
    known = {(p.name, p.distribution, p.version, p.status) for p in before.plugins}
    for plugin in plugins:
        if (plugin["name"], plugin["distribution"], plugin["version"], plugin["status"]) in known:
            continue
        families = sorted({FAMILIES.get(hook, "?") for hook in plugin["hooks"]})
        what = f"hooks into {', '.join(families)}" if families else plugin["reason"] or "implements no hook"
        name = f"'{plugin['name']}' ({plugin['distribution']} {plugin['version']})"
        print(f"lanterna: plugin {name}: {plugin['status']}; {what}")
    ent = status["entitlements"]
    was = _status(before)
    if status["mode"] != was["mode"]:
        print(f"lanterna: mode is now {status['mode']} (was {was['mode']})")
    if ent["limits"] != was["entitlements"]["limits"] or ent["tier"] != was["entitlements"]["tier"]:
        limits = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in ent["limits"].items()) or "no limits"
        print(
            f"lanterna: plan is now {ent['tier']} ({limits}), from {ent['source']}; every guarded CLI command and"
            " MCP tool call counts against it: `lanterna status` shows what is left today"
        )


@app.command("uninstall")
def uninstall_command(
    packages: Annotated[list[str], typer.Argument(help="Plugin distributions to remove.")],
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Uninstall plugins from Lanterna's environment."""
    if any(p.lower() == "lanterna" for p in packages):
        raise fail("refusing to uninstall the core itself; use pip directly if you mean it", 2)
    code = _pip(["uninstall", *(["-y"] if yes else []), *packages])
    if code:
        raise fail(f"pip could not uninstall {' '.join(packages)}", code)


@app.command("serve", help=SERVE_HELP, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve_command(ctx: typer.Context) -> None:
    from lanterna.launch import serve_command as serve

    code = serve(ctx.args)
    if code:
        raise typer.Exit(code)


@app.command("tools")
def tools_command(as_json: JsonOption = False) -> None:
    """List the MCP tools the server would expose and the plugin that registered each."""
    import logging

    from lanterna.server.tools import collect_tools

    logging.getLogger("lanterna.server").setLevel(logging.ERROR)  # rejections are printed below, once
    registry = collect_tools(get_host())
    tools = [spec.as_dict() for spec in registry.tools.values()]
    rejected = [{"plugin": plugin, "reason": reason} for plugin, reason in registry.rejected]
    if as_json:
        return print_json({"tools": tools, "rejected": rejected})
    rows = [[t["name"], t["plugin"], t["action"], t["feature"] or "-", t["description"]] for t in tools]
    _table("MCP tools", ["tool", "plugin", "guard action", "feature", "description"], rows)
    for item in rejected:
        print(f"not registered ({item['plugin']}): {item['reason']}", file=sys.stderr)


@app.command("mcp-config")
def mcp_config_command(
    client: Annotated[
        str, typer.Option("--client", help="The MCP client: claude-code, cursor or vscode.")
    ] = "claude-code",
    http: Annotated[bool, typer.Option("--http", help="Point the client at `lanterna serve --http`.")] = False,
    address: Annotated[str, typer.Option("--host", help="Host of the HTTP server.")] = DEFAULT_ADDRESS,
    port: Annotated[int, typer.Option("--port", help="Port of the HTTP server.")] = DEFAULT_PORT,
) -> None:
    """Print the configuration snippet that registers this server with an MCP client."""
    from lanterna.server.clients import CLIENTS, hint, snippet

    if client not in CLIENTS:
        raise fail(f"unknown client '{client}'; choose one of {', '.join(CLIENTS)}", 2)
    url = f"http://{address}:{port}/mcp"
    print_json(snippet(client, http=http, url=url))
    print(f"lanterna: {hint(client, http=http, url=url)}", file=sys.stderr)


def _add_commands(host: PluginHost, args: list[str]) -> None:
    """Give typer the command being run, when it can be told from the arguments, else all.

    Typer turns every registered command's signature into click parameters at each start,
    ~0.5 ms a command, and plugins' commands mean importing their command modules. So a
    core command runs without asking plugins for theirs, except in strict mode and for
    ``lanterna plugins``, which report a ``register_commands`` that fails. Help, no command
    or an unknown name get every command (listing, suggestions).
    """
    command = _invoked_command(args)
    if command is None and "--version" in args:
        return  # answered by the root callback, before any command
    if command is None or command in GROUPS or not any(_name_of(c) == command for c in app.registered_commands):
        add_groups(app)
    core_command = command not in (None, "plugins") and keep_only_command(app, command)
    strict = host.strict or (command is not None and "--strict" in args[: args.index(command)])
    if not core_command or strict:
        host.call("register_commands", isolate=True, cli=app)
        if command is not None:
            keep_only_command(app, command)


def _configure_logging() -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("lanterna: %(message)s"))
    root_logger = logging.getLogger("lanterna")
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.WARNING)
    root_logger.propagate = False


def _invoked_command(args: list[str]) -> str | None:
    """The command named by the arguments, or None for help or no command."""
    names = [a for a in args if not a.startswith("-")]  # root options are flags: the first name is the command
    if not names or any(a in ("--help", "-h") for a in args[: args.index(names[0])]):
        return None
    return names[0]


#: Sub-command groups of the core, imported only when a command line may call them.
GROUPS = ("plugin", "daemon")


def add_groups(typer_app: typer.Typer) -> None:
    """Add the ``plugin`` and ``daemon`` groups to ``typer_app``."""
    from lanterna.authoring import plugin_app
    from lanterna.daemon.commands import daemon_app

    typer_app.add_typer(plugin_app, name="plugin")
    typer_app.add_typer(daemon_app, name="daemon")


def _name_of(info: Any) -> str:
    if isinstance(info, typer.models.TyperInfo):
        return info.name or ""
    return info.name or info.callback.__name__.replace("_", "-")


def keep_only_command(typer_app: typer.Typer, name: str) -> bool:
    """Drop every command and sub-app of ``typer_app`` except ``name``; False if none is called so.

    The one place that edits typer's internals (``registered_commands`` and
    ``registered_groups``, whose entries name themselves by ``name`` or, for a command, by
    its callback); ``tests/core/test_cli.py`` fails if a typer release changes them.
    """

    commands = [c for c in typer_app.registered_commands if _name_of(c) == name]
    groups = [g for g in typer_app.registered_groups if _name_of(g) == name]
    if not (commands or groups):
        return False
    typer_app.registered_commands[:] = commands
    typer_app.registered_groups[:] = groups
    return True


def main() -> None:
    import contextlib

    _configure_logging()
    # A plugin that prints while loading must not corrupt JSON output or the stdio protocol.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            host = get_host()
        except ConfigError as exc:
            print(f"lanterna: {exc}", file=sys.stderr)
            sys.exit(2)
        _add_commands(host, sys.argv[1:])
    try:
        app()
    except UserError as exc:
        print(f"lanterna: {exc}", file=sys.stderr)
        sys.exit(1)
