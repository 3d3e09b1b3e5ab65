"""cloud-stubs passes every conformance suite of the core, through its installed entry point."""

from __future__ import annotations

import cloud_harness as h
import pytest

from lanterna.testing import AuditSuite, EntitlementsSuite, MeteringSuite, TenancySuite


class TestTenancyConformance(TenancySuite):
    @pytest.fixture
    def harness(self, cloud: h.Cloud) -> h.TenancyHarness:
        return h.TenancyHarness(cloud)


class TestMeteringConformance(MeteringSuite):
    @pytest.fixture
    def harness(self, cloud: h.Cloud) -> h.MeteringHarness:
        return h.MeteringHarness(cloud)


class TestAuditConformance(AuditSuite):
    @pytest.fixture
    def harness(self, cloud: h.Cloud) -> h.AuditHarness:
        return h.AuditHarness(cloud)


class TestEntitlementsConformance(EntitlementsSuite):
    @pytest.fixture
    def harness(self, cloud: h.Cloud) -> h.EntitlementsHarness:
        return h.EntitlementsHarness(cloud)
