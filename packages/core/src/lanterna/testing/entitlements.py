"""Entitlement conformance: valid and grace keep paid features on, expired turns them off and
leaves the free core working; a tampered license or a clock set back grants nothing."""

from __future__ import annotations

from typing import Protocol

from lanterna.guard import Guard
from lanterna.plugins import PluginHost
from lanterna.testing.base import Suite, expect_denied, run_op, skip
from lanterna.types import Plan, RequestContext

FEATURE = "conformance.paid"


class EntitlementsHarness(Protocol):
    """``setup(state)`` returns a host and a request of a tenant whose license, granting the
    ``conformance.paid`` feature, is in ``state``: ``valid``, ``grace`` (past expiry, within
    its grace days), ``expired`` (past its grace days), ``tampered`` (altered after signing)
    or ``none`` (no license). The request may run ``conformance.*`` actions.

    Optional: ``setup_clock_rollback()`` — a license that expired before the last time the
    implementation trusted, seen with a clock set back to before its expiry.
    """

    def setup(self, state: str) -> tuple[PluginHost, RequestContext]: ...


def plan_of(host: PluginHost, request: RequestContext) -> Plan:
    with Guard(host).operation(request, "conformance.read", "conformance:plan") as op:
        return op.plan


class EntitlementsSuite(Suite):
    def _paid_on(self, harness: EntitlementsHarness, state: str) -> None:
        host, request = harness.setup(state)
        plan = plan_of(host, request)
        assert plan.state == state, f"the {state} license reports state {plan.state!r}"
        assert plan.allows(FEATURE), f"the {state} license does not grant its feature"
        run_op(host, request, "conformance.paid_tool", feature=FEATURE)

    def _paid_off(self, harness: EntitlementsHarness, state: str) -> None:
        host, request = harness.setup(state)
        assert not plan_of(host, request).allows(FEATURE), f"the {state} license still grants its feature"
        with expect_denied("entitlements", f"a paid tool under the {state} license"):
            run_op(host, request, "conformance.paid_tool", feature=FEATURE)
        assert run_op(host, request, "conformance.read").tenant, f"the free core stopped working ({state})"

    def test_valid_license_grants_features(self, harness: EntitlementsHarness) -> None:
        self._paid_on(harness, "valid")

    def test_grace_keeps_features_on(self, harness: EntitlementsHarness) -> None:
        self._paid_on(harness, "grace")

    def test_expired_license_turns_features_off(self, harness: EntitlementsHarness) -> None:
        self._paid_off(harness, "expired")
        host, request = harness.setup("expired")
        assert plan_of(host, request).state == "expired", "an expired license does not report state 'expired'"

    def test_no_license_means_free_core_only(self, harness: EntitlementsHarness) -> None:
        self._paid_off(harness, "none")

    def test_tampered_license_grants_nothing(self, harness: EntitlementsHarness) -> None:
        self._paid_off(harness, "tampered")

    def test_clock_set_back_revives_nothing(self, harness: EntitlementsHarness) -> None:
        setup = getattr(harness, "setup_clock_rollback", None)
        if setup is None:
            skip("the harness does not provide setup_clock_rollback()")
        host, request = setup()
        assert not plan_of(host, request).allows(FEATURE), "setting the clock back revived an expired license"
