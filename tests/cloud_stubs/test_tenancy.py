"""Tenancy through the real guard: API keys, trusted gateway, stdio, policy file."""

from __future__ import annotations

import json
import logging
import re
import stat

import pytest
from cloud_harness import Cloud

from lanterna.guard import Denied
from lanterna.types import RequestContext


def denial(cloud: Cloud, request: RequestContext, action: str = "memory.search") -> Denied:
    with pytest.raises(Denied) as caught:
        cloud.run(request, action)
    return caught.value


def test_key_resolves_tenant_user_and_roles(cloud: Cloud) -> None:
    key = cloud.key("acme", "viewer", user="alice")
    with cloud.op(cloud.http(key)) as op:
        assert (op.request.tenant, op.request.user, op.request.roles) == ("acme", "alice", ("viewer",))


def test_keys_are_stored_hashed_and_private(cloud: Cloud) -> None:
    key = cloud.key("acme")
    path = cloud.plugin.settings.keys_file
    text = path.read_text()
    assert key not in text and key[4:] not in text
    assert "sha256:" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unknown_key_is_denied_and_never_echoed(cloud: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "lnt_" + "s3cr3t" * 7
    denied = denial(cloud, cloud.http(secret))
    assert denied.stage == "tenancy"
    assert str(denied) == (
        "request refused: unknown or revoked API key; create one with `lanterna tenant key-create TENANT`"
    )
    assert secret not in caplog.text
    assert all(secret not in line for line in cloud.audit_lines())
    events = [json.loads(line) for line in cloud.audit_lines()]
    assert [e["outcome"] for e in events if e["kind"] == "audit"] == ["denied"]
    assert [e["type"] for e in events if e["kind"] == "security"] == ["tenancy.denied"]
    # a refused key is a decision, not a plugin failure
    assert not (cloud.home / "state" / "hook-failures.jsonl").exists()


def test_revoked_key_is_denied(cloud: Cloud) -> None:
    key = cloud.key("acme")
    record = next(r for r in cloud.plugin.keys.records() if r.tenant == "acme")
    assert cloud.run(cloud.http(key)) == "acme"
    assert cloud.plugin.keys.revoke(record.id)
    assert "unknown or revoked API key" in str(denial(cloud, cloud.http(key)))


def test_key_with_another_tenants_header_is_denied(cloud: Cloud) -> None:
    key_a = cloud.key("tenant-a")
    cloud.key("tenant-b")
    assert cloud.run(cloud.http(key_a, x_tenant_id="tenant-a")) == "tenant-a"
    denied = denial(cloud, cloud.http(key_a, x_tenant_id="tenant-b"))
    assert denied.stage == "tenancy" and "belongs to another tenant" in str(denied)
    # the audit says whose key tried it (tenant, user, key id), never the key itself
    record = next(r for r in cloud.plugin.keys.records() if r.tenant == "tenant-a")
    events = [json.loads(line) for line in cloud.audit_lines()]
    audit = next(e for e in events if e["kind"] == "audit" and e["outcome"] == "denied")
    assert audit["tenant"] == "tenant-a" and audit["actor"] == "tenant-a-user"
    assert f"key_id={record.id}" in audit["reason"]
    security = next(e for e in events if e["kind"] == "security" and e["type"] == "tenancy.denied")
    assert security["tenant"] == "tenant-a" and security["detail"]["key_id"] == record.id
    assert key_a not in "\n".join(cloud.audit_lines())


def test_tenant_header_alone_needs_a_trusted_gateway(cloud: Cloud) -> None:
    cloud.key("acme")
    denied = denial(cloud, cloud.http(x_tenant_id="acme"))
    assert "trusted_gateway = true" in str(denied)
    cloud.configure(trusted_gateway=True)
    with cloud.op(cloud.http(x_tenant_id="acme", x_user_id="bob", x_roles="viewer")) as op:
        assert (op.request.tenant, op.request.user, op.request.roles) == ("acme", "bob", ("viewer",))
    assert "unknown tenant 'nobody'" in str(denial(cloud, cloud.http(x_tenant_id="nobody")))


def test_http_without_credentials_or_with_another_scheme_is_denied(cloud: Cloud) -> None:
    assert "no API key" in str(denial(cloud, cloud.http()))
    basic = RequestContext(transport="http", headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert "is not 'Bearer <API key>'" in str(denial(cloud, basic))


def test_stdio_tenant_from_env_and_config(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cloud.run(RequestContext(transport="stdio")) == "local"
    cloud.configure(tenant="workshop")
    assert cloud.run(RequestContext(transport="stdio")) == "workshop"
    monkeypatch.setenv("LANTERNA_TENANT", "from-env")
    assert cloud.run(RequestContext(transport="stdio")) == "from-env"
    key = cloud.key("keyed")
    monkeypatch.setenv("LANTERNA_API_KEY", key)
    assert cloud.run(RequestContext(transport="stdio")) == "keyed"
    monkeypatch.setenv("LANTERNA_API_KEY", "lnt_wrong")
    assert "unknown or revoked API key" in str(denial(cloud, RequestContext(transport="stdio")))


def test_default_policy_roles(cloud: Cloud) -> None:
    viewer, member = cloud.key("acme", "viewer"), cloud.key("acme", "member")
    assert cloud.run(cloud.http(viewer), "memory.search") == "acme"
    denied = denial(cloud, cloud.http(viewer), "memory.delete")
    assert denied.stage == "authorize" and "no role allows 'memory.delete'" in str(denied)
    assert cloud.run(cloud.http(member), "memory.delete") == "acme"
    assert "role 'member' may not perform 'tenant.create'" in str(denial(cloud, cloud.http(member), "tenant.create"))


def test_policy_file_maps_roles_to_actions_on_resources(cloud: Cloud) -> None:
    policy = cloud.home / "policy.toml"
    policy.write_text(
        '[roles.auditor]\nallow = [{ action = "audit.*", resource = "tenant:*" }, "memory.search"]\n'
        'deny = [{ action = "memory.search", resource = "repo:/secret/*" }]\n'
    )
    cloud.configure(policy_file=str(policy))
    key = cloud.key("acme", "auditor")
    with cloud.op(cloud.http(key), "audit.read", "tenant:acme"):
        pass
    with cloud.op(cloud.http(key), "memory.search", "repo:/public"):
        pass
    with pytest.raises(Denied, match=re.escape("may not perform 'memory.search' on 'repo:/secret/x'")):
        cloud.run(cloud.http(key), "memory.search", "repo:/secret/x")
    with pytest.raises(Denied, match=re.escape("no role allows 'audit.read' on 'repo:/x'")):
        cloud.run(cloud.http(key), "audit.read", "repo:/x")


def test_broken_policy_file_denies_with_a_clear_reason(cloud: Cloud) -> None:
    policy = cloud.home / "policy.toml"
    policy.write_text("[roles.x\nallow=")
    cloud.configure(policy_file=str(policy))
    denied = denial(cloud, cloud.http(cloud.key("acme")))
    assert denied.stage == "authorize"
    assert f"policy file {policy} is not valid TOML" in str(denied) and "\n" not in str(denied)


def test_corrupt_key_file_denies_with_a_clear_reason(cloud: Cloud) -> None:
    cloud.key("acme")
    cloud.plugin.settings.keys_file.write_text("{not json")
    denied = denial(cloud, cloud.http("lnt_whatever"))
    assert "API key file" in str(denied) and "unreadable" in str(denied)
