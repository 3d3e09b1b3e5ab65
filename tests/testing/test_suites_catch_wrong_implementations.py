"""Each conformance suite fails a deliberately wrong implementation of its family.

The wrong implementations are small in-process plugins registered on a core-only host;
cloud-stubs passing the same suites is shown in tests/cloud_stubs/test_conformance.py.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from typing import Any

import pytest

from lanterna import hookimpl
from lanterna.plugins import PluginHost
from lanterna.testing import AuditSuite, EntitlementsSuite, MeteringSuite, TenancySuite, run_suite
from lanterna.types import AuditEvent, Identity, Plan, RequestContext, UsageEvent, UsageSummary


class TrustingTenancy:
    """Wrong: believes x-tenant-id, ignores credentials, authorizes everything."""

    @hookimpl
    def tenant_from_request(self, request: RequestContext) -> Identity:
        return Identity(tenant=request.headers.get("x-tenant-id", "anonymous"), user="someone", roles=("member",))


class RacyTenancy:
    """Wrong: keeps the tenant being resolved in shared state, so concurrent requests mix up."""

    current = ""

    @hookimpl
    def tenant_from_request(self, request: RequestContext) -> Identity:
        if request.headers.get("authorization") != "Bearer good":
            raise PermissionError("bad key")
        self.current = request.headers["x-tenant"]
        time.sleep(0.001)
        return Identity(tenant=self.current, user="u", roles=(request.headers.get("x-role", "member"),))

    @hookimpl
    def authorize(self, request: RequestContext, action: str) -> str | None:
        return "viewers may not write" if "viewer" in request.roles and action.endswith("write") else None


def _host(*plugins: object) -> PluginHost:
    host = PluginHost()
    for n, plugin in enumerate(plugins):
        host.register(plugin, f"wrong-{n}")
    return host


def _by_tenant(tenant: str) -> RequestContext:
    return RequestContext(transport="http", headers={"x-tenant-id": tenant})


class TrustingHarness:
    allowed_action, forbidden_action, bad_credential = "conformance.read", "conformance.write", "lnt_BADBADBAD"

    def __init__(self, plugin: object | None = None) -> None:
        self.plugin = plugin or TrustingTenancy()

    def host(self) -> PluginHost:
        return _host(self.plugin)

    def request_for(self, tenant: str) -> RequestContext:
        return _by_tenant(tenant)

    restricted_request = request_for

    def bad_credential_request(self) -> RequestContext:
        return RequestContext(transport="http", headers={"authorization": f"Bearer {self.bad_credential}"})

    def cross_tenant_request(self, tenant: str, claimed: str) -> RequestContext:
        return _by_tenant(claimed)


class RacyHarness(TrustingHarness):
    def __init__(self) -> None:
        super().__init__(RacyTenancy())

    def request_for(self, tenant: str) -> RequestContext:
        return RequestContext(transport="http", headers={"authorization": "Bearer good", "x-tenant": tenant})

    def restricted_request(self, tenant: str) -> RequestContext:
        headers = {"authorization": "Bearer good", "x-tenant": tenant, "x-role": "viewer"}
        return RequestContext(transport="http", headers=headers)

    def bad_credential_request(self) -> RequestContext:
        return RequestContext(transport="http", headers={"authorization": f"Bearer {self.bad_credential}"})

    def cross_tenant_request(self, tenant: str, claimed: str) -> RequestContext:
        return RequestContext(transport="http", headers={"authorization": "Bearer other", "x-tenant": claimed})


class CountEverything:
    """Wrong: no quota, no idempotency, summaries that ignore tenant and window."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []
        self.lock = threading.Lock()

    @hookimpl
    def record_usage(self, event: UsageEvent) -> None:
        with self.lock:
            self.events.append(event)

    @hookimpl
    def usage_summary(self, tenant: str, since: float, until: float) -> UsageSummary:
        by_action: dict[str, int] = {}
        for e in self.events:
            by_action[e.action] = by_action.get(e.action, 0) + 1
        return UsageSummary(tenant, since, until, len(self.events), by_action)


class MeteringHarness:
    def host(self, daily_quota: int) -> PluginHost:
        return _host(TrustingTenancy(), CountEverything())

    def request_for(self, tenant: str) -> RequestContext:
        return _by_tenant(tenant)


