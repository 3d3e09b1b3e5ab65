"""The plugin object the ``cloud`` entry point names: one instance per plugin host.

Each hook delegates to a part with one job; parts are built on first use so that loading
the plugin (every CLI start does) costs next to nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lanterna import hookimpl
from lanterna.config import Config
from lanterna.errors import UserError
from lanterna_cloud_stubs.settings import Settings

T = TypeVar("T")
#: The plugin's own admin commands: authorized and audited, but neither metered nor under quota.
MANAGEMENT_ACTIONS = ("admin.", "tenant.", "license.", "usage.")
_build_lock = threading.RLock()


class cached_property(Generic[T]):
    """functools.cached_property, but built under a lock on every Python (3.12 dropped it)."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self.build = build
        self.name = build.__name__

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            # (ignored for mypy) read from the class, a descriptor returns itself, not a T
            return self  # type: ignore[return-value]
        try:
            return obj.__dict__[self.name]
        except KeyError:
            with _build_lock:
                if self.name not in obj.__dict__:
                    obj.__dict__[self.name] = self.build(obj)
                return obj.__dict__[self.name]


if TYPE_CHECKING:
    from lanterna.types import AuditEvent, Identity, Plan, RequestContext, SecurityEvent, UsageEvent, UsageSummary
    from lanterna_cloud_stubs.audit import AuditLog
    from lanterna_cloud_stubs.database import Database
    from lanterna_cloud_stubs.entitlements import Entitlements
    from lanterna_cloud_stubs.keys import KeyStore, PgKeyStore
    from lanterna_cloud_stubs.metering import Metering
    from lanterna_cloud_stubs.pg_audit import PgAuditLog
    from lanterna_cloud_stubs.pg_metering import PgMetering
    from lanterna_cloud_stubs.policy import Policy
    from lanterna_cloud_stubs.tenancy import Tenancy


class CloudStubs:
    LANTERNA_PLUGIN_API = 1

    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = Settings.from_config(config)

    # -- parts -------------------------------------------------------------------------

    @cached_property
    def keys(self) -> KeyStore | PgKeyStore:
        if self.database is not None:
            from lanterna_cloud_stubs.keys import PgKeyStore

            return PgKeyStore(self.database)
        from lanterna_cloud_stubs.keys import KeyStore

        return KeyStore(self.settings.keys_file)

    @cached_property
    def tenancy(self) -> Tenancy:
        from lanterna_cloud_stubs.tenancy import Tenancy

        default = self.config.get("tenancy", "default_tenant")
        return Tenancy(self.settings, self.keys, str(default) if default else None)

    @cached_property
    def policy(self) -> Policy:
        from lanterna_cloud_stubs.policy import Policy

        return Policy.load(self.settings.policy_file)

    @cached_property
    def database(self) -> Database | None:
        if not self.settings.db_connect_str:
            return None
        from lanterna_cloud_stubs.database import shared_database

        return shared_database(self.settings.db_connect_str)

    @cached_property
    def metering(self) -> Metering | PgMetering:
        if self.database is not None:
            from lanterna_cloud_stubs.pg_metering import PgMetering

            return PgMetering(self.database, self.settings.meter_event_name)
        from lanterna_cloud_stubs.metering import Metering

        return Metering(self.settings.usage_db, self.settings.meter_event_name)

    @cached_property
    def audit(self) -> AuditLog | PgAuditLog:
        if self.database is not None:
            from lanterna_cloud_stubs.audit import HeadKey
            from lanterna_cloud_stubs.pg_audit import PgAuditLog

            return PgAuditLog(self.database, HeadKey(self.settings.audit_key_file))
        from lanterna_cloud_stubs.audit import AuditLog

        return AuditLog(self.settings.audit_log, self.settings.audit_head, self.settings.audit_key_file)

    @cached_property
    def entitlements(self) -> Entitlements:
        from lanterna_cloud_stubs.entitlements import Entitlements

        state = None
        if self.database is not None:
            from lanterna_cloud_stubs.entitlements import PgLicenseState

            state = PgLicenseState(self.database)
        return Entitlements(self.settings, on_security=self._security, floor=self.audit.last_time, state_store=state)

    def local_tenant(self) -> str:
        from lanterna.types import RequestContext

        return self.tenancy.identify(RequestContext(transport="cli")).tenant

    def _security(self, kind: str, severity: str, message: str, tenant: str | None) -> None:
        record = {"kind": "security", "type": kind, "severity": severity, "message": message, "tenant": tenant}
        self.audit.append(record)

    # -- tenancy -----------------------------------------------------------------------

    @hookimpl
    def tenant_from_request(self, request: RequestContext) -> Identity:
        return self.tenancy.identify(request)

    @hookimpl
    def authorize(self, request: RequestContext, action: str, resource: str) -> str | None:
        return self.policy.decide(request.roles, action, resource)

    # -- metering ----------------------------------------------------------------------

    @hookimpl
    def check_quota(self, request: RequestContext, action: str, plan: Plan) -> str | None:
        if action.startswith(MANAGEMENT_ACTIONS):
            return None
        return self.metering.check_quota(request.tenant or "", request.request_id, plan)

    @hookimpl
    def record_usage(self, request: RequestContext, event: UsageEvent) -> None:
        if not event.action.startswith(MANAGEMENT_ACTIONS):
            self.metering.record(event, request.request_id)

    @hookimpl
    def usage_summary(self, tenant: str, since: float, until: float) -> UsageSummary:
        return self.metering.summary(tenant, since, until)

    # -- audit -------------------------------------------------------------------------

    @hookimpl
    def record_audit_event(self, event: AuditEvent) -> None:
        if event.outcome == "denied" and "metering" in self.__dict__:
            self.metering.release(event.request_id)
        self.audit.append(
            {
                "kind": "audit",
                "time": event.time,
                "tenant": event.tenant,
                "actor": event.actor,
                "action": event.action,
                "resource": event.resource,
                "outcome": event.outcome,
                "request_id": event.request_id,
                "transport": event.transport,
                "reason": event.reason,
            }
        )

    @hookimpl
    def record_security_event(self, event: SecurityEvent) -> None:
        self.audit.append(
            {
                "kind": "security",
                "time": event.time,
                "type": event.kind,
                "severity": event.severity,
                "message": event.message,
                "tenant": event.tenant,
                "actor": event.actor,
                "request_id": event.request_id,
                "detail": dict(event.detail),
            }
        )

    # -- entitlements ------------------------------------------------------------------

    @hookimpl
    def active_plan(self, request: RequestContext) -> Plan:
        return self.entitlements.evaluate(request.tenant or self.local_tenant()).plan

    # -- surfaces and lifecycle --------------------------------------------------------

    @hookimpl
    def register_commands(self, cli: Any) -> None:
        from lanterna_cloud_stubs.commands import register

        register(cli, self)

    @hookimpl
    def check_health(self) -> str | None:
        if self.database is None:
            return None
        problem = None
        for _ in range(2):  # a pooled connection the server dropped fails once, then is replaced
            try:
                with self.database.connection() as conn:
                    conn.execute("SELECT 1")
                return None
            except UserError as exc:
                return str(exc)
            except Exception as exc:  # noqa: BLE001 - any failure is the answer
                problem = f"cloud database unreachable ({type(exc).__name__})"
        return problem

    @hookimpl
    def shutdown(self) -> None:
        for part in ("metering", "audit"):
            if part in self.__dict__:
                getattr(self, part).close()
