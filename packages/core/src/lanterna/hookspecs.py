"""Every hook Lanterna calls. The docstrings here are the reference documentation.

Implement a hook with ``@lanterna.hookimpl`` on a function of the same name; declare the
module in your distribution's ``lanterna`` entry-point group. Arguments are passed by
name, so an implementation may accept any subset of them.

Hooks come in families (see ``FAMILIES`` at the bottom). Decision hooks fail closed: an
exception denies the operation and names the plugin. Observation hooks never break an
operation: a failure is logged and counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from lanterna.config import Config
    from lanterna.types import (
        AuditEvent,
        Identity,
        Plan,
        RegisterCodeSource,
        RegisterEmbedder,
        RegisterTool,
        RequestContext,
        SecurityEvent,
        UsageEvent,
        UsageSummary,
    )

hookspec = pluggy.HookspecMarker("lanterna")


# -- tenancy ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def tenant_from_request(request: RequestContext) -> Identity | None:
    """Resolve the tenant, user and roles of a request; the first non-None answer wins.

    ``request.headers`` carries the HTTP headers (``authorization``, ``x-tenant-id``) for
    the HTTP transport; stdio and CLI requests carry none. Return ``None`` to let the next
    implementation decide; the built-in one (called last) answers with the tenant from the
    configuration (``[tenancy] default_tenant``, default ``local``). Raise
    ``lanterna.types.Refused("what is wrong; what to do")`` to refuse the request (a bad
    key, an unknown tenant): the guard denies with that reason, which must hold no secret,
    and it is not counted as a plugin failure. Any other exception also denies, naming your
    plugin, and is counted as a failure.
    """


@hookspec
def authorize(request: RequestContext, action: str, resource: str) -> str | None:
    """Decide whether ``request`` may perform ``action`` on ``resource``.

    Return a reason string to deny, ``None`` to allow or abstain. Any denial denies. Actions
    are dotted names such as ``memory.search`` or ``session.diff``; resources name what is
    touched (``repo:/path``, ``service:api``). An exception denies, naming the plugin.
    """


# -- metering --------------------------------------------------------------------------


@hookspec
def check_quota(request: RequestContext, action: str, plan: Plan) -> str | None:
    """Check the tenant's quota before ``action`` runs.

    Return a reason string to block it (say what to do: wait, upgrade), ``None`` to let it
    through. ``plan`` is the active plan, whose ``limits`` the quota may be taken from. Any
    denial blocks; an exception blocks, naming the plugin.
    """


@hookspec
def record_usage(request: RequestContext, event: UsageEvent) -> None:
    """Record one usage event after an operation ran.

    ``event.id`` is an idempotency key: a retry with the same id must not count twice. Called
    for every operation that ran, whatever its outcome; never for denied ones.
    """


@hookspec(firstresult=True)
def usage_summary(tenant: str, since: float, until: float) -> UsageSummary | None:
    """Summarize a tenant's usage between two UNIX timestamps; the first answer wins."""


# -- audit -----------------------------------------------------------------------------


@hookspec
def record_audit_event(event: AuditEvent) -> None:
    """Record one audit event: actor, tenant, action, resource, outcome and request id.

    Called for every guarded operation, denied ones included. With ``[guard]
    audit_fail_closed = true`` a failure here refuses the operation; otherwise it is
    logged and counted.
    """


@hookspec
def record_security_event(event: SecurityEvent) -> None:
    """Record a security event with a severity: a denial, a rejected key, a tampered file."""


# -- entitlements ----------------------------------------------------------------------


@hookspec(firstresult=True)
def active_plan(request: RequestContext) -> Plan | None:
    """Report the plan in force for the request's tenant; the first non-None answer wins.

    ``None`` everywhere means the free plan: the core fully working, no paid feature. A
    plan carries tier, features, limits and a state: ``valid``, ``grace`` (past expiry but
    within the grace period: features stay on) or ``expired`` (paid features off).
    """


# -- integrations ----------------------------------------------------------------------


@hookspec
def register_code_sources(register: RegisterCodeSource) -> None:
    """Register code sources: call ``register(source)`` once per code host you read.

    A source (``lanterna.sources.CodeSource``) has a ``name``, the scheme users type
    (``github`` in ``lanterna ingest github:OWNER/REPO@REF``), and read-only methods
    ``list_repos(limit=50)``, ``list_files(repo, path="", ref=None)``,
    ``read_file(repo, path, ref=None)``, ``search(query, repo=None, limit=20)``,
    ``list_commits(repo, path=None, limit=20)`` and ``snapshot(repo, ref=None)``, which
    ingest uses: the files at one commit with their blob ids, and a ``fetch(paths)`` that
    downloads only what memory does not hold yet. Methods run inside a guarded operation
    (the tenant is ``lanterna.guard.current_request().tenant``) and raise
    ``lanterna.sources.SourceError`` with one line, never a token, for what the user can fix.
    The first source registered under a name wins.
    """


# -- surfaces --------------------------------------------------------------------------


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``lanterna`` CLI: ``cli`` is the root ``typer.Typer`` app.

    Called at CLI start unless the command run is one of the core's own (then only in strict
    mode and for ``lanterna plugins``, which report a failure here). Keep heavy imports inside
    the command functions, and the command modules out of your plugin module's imports.
    """


@hookspec
def register_mcp_tools(register: RegisterTool) -> None:
    """Add MCP tools to the server: call ``register(fn, ...)`` once per tool.

    The arguments are described by ``lanterna.types.RegisterTool``. The server wraps every
    tool in the guard; there is no way to register an unguarded one. Tools never take
    tenant or user as arguments: they arrive in the request context.
    """


@hookspec
def register_embedders(register: RegisterEmbedder) -> None:
    """Add text embedders for long-term memory: call ``register(embedder)`` once per
    embedder; see ``lanterna.types.RegisterEmbedder``.
    """


# -- lifecycle -------------------------------------------------------------------------


@hookspec
def startup(config: Config) -> None:
    """Called once when a long-running Lanterna process (the MCP server) starts.

    It runs on a background thread: the server answers requests (``tools/list`` first)
    without waiting for it to finish, so a tool that needs what ``startup`` prepares waits
    for the plugin's own readiness signal. ``shutdown`` waits up to 30 s for it.
    """


@hookspec
def shutdown() -> None:
    """Called once when that process stops: flush buffers, close files and connections."""


@hookspec
def check_health() -> str | None:
    """Is the store this plugin depends on usable right now? ``None`` if so, else one line why.

    The HTTP server's ``/healthz`` and ``/readyz`` call it on a worker thread for a load
    balancer: keep it quick (one trivial query, a short timeout), and do not open a store
    that was never opened: report on what this process already uses.
    """


FAMILIES: dict[str, str] = {
    "tenant_from_request": "tenancy",
    "authorize": "tenancy",
    "check_quota": "metering",
    "record_usage": "metering",
    "usage_summary": "metering",
    "record_audit_event": "audit",
    "record_security_event": "audit",
    "active_plan": "entitlements",
    "register_code_sources": "integrations",
    "register_commands": "surfaces",
    "register_mcp_tools": "surfaces",
    "register_embedders": "surfaces",
    "startup": "lifecycle",
    "shutdown": "lifecycle",
    "check_health": "lifecycle",
}

#: Families whose implementation by a plugin turns Lanterna into "cloud" mode.
PAID_FAMILIES = frozenset({"tenancy", "metering", "audit", "entitlements"})
