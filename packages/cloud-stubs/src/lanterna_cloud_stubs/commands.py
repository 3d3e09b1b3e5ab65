"""CLI commands added through ``register_commands``: usage, audit, license and tenant keys.

No ``from __future__ import annotations`` here: typer reads the parameter annotations at run
time, and they name objects local to ``register``.
"""

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

if TYPE_CHECKING:
    from lanterna_cloud_stubs.plugin import CloudStubs


from lanterna.console import fail as _fail
from lanterna.console import print_json as _json


def parse_when(text: str, now: float) -> float:
    """``7d``, ``24h``, ``30m`` ago, or an ISO 8601 date/time (UTC when no zone is given)."""
    from datetime import UTC, datetime

    units = {"d": 86400, "h": 3600, "m": 60}
    if text[-1:] in units and text[:-1].isdigit():
        return now - int(text[:-1]) * units[text[-1]]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not a time: use 7d, 24h, 30m or an ISO date such as 2026-11-01") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@contextmanager
def guarded(plugin: "CloudStubs", action: str, resource: str, tenant: str | None = None) -> Iterator[str]:
    """Run an admin command as a guarded operation of the caller (``LANTERNA_API_KEY`` or the
    local operator): the policy decides, usage and audit are recorded; yields the caller's
    tenant. A caller identified by an API key acts on its own tenant only."""
    from lanterna.guard import Denied, Guard
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    if plugin.database is not None:
        with plugin.database.connection():
            pass  # an unreachable database is one clear line, before any hook runs
    op = Guard(get_host()).operation(RequestContext(transport="cli"), action, resource)
    try:
        op.__enter__()
    except Denied as denial:
        raise _fail(f"refused: {denial.reason}") from None
    try:
        caller = op.request.tenant or ""
        if tenant is not None and tenant != caller and os.environ.get("LANTERNA_API_KEY"):
            raise _fail(f"refused: this API key belongs to tenant '{caller}' and cannot act on another tenant")
        yield caller
    except BaseException as exc:
        op.__exit__(type(exc), exc, exc.__traceback__)
        raise
    op.__exit__(None, None, None)


def confined() -> bool:
    """Whether the caller is an API key (limited to its tenant) rather than the local operator."""
    return bool(os.environ.get("LANTERNA_API_KEY"))


