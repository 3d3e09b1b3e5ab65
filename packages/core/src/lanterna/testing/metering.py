"""Metering conformance: quotas deny before the operation, retries count once, nothing is lost."""

from __future__ import annotations

import contextlib
import time
from typing import Protocol

from lanterna.plugins import PluginHost
from lanterna.testing.base import Suite, expect_denied, run_concurrently, run_op
from lanterna.types import RequestContext, UsageEvent, UsageSummary

TENANT_A, TENANT_B = "conformance-a", "conformance-b"
ACTION = "conformance.read"


class MeteringHarness(Protocol):
    """``host(daily_quota)``: a host whose tenants ``conformance-a``/``-b`` may run
    ``daily_quota`` operations a day; ``request_for(tenant)`` authenticates as that tenant
    (allowed to run ``conformance.*`` actions)."""

    def host(self, daily_quota: int) -> PluginHost: ...
    def request_for(self, tenant: str) -> RequestContext: ...


def summary(host: PluginHost, tenant: str) -> UsageSummary:
    now = time.time()
    result = host.call("usage_summary", tenant=tenant, since=now - 3600, until=now + 3600)
    assert result is not None, "usage_summary gave no answer"
    return result


class MeteringSuite(Suite):
    def test_quota_denies_once_reached(self, harness: MeteringHarness) -> None:
        host = harness.host(3)
        for _ in range(3):
            run_op(host, harness.request_for(TENANT_A), ACTION, tenant=TENANT_A)
        ran: list[bool] = []
        with expect_denied("quota", "the 4th operation on a quota of 3"):
            run_op(host, harness.request_for(TENANT_A), ACTION, fn=lambda r: ran.append(True), tenant=TENANT_A)
        assert not ran, "the operation ran although its quota was refused"
        assert summary(host, TENANT_A).total == 3, "a denied operation was counted"

    def test_quota_is_per_tenant(self, harness: MeteringHarness) -> None:
        host = harness.host(2)
        for _ in range(2):
            run_op(host, harness.request_for(TENANT_A), ACTION, tenant=TENANT_A)
        with expect_denied("quota", "tenant A over its quota"):
            run_op(host, harness.request_for(TENANT_A), ACTION, tenant=TENANT_A)
        run_op(host, harness.request_for(TENANT_B), ACTION, tenant=TENANT_B)

    def test_retried_event_counts_once(self, harness: MeteringHarness) -> None:
        host = harness.host(1000)
        request = harness.request_for(TENANT_A)
        resolved = run_op(host, request, ACTION, tenant=TENANT_A)
        before = summary(host, TENANT_A).total
        event = UsageEvent(id="conformance-retry-1", tenant=TENANT_A, user=resolved.user, action=ACTION, resource="r")
        for _ in range(3):
            host.call("record_usage", isolate=True, request=resolved, event=event)
        assert summary(host, TENANT_A).total == before + 1, "one event recorded three times counted more than once"

    def test_failed_operations_are_counted(self, harness: MeteringHarness) -> None:
        host = harness.host(1000)

        def boom(request: RequestContext) -> None:
            raise ValueError("tool failed")

        with contextlib.suppress(ValueError):
            run_op(host, harness.request_for(TENANT_A), ACTION, fn=boom, tenant=TENANT_A)
        assert summary(host, TENANT_A).by_action.get(ACTION) == 1, "an operation that failed was not counted"

    def test_concurrent_operations_are_each_counted(self, harness: MeteringHarness) -> None:
        host = harness.host(1000)
        requests = [harness.request_for(TENANT_A) for _ in range(50)]
        errors = run_concurrently(50, 10, lambda i: run_op(host, requests[i], ACTION, tenant=TENANT_A))
        assert not errors, f"{len(errors)} concurrent operations failed: {errors[0]}"
        total = summary(host, TENANT_A).total
        assert total == 50, f"50 concurrent operations were counted as {total}"

    def test_summary_respects_its_window(self, harness: MeteringHarness) -> None:
        host = harness.host(1000)
        run_op(host, harness.request_for(TENANT_A), ACTION, tenant=TENANT_A)
        now = time.time()
        later = host.call("usage_summary", tenant=TENANT_A, since=now + 3600, until=now + 7200)
        assert later is None or later.total == 0, "usage from now was counted in a window an hour ahead"
        assert summary(host, TENANT_B).total == 0, "tenant B's summary counts tenant A's usage"
