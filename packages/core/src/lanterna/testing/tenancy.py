"""Tenancy conformance: each tenant resolved as itself, no way into another tenant, roles enforced."""

from __future__ import annotations

from typing import Protocol

from lanterna.plugins import PluginHost
from lanterna.testing.base import Suite, expect_denied, run_concurrently, run_op
from lanterna.types import RequestContext

TENANT_A, TENANT_B = "conformance-a", "conformance-b"


class TenancyHarness(Protocol):
    """What a tenancy implementation provides to the suite.

    ``host()`` is a plugin host with the implementation registered; tenants
    ``conformance-a`` and ``conformance-b`` exist. ``request_for(tenant)`` authenticates as
    a member of that tenant, allowed ``allowed_action``; ``restricted_request(tenant)`` as a
    user whose role may run ``allowed_action`` but not ``forbidden_action``.
    ``bad_credential_request()`` carries the unknown credential ``bad_credential``;
    ``cross_tenant_request(tenant, claimed)`` carries valid credentials of ``tenant`` while
    claiming ``claimed`` (for HTTP: another tenant's ``x-tenant-id``).
    """

    allowed_action: str
    forbidden_action: str
    bad_credential: str

    def host(self) -> PluginHost: ...
    def request_for(self, tenant: str) -> RequestContext: ...
    def restricted_request(self, tenant: str) -> RequestContext: ...
    def bad_credential_request(self) -> RequestContext: ...
    def cross_tenant_request(self, tenant: str, claimed: str) -> RequestContext: ...


class _Store:
    """A tenant-scoped store, as tools use it: every access keyed by the guard's tenant."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {}

    def put(self, request: RequestContext, key: str, value: str) -> None:
        self.rows[(request.tenant or "", key)] = value

    def list(self, request: RequestContext) -> list[str]:
        return [v for (t, _), v in self.rows.items() if t == request.tenant]

    def delete(self, request: RequestContext, key: str) -> bool:
        return self.rows.pop((request.tenant or "", key), None) is not None


class TenancySuite(Suite):
    def test_each_tenant_resolves_as_itself(self, harness: TenancyHarness) -> None:
        host = harness.host()
        for tenant in (TENANT_A, TENANT_B):
            resolved = run_op(host, harness.request_for(tenant), harness.allowed_action)
            hint = " (the core's default: no tenancy plugin answered; is yours in the harness's host?)"
            assert resolved.tenant == tenant, f"a request of {tenant} ran as tenant {resolved.tenant!r}" + (
                hint if resolved.tenant == "local" else ""
            )

    def test_tenant_data_stays_apart(self, harness: TenancyHarness) -> None:
        host, store = harness.host(), _Store()
        a, b, action = harness.request_for(TENANT_A), harness.request_for(TENANT_B), harness.allowed_action
        run_op(host, a, action, fn=lambda r: store.put(r, "k", "a-private"))
        assert run_op(host, b, action, fn=store.list) == [], "tenant B listed tenant A's data"
        assert run_op(host, b, action, fn=lambda r: store.delete(r, "k")) is False, "tenant B deleted A's data"
        assert run_op(host, a, action, fn=store.list) == ["a-private"], "tenant A lost its data"

    def test_unknown_credential_is_denied_without_echoing_it(self, harness: TenancyHarness) -> None:
        with expect_denied("tenancy", "an unknown credential") as caught:
            run_op(harness.host(), harness.bad_credential_request(), harness.allowed_action)
        assert harness.bad_credential not in str(caught[0]), "the denial repeats the credential"

    def test_credentials_cannot_claim_another_tenant(self, harness: TenancyHarness) -> None:
        with expect_denied("tenancy", "tenant A's credentials claiming tenant B"):
            run_op(harness.host(), harness.cross_tenant_request(TENANT_A, TENANT_B), harness.allowed_action)

    def test_roles_limit_actions(self, harness: TenancyHarness) -> None:
        host = harness.host()
        request = harness.restricted_request(TENANT_A)
        assert run_op(host, request, harness.allowed_action).tenant == TENANT_A
        with expect_denied("authorize", f"a restricted role running {harness.forbidden_action}"):
            run_op(host, harness.restricted_request(TENANT_A), harness.forbidden_action)

    def test_concurrent_requests_keep_their_tenant(self, harness: TenancyHarness) -> None:
        host = harness.host()
        requests = [harness.request_for(TENANT_A if i % 2 else TENANT_B) for i in range(40)]
        expected = [TENANT_A if i % 2 else TENANT_B for i in range(40)]
        seen: list[str | None] = [None] * 40

        def job(i: int) -> None:
            seen[i] = run_op(host, requests[i], harness.allowed_action).tenant

        errors = run_concurrently(40, 8, job)
        assert not errors, f"{len(errors)} of 40 concurrent requests failed: {errors[0]}"
        wrong = [i for i in range(40) if seen[i] != expected[i]]
        assert not wrong, f"{len(wrong)} of 40 concurrent requests ran as the wrong tenant"