def register(cli: Any, plugin: "CloudStubs") -> None:
    import typer

    from lanterna_cloud_stubs.licensefile import LicenseError, iso

    json_option = Annotated[bool, typer.Option("--json", help="Print JSON.")]

    @cli.command("usage")
    def usage(
        tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (default: the local one).")] = None,
        since: Annotated[str, typer.Option("--since", help="7d, 24h, or an ISO date.")] = "30d",
        until: Annotated[str | None, typer.Option("--until", help="End (default: now).")] = None,
        outbox: Annotated[bool, typer.Option("--outbox", help="Also count meter events not yet sent.")] = False,
        flush: Annotated[
            bool, typer.Option("--flush", help="Send unsent meter events to the local sink ([cloud] meter_sink).")
        ] = False,
        as_json: json_option = False,
    ) -> None:
        """Summarize metered operations of a tenant (cloud-stubs)."""
        now = time.time()
        try:
            start, end = parse_when(since, now), parse_when(until, now) if until else now
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
        name = tenant or plugin.local_tenant()
        own = tenant is None or tenant == plugin.local_tenant()
        action = "admin.usage_flush" if flush else "usage.summary" if own else "admin.usage"
        with guarded(plugin, action, f"tenant:{name}", tenant=name):
            _usage(name, start, end, outbox, flush, as_json)

    def _usage(name: str, start: float, end: float, outbox: bool, flush: bool, as_json: bool) -> None:
        summary = plugin.metering.summary(name, start, end)
        data = {
            "tenant": name,
            "since": iso(start),
            "until": iso(end),
            "total": summary.total,
            "by_action": dict(summary.by_action),
        }
        if flush:
            from lanterna_cloud_stubs.metering import FileSink

            data["flushed"] = plugin.metering.flush(FileSink(plugin.settings.meter_sink))
        if outbox or flush:
            data["outbox_unsent"] = len(plugin.metering.unsent(limit=1_000_000))
        if as_json:
            return _json(data)
        print(f"usage of {name} from {data['since']} to {data['until']}: {summary.total} operations")
        for action, count in sorted(summary.by_action.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {action:<40} {count}")
        if flush:
            print(f"sent {data['flushed']} meter events to {plugin.settings.meter_sink}")
        if outbox or flush:
            print(f"meter events not yet sent: {data['outbox_unsent']}")

    audit = typer.Typer(help="Inspect the hash-chained audit log (cloud-stubs).", no_args_is_help=True)
    cli.add_typer(audit, name="audit")

    @audit.command("verify")
    def audit_verify(as_json: json_option = False) -> None:
        """Check the whole chain: any edited, deleted, reordered or truncated event is reported."""
        with guarded(plugin, "admin.audit_verify", "audit"):
            report = plugin.audit.verify()
        if as_json:
            _json({"ok": report.ok, "events": report.events, "problems": report.problems})
        elif report.ok:
            where = "the shared PostgreSQL" if plugin.database is not None else plugin.settings.audit_log
            print(f"audit log intact: {report.events} events, chain and head agree ({where})")
        else:
            for problem in report.problems:
                print(f"lanterna: audit log tampered: {problem}", file=sys.stderr)
        if not report.ok:
            raise typer.Exit(1)

    @audit.command("tail")
    def audit_tail(
        count: Annotated[int, typer.Option("-n", "--lines", help="How many events.")] = 20,
        as_json: json_option = False,
    ) -> None:
        """Show the last audit events."""
        with guarded(plugin, "admin.audit_tail", "audit") as caller:
            records = plugin.audit.tail(count)
        if confined():
            records = [r for r in records if r.get("tenant") == caller]
        if as_json:
            return _json(records)
        for r in records:
            when = iso(float(r.get("time", 0)))
            if r.get("kind") == "security":
                print(f"{r['seq']:>6} {when} SECURITY {r.get('severity')} {r.get('type')}: {r.get('message')}")
            else:
                line = f"{r['seq']:>6} {when} {r.get('tenant')}/{r.get('actor')} {r.get('action')}"
                reason = f" ({r['reason']})" if r.get("reason") else ""
                print(f"{line} {r.get('resource')} -> {r.get('outcome')}{reason}")

    lic = typer.Typer(help="License entitlements (cloud-stubs).", no_args_is_help=True)
    cli.add_typer(lic, name="license")

    @lic.command("status")
    def license_status(
        tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (default: the local one).")] = None,
        as_json: json_option = False,
    ) -> None:
        """Show the plan in force: valid, grace or expired, and why."""
        name = tenant or plugin.local_tenant()
        with guarded(plugin, "license.status", f"tenant:{name}", tenant=name):
            ev = plugin.entitlements.evaluate(name)
        data = ev.as_dict()
        if as_json:
            return _json(data)
        if data["license_id"] is None:
            print(f"tenant {ev.tenant}: no license, free plan (limits: {_limits(data['limits'])})")
        else:
            print(f"tenant {ev.tenant}: license {data['license_id']} ({data['tier']}), state: {ev.state}")
            print(f"  expires {data['expires_at']}, grace until {data['grace_ends']}; online check: {ev.online}")
            print(f"  features: {', '.join(data['features']) or 'none'}; limits: {_limits(data['limits'])}")
        for reason in ev.reasons:
            print(f"  paid features off: {reason}")
        for warning in ev.warnings:
            print(f"  warning: {warning}")

    @lic.command("activate")
    def license_activate(file: Annotated[Path, typer.Argument(help="The license file you received.")]) -> None:
        """Verify a license file's signature and install it for its tenant."""
        try:
            with guarded(plugin, "license.activate", str(file)):
                ev = plugin.entitlements.activate(file)
        except LicenseError as exc:
            raise _fail(str(exc), 2) from None
        data = ev.as_dict()
        print(
            f"activated license {data['license_id']} for tenant {ev.tenant}: {data['tier']}, state {ev.state},"
            f" expires {data['expires_at']}"
        )
        for warning in ev.warnings:
            print(f"warning: {warning}")

    tenant_app = typer.Typer(help="Tenants and their API keys (cloud-stubs).", no_args_is_help=True)
    cli.add_typer(tenant_app, name="tenant")

    @tenant_app.command("key-create")
    def key_create(
        tenant: Annotated[str, typer.Argument(help="Tenant the key belongs to.")],
        user: Annotated[str | None, typer.Option("--user", help="User name recorded in audit events.")] = None,
        role: Annotated[list[str] | None, typer.Option("--role", help="Role (repeatable).")] = None,
    ) -> None:
        """Create an API key; it is shown once and stored only as a hash."""
        with guarded(plugin, "tenant.key_create", f"tenant:{tenant}", tenant=tenant):
            key, record = plugin.keys.create(tenant, user or f"{tenant}-key", tuple(role or ["member"]))
        print(
            f"created {record.id} for tenant {tenant} (roles: {', '.join(record.roles)}); copy the key now,"
            " it is not stored and will not be shown again:",
            file=sys.stderr,
        )
        print(key)

    @tenant_app.command("keys")
    def keys_list(as_json: json_option = False) -> None:
        """List API keys (ids, tenants, roles; never the keys)."""
        with guarded(plugin, "tenant.keys", "keys") as caller:
            records = [r for r in plugin.keys.records() if not confined() or r.tenant == caller]
        rows: list[dict[str, Any]] = [
            {"id": r.id, "tenant": r.tenant, "user": r.user, "roles": list(r.roles), "revoked": r.revoked}
            for r in records
        ]
        if as_json:
            return _json(rows)
        for r in rows:
            revoked = "  (revoked)" if r["revoked"] else ""
            print(f"{r['id']}  {r['tenant']}  {r['user']}  {','.join(r['roles'])}{revoked}")

    @tenant_app.command("key-revoke")
    def key_revoke(key_id: Annotated[str, typer.Argument(help="Key id from `lanterna tenant keys`.")]) -> None:
        """Revoke an API key by its id."""
        with guarded(plugin, "tenant.key_revoke", f"key:{key_id}") as caller:
            owner = next((r.tenant for r in plugin.keys.records() if r.id == key_id), None)
            if confined() and owner not in (None, caller):
                raise _fail(f"refused: key '{key_id}' belongs to another tenant than this API key")
            found = plugin.keys.revoke(key_id)
        if not found:
            raise _fail(f"no API key with id '{key_id}'; `lanterna tenant keys` lists them", 2)
        print(f"revoked {key_id}")


def _limits(limits: dict[str, Any]) -> str:
    """``{'operations_per_day': 1000}`` as ``operations per day: 1000``."""
    return ", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in limits.items()) or "none"