class SuccessOnlyAudit:
    """Wrong: audits only operations that ran (denials vanish), keeps values as they came."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @hookimpl
    def record_audit_event(self, event: AuditEvent) -> None:
        if event.outcome != "denied":
            self.lines.append(json.dumps(asdict(event)))


class RawTextAudit(SuccessOnlyAudit):
    """Wrong: audits everything, but as raw text lines (reasons unscrubbed) and with no chain."""

    @hookimpl
    def record_audit_event(self, event: AuditEvent) -> None:
        self.lines.append(f"{event.request_id} {event.tenant} {event.actor} {event.outcome} {event.reason}")


class AuditHarness:
    def __init__(self, audit: SuccessOnlyAudit) -> None:
        self.audit = audit

    def host(self) -> PluginHost:
        return _host(TrustingTenancy(), self.audit)

    def request_for(self, tenant: str) -> RequestContext:
        return _by_tenant(tenant)

    def raw(self) -> str:
        return "\n".join(self.audit.lines)

    def events(self) -> list[dict[str, Any]]:
        if not isinstance(self.audit, RawTextAudit):
            return [json.loads(line) for line in self.audit.lines]
        events = []
        for line in self.raw().splitlines():
            request_id, tenant, actor, outcome, *reason = line.split(" ")
            events.append(
                {
                    "request_id": request_id,
                    "tenant": tenant,
                    "actor": actor,
                    "outcome": outcome,
                    "reason": " ".join(reason),
                    "action": "?",
                    "resource": "?",
                }
            )
        return events

    def tamper(self, kind: str) -> None:
        self.audit.lines[1] = self.audit.lines[1].replace("success", "denied")

    def verify(self) -> list[str]:
        return []


class IgnoresExpiry:
    """Wrong: any license file present means a valid plan, whatever its dates or signature."""

    def __init__(self, state: str) -> None:
        self.state = state

    @hookimpl
    def active_plan(self) -> Plan | None:
        if self.state == "none":
            return None
        return Plan(tier="pro", features=frozenset({"conformance.paid"}), state="valid", source="wrong")


class EntitlementsHarness:
    def setup(self, state: str) -> tuple[PluginHost, RequestContext]:
        return _host(TrustingTenancy(), IgnoresExpiry(state)), _by_tenant("conformance-a")


def failed(results: list[Any]) -> set[str]:
    return {r.name for r in results if r.outcome == "failed"}


def test_trusting_tenancy_fails_the_tenancy_suite() -> None:
    results = run_suite(TenancySuite, TrustingHarness)
    assert failed(results) == {
        "test_unknown_credential_is_denied_without_echoing_it",
        "test_credentials_cannot_claim_another_tenant",
        "test_roles_limit_actions",
    }


def test_racy_tenancy_fails_the_concurrency_check() -> None:
    results = run_suite(TenancySuite, RacyHarness)
    assert "test_concurrent_requests_keep_their_tenant" in failed(results)
    assert "test_each_tenant_resolves_as_itself" not in failed(results)


def test_counting_everything_fails_the_metering_suite() -> None:
    results = run_suite(MeteringSuite, MeteringHarness)
    assert failed(results) >= {
        "test_quota_denies_once_reached",
        "test_quota_is_per_tenant",
        "test_retried_event_counts_once",
        "test_summary_respects_its_window",
    }
    assert "test_concurrent_operations_are_each_counted" not in failed(results)


@pytest.mark.parametrize(
    ("audit", "expected"),
    [
        (SuccessOnlyAudit, {"test_every_operation_leaves_one_event", "test_secrets_and_line_breaks_are_scrubbed"}),
        (
            RawTextAudit,
            {
                "test_secrets_and_line_breaks_are_scrubbed",
                "test_edited_event_is_detected",
                "test_deleted_event_is_detected",
                "test_reordered_events_are_detected",
                "test_truncated_log_is_detected",
            },
        ),
    ],
)
def test_wrong_audits_fail_the_audit_suite(audit: type[SuccessOnlyAudit], expected: set[str]) -> None:
    results = run_suite(AuditSuite, lambda: AuditHarness(audit()))
    assert failed(results) >= expected


def test_ignoring_expiry_fails_the_entitlements_suite() -> None:
    results = run_suite(EntitlementsSuite, EntitlementsHarness)
    assert failed(results) == {
        "test_grace_keeps_features_on",
        "test_expired_license_turns_features_off",
        "test_tampered_license_grants_nothing",
    }
    assert {r.name for r in results if r.outcome == "skipped"} == {"test_clock_set_back_revives_nothing"}
