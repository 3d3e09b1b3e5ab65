"""The one door every operation goes through.

resolve tenant -> entitlements -> authorize -> quota -> run -> record usage -> audit

Decision hooks fail closed: an exception denies and names the plugin. Observation hooks
(usage, audit) never break the operation: failures are logged and counted, unless
``[guard] audit_fail_closed = true`` (or ``LANTERNA_AUDIT_FAIL_CLOSED=1``), which makes an
unrecordable audit event refuse the operation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

from lanterna.config import env_flag
from lanterna.plugins import HookFailed, PluginHost
from lanterna.types import (
    FREE_PLAN,
    AuditEvent,
    Outcome,
    Plan,
    Refused,
    RequestContext,
    SecurityEvent,
    UsageEvent,
)

T = TypeVar("T")

_current_request: ContextVar[RequestContext | None] = ContextVar("lanterna_request", default=None)


def current_request() -> RequestContext:
    """The resolved request of the guarded operation running now (tenant, user, roles).

    Tools and memory code call this to scope their work; it is set only inside a guarded
    operation, so code that bypasses the guard has no tenant to work with.
    """
    request = _current_request.get()
    if request is None:
        raise RuntimeError("no guarded operation is running; run this through Guard.operation()")
    return request


def tenancy_plugins(host: PluginHost) -> list[str]:
    """Installed plugins (not the core's single-tenant default) that resolve tenants."""
    builtin = {p.name for p in host.plugins if p.builtin}
    return [i.plugin_name for i in host.implementations("tenant_from_request") if i.plugin_name not in builtin]


def resolve_tenant(host: PluginHost, request: RequestContext) -> RequestContext:
    """``request`` with its tenant resolved, for a check outside any operation (the HTTP
    credential check); ``Denied`` with the same one-line reason a guarded operation gets."""
    return Operation(Guard(host), request, "", "", None)._resolve_tenant(host)


class Denied(Exception):
    """The guard refused an operation. ``str()`` is one line saying why and what to do."""

    def __init__(
        self,
        stage: str,
        reason: str,
        detail: dict[str, str] | None = None,
        *,
        tenant: str | None = None,
        user: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason
        #: What the audit and security events record beyond the reason (e.g. a key id).
        self.detail = detail or {}
        #: Whose credential was refused, when the tenancy plugin knows (a valid key claiming
        #: another tenant): the events name them instead of nobody.
        self.tenant = tenant
        self.user = user


class Guard:
    def __init__(self, host: PluginHost) -> None:
        self.host = host
        flag = env_flag("LANTERNA_AUDIT_FAIL_CLOSED")
        self.audit_fail_closed = bool(host.config.get("guard", "audit_fail_closed", False) if flag is None else flag)

    def operation(
        self,
        request: RequestContext,
        action: str,
        resource: str | Callable[[], str] = "",
        *,
        feature: str | None = None,
    ) -> Operation:
        """A context manager around one operation: ``with guard.operation(...) as op: ...``.

        Entering runs the checks and raises ``Denied``; ``op.request`` is the request with its
        tenant resolved and ``op.plan`` the plan in force. Leaving records usage and audit.
        A callable ``resource`` is called once the tenant is resolved, with ``current_request()``
        set, for a resource that depends on the caller (a tenant's own repository).
        """
        return Operation(self, request, action, resource, feature)

    def run(
        self,
        request: RequestContext,
        action: str,
        resource: str,
        fn: Callable[..., T],
        *args: Any,
        feature: str | None = None,
        **kwargs: Any,
    ) -> T:
        with self.operation(request, action, resource, feature=feature):
            return fn(*args, **kwargs)


def authorize(host: PluginHost, action: str, resource: str) -> None:
    """Ask ``authorize`` about one more resource inside the operation running now; raises ``Denied``.

    For an operation that reaches a resource its own one does not name (an ingest of
    ``github:acme/api`` under ``service:api`` also reads ``repo:github:acme/api``): a policy on
    either applies. Records no usage and counts no quota; a denial is audited and raised.
    """
    operation = Operation(Guard(host), current_request(), action, resource, None)
    try:
        operation._decide(host, "authorize", action=action, resource=resource)
    except Denied as denial:
        operation._audit("denied", denial.reason, raising=False)
        operation._security_event(denial)
        raise


class Operation:
    __slots__ = (
        "action",
        "feature",
        "guard",
        "pending_resource",
        "plan",
        "request",
        "resource",
        "stage",
        "started",
        "token",
    )

    def __init__(
        self,
        guard: Guard,
        request: RequestContext,
        action: str,
        resource: str | Callable[[], str],
        feature: str | None,
    ) -> None:
        self.guard = guard
        self.request = request
        self.action = action
        # A callable resource is known only once the tenant is: until then it is "".
        self.pending_resource = resource if callable(resource) else None
        self.resource = "" if callable(resource) else resource
        self.feature = feature
        self.plan: Plan = FREE_PLAN
        self.started = 0.0
        #: The hook the operation is calling (or called last): named when one does not answer.
        self.stage = ""

    def __enter__(self) -> Operation:
        self.check()
        self.begin()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.end()
        self.finish(exc)

    # The steps of ``with``, for a caller that runs the blocking hooks on another thread than
    # the operation (the MCP server keeps them off its event loop): ``check()`` and
    # ``finish()`` call plugins and may block; ``begin()`` and ``end()`` set and reset
    # ``current_request()`` and must run in the operation's own context.

    def check(self) -> None:
        """Resolve the tenant, then entitlements, authorize and quota; raises ``Denied``."""
        host = self.guard.host
        try:
            self.stage = "tenant_from_request"
            self.request = self._resolve_tenant(host)
            if self.pending_resource is not None:
                self.resource = self._resolve_resource(self.pending_resource)
            self.stage = "active_plan"
            self.plan = self._plan(host)
            if self.feature is not None and not self.plan.allows(self.feature):
                raise Denied(
                    "entitlements",
                    f"'{self.action}' needs the '{self.feature}' feature, which the {self.plan.tier} plan"
                    f" ({self.plan.state}) does not include; activate a license that does",
                )
            self.stage = "authorize"
            self._decide(host, "authorize", action=self.action, resource=self.resource)
            self.stage = "check_quota"
            self._decide(host, "check_quota", action=self.action, plan=self.plan)
            if self.guard.audit_fail_closed:
                self.stage = "record_audit_event"
                self._audit("started")
        except Denied as denial:
            detail = "".join(f"; {k}={v}" for k, v in sorted(denial.detail.items()))
            self._audit("denied", denial.reason + detail, raising=False)
            if denial.stage in ("tenancy", "authorize"):
                self._security_event(denial)
            raise

    def _resolve_resource(self, resource: Callable[[], str]) -> str:
        token = _current_request.set(self.request)
        try:
            return resource()
        finally:
            _current_request.reset(token)

    def begin(self) -> None:
        self.token = _current_request.set(self.request)
        self.started = time.perf_counter()

    def end(self) -> None:
        _current_request.reset(self.token)

    def finish(self, exc: BaseException | None) -> None:
        """Record usage and the audit event of the operation that ended with ``exc`` (None: success)."""
        host = self.guard.host
        outcome: Outcome = "success" if exc is None else "error"
        duration_ms = (time.perf_counter() - self.started) * 1000
        request = self.request
        event = UsageEvent(
            id=f"{request.request_id}:{self.action}",
            tenant=request.tenant or "",
            user=request.user,
            action=self.action,
            resource=self.resource,
            outcome=outcome,
            duration_ms=duration_ms,
        )
        self.stage = "record_usage"
        host.call("record_usage", isolate=True, request=request, event=event)
        reason = "" if exc is None else type(exc).__name__
        self.stage = "record_audit_event"
        if exc is None:
            self._audit(outcome, reason, raising=self.guard.audit_fail_closed)
        else:
            self._audit(outcome, reason, raising=False)

    def _resolve_tenant(self, host: PluginHost) -> RequestContext:
        request = self.request
        if request.tenant is not None:
            return request
        try:
            identity = host.call("tenant_from_request", request=request)
        except HookFailed as failure:
            refusal = failure.error
            if isinstance(refusal, Refused):
                # who was refused, when the plugin knows: the audit names them, not "nobody"
                self.request = replace(request, tenant=refusal.tenant, user=refusal.user or request.user)
                detail = {"key_id": refusal.key_id} if refusal.key_id else {}
                raise Denied(
                    "tenancy", f"request refused: {refusal}", detail, tenant=refusal.tenant, user=refusal.user
                ) from None
            raise Denied("tenancy", f"request refused: {failure}") from None
        if identity is None:
            raise Denied("tenancy", "no tenant could be resolved for this request; configure a tenancy plugin")
        return replace(
            request,
            tenant=identity.tenant,
            user=identity.user or request.user,
            roles=identity.roles,
            multi_tenant=bool(tenancy_plugins(host)),
        )

    def _plan(self, host: PluginHost) -> Plan:
        try:
            plan = host.call("active_plan", request=self.request)
        except HookFailed:
            return FREE_PLAN  # counted and logged; paid features off, the free core keeps working
        return plan or FREE_PLAN

    def _decide(self, host: PluginHost, hook: str, **kwargs: Any) -> None:
        stage = "authorize" if hook == "authorize" else "quota"
        try:
            answers = host.call(hook, request=self.request, **kwargs)
        except HookFailed as failure:
            if isinstance(failure.error, Refused):
                raise Denied(stage, str(failure.error)) from None
            raise Denied(stage, f"denied because {failure}") from None
        for plugin, answer in answers:
            if isinstance(answer, str) or answer is False:
                raise Denied(stage, answer or f"denied by plugin '{plugin}'")
            # Only None (allow) or a reason string (deny) is an answer; anything else is a bug
            # in the plugin, and a decision hook fails closed.
            error = TypeError(f"{hook} returned {type(answer).__name__}, not None or a reason string")
            host.record_failure(hook, plugin, error)
            raise Denied(stage, f"denied because plugin '{plugin}' failed in {hook}: {error}; fix or disable it")

    def _audit(self, outcome: Any, reason: str = "", *, raising: bool = True) -> None:
        request = self.request
        event = AuditEvent(
            actor=request.user,
            tenant=request.tenant,
            action=self.action,
            resource=self.resource,
            outcome=outcome,
            request_id=request.request_id,
            transport=request.transport,
            reason=reason,
        )
        fail_closed = self.guard.audit_fail_closed and raising
        try:
            self.guard.host.call("record_audit_event", isolate=not fail_closed, event=event)
        except HookFailed as failure:
            raise Denied("audit", f"refused: audit is required and {failure}") from None

    def _security_event(self, denial: Denied) -> None:
        request = self.request
        event = SecurityEvent(
            kind=f"{denial.stage}.denied",
            severity="warning",
            message=denial.reason,
            tenant=request.tenant,
            actor=request.user,
            request_id=request.request_id,
            detail={"action": self.action, "resource": self.resource, **denial.detail},
        )
        self.guard.host.call("record_security_event", isolate=True, event=event)
