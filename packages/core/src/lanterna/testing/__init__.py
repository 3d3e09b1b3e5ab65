"""Conformance suites for plugin authors: one per paid hook family.

Subclass a suite in a ``Test…`` class and give it a ``harness`` fixture that builds your
implementation; pytest then runs every check::

    import pytest
    from lanterna.testing import TenancySuite

    class TestMyTenancy(TenancySuite):
        @pytest.fixture
        def harness(self):
            return MyTenancyHarness()  # see TenancyHarness for what it provides

``run_suite(TenancySuite, MyTenancyHarness)`` runs the same checks without pytest and
returns the failures, which is how the suites' own tests show that a wrong
implementation fails them. Each check gets a fresh harness.
"""

from lanterna.testing.audit import AuditHarness, AuditSuite
from lanterna.testing.base import CheckResult, run_suite
from lanterna.testing.entitlements import EntitlementsHarness, EntitlementsSuite
from lanterna.testing.harness import CliRunner, HostHarness, McpSession, RequestTenancy, make_test_host, request_for
from lanterna.testing.metering import MeteringHarness, MeteringSuite
from lanterna.testing.sources import CodeSourceHarness, CodeSourceSuite
from lanterna.testing.tenancy import TenancyHarness, TenancySuite
from lanterna.testing.tools import McpToolsHarness, McpToolsSuite

__all__ = [
    "AuditHarness",
    "AuditSuite",
    "CheckResult",
    "CliRunner",
    "CodeSourceHarness",
    "CodeSourceSuite",
    "EntitlementsHarness",
    "EntitlementsSuite",
    "HostHarness",
    "McpSession",
    "McpToolsHarness",
    "McpToolsSuite",
    "MeteringHarness",
    "MeteringSuite",
    "RequestTenancy",
    "TenancyHarness",
    "TenancySuite",
    "make_test_host",
    "request_for",
    "run_suite",
]
