"""Entitlements: Ed25519 license files, states, online validation against a local HTTP validator,
clock rollback, and the `lanterna license` commands."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cloud_harness import Cloud, lanterna

from lanterna.guard import Denied
from lanterna.types import RequestContext
from lanterna_cloud_stubs.licensefile import LicenseError
from lanterna_cloud_stubs.validator import LocalValidator

DAY = 86400
FEATURE = "memory.long_term"


def license_file(cloud: Cloud, tenant: str = "acme", name: str = "acme.license", **claims: object) -> Path:
    claims.setdefault("features", [FEATURE])
    return cloud.dev_key.license(cloud.home / name, tenant, **claims)


def evaluate(cloud: Cloud, tenant: str = "acme"):
    return cloud.plugin.entitlements.evaluate(tenant)


def test_activate_and_status_commands(cloud: Cloud) -> None:
    path = license_file(cloud, tier="team", limits={"operations_per_day": 500})
    result = lanterna(cloud.home, "license", "activate", str(path))
    assert result.returncode == 0, result.stderr
    assert "for tenant acme: team, state valid" in result.stdout
    status = lanterna(cloud.home, "license", "status", "--tenant", "acme", "--json")
    data = json.loads(status.stdout)
    assert (data["state"], data["tier"], data["features"]) == ("valid", "team", [FEATURE])
    assert data["limits"] == {"operations_per_day": 500}
    text = lanterna(cloud.home, "license", "status", "--tenant", "acme").stdout
    assert "state: valid" in text and "online check: no validator configured" in text
    assert "limits: operations per day: 500" in text and "{" not in text
    free = lanterna(cloud.home, "license", "status", "--tenant", "nobody").stdout
    assert "no license, free plan (limits: operations per day: 10)" in free


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garbage", "the license file is not valid JSON (corrupt or not a license); ask for a new one"),
        ("signature", "the license signature is invalid (the file was altered or is forged); ask for a new one"),
        ("key_id", "the license is signed with unknown key id 'rotated-away'"),
        ("format", "not a Lanterna license file"),
        ("expired", "expired on"),
        ("missing", "cannot read"),
    ],
)
def test_bad_license_files_are_refused_with_one_line(cloud: Cloud, damage: str, message: str) -> None:
    path = license_file(cloud)
    doc = json.loads(path.read_text())
    if damage == "garbage":
        path.write_bytes(b"\x00\x01 not a license")
    elif damage == "signature":
        doc["claims"]["tier"] = "enterprise"
        path.write_text(json.dumps(doc))
    elif damage == "key_id":
        doc["key_id"] = "rotated-away"
        path.write_text(json.dumps(doc))
    elif damage == "format":
        path.write_text(json.dumps({"hello": "world"}))
    elif damage == "expired":
        path = license_file(cloud, issued_at=time.time() - 90 * DAY, expires_at=time.time() - 60 * DAY, grace_days=7)
    elif damage == "missing":
        path = cloud.home / "nope.license"
    result = lanterna(cloud.home, "license", "activate", str(path))
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("lanterna: ")
    assert not list(cloud.plugin.settings.license_dir.glob("*.license"))


def test_grace_keeps_paid_features_with_a_warning(cloud: Cloud) -> None:
    now = time.time()
    cloud.plugin.entitlements.activate(license_file(cloud, issued_at=now - 40 * DAY, expires_at=now - 2 * DAY))
    ev = evaluate(cloud)
    assert ev.state == "grace" and ev.plan.allows(FEATURE)
    assert any("paid features stay on until" in w for w in ev.warnings)
    out = lanterna(cloud.home, "license", "status", "--tenant", "acme").stdout
    assert "state: grace" in out and "warning: license" in out


def test_expiry_turns_paid_features_off_but_keeps_the_core_and_its_data(cloud: Cloud) -> None:
    key = cloud.key("acme")
    cloud.run(cloud.http(key))  # some usage and audit data before
    now = time.time()
    path = license_file(cloud, issued_at=now - 60 * DAY, expires_at=now - 30 * DAY, grace_days=7)
    target = cloud.plugin.entitlements.license_path("acme")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(path.read_bytes())  # activated long ago, expired since
    with pytest.raises(Denied) as denied, cloud.op(cloud.http(key), "memory.remember", feature=FEATURE):
        pass
    assert denied.value.stage == "entitlements"
    assert "needs the 'memory.long_term' feature, which the pro plan (expired) does not include" in str(denied.value)
    assert cloud.run(cloud.http(key)) == "acme"  # the free core works
    ev = evaluate(cloud)
    assert ev.state == "expired" and ev.plan.limits == {"operations_per_day": 10}
    assert any("expired on" in r for r in ev.reasons)
    assert cloud.plugin.audit.verify().ok and len(cloud.audit_lines()) == 3


def test_license_for_another_tenant_is_not_used(cloud: Cloud) -> None:
    path = license_file(cloud, tenant="acme")
    target = cloud.plugin.entitlements.license_path("globex")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(path.read_bytes())
    ev = evaluate(cloud, "globex")
    assert ev.state == "expired" and not ev.plan.allows(FEATURE)
    assert "another tenant" in ev.reasons[0]


def test_key_rotation_by_key_id(cloud: Cloud, tmp_path: Path) -> None:
    from lanterna_cloud_stubs import devsign

    new_key, public = devsign.generate_keypair(tmp_path, "dev-test-2")
    doc = devsign.sign(new_key, "dev-test-2", devsign.make_claims("acme", features=[FEATURE]))
    path = tmp_path / "rotated.license"
    path.write_text(json.dumps(doc))
    with pytest.raises(LicenseError, match="unknown key id 'dev-test-2'"):
        cloud.plugin.entitlements.activate(path)
    cloud.license["trusted_keys"] = {cloud.dev_key.key_id: cloud.dev_key.public, "dev-test-2": public}
    cloud.reload()
    assert cloud.plugin.entitlements.activate(path).state == "valid"


# -- online validation -----------------------------------------------------------------


def online_cloud(cloud: Cloud, validator: LocalValidator) -> str:
    cloud.license["validator_url"] = validator.url
    cloud.reload()
    path = license_file(cloud)
    license_id = json.loads(path.read_text())["claims"]["license_id"]
    validator.licenses[license_id] = "active"
    cloud.plugin.entitlements.activate(path)
    return license_id


def age_validation(cloud: Cloud, license_id: str, seconds: float) -> None:
    state_path = cloud.plugin.settings.license_state
    state = json.loads(state_path.read_text())
    record = state["validations"][license_id]
    record["ok_at"] -= seconds
    record["attempted_at"] -= seconds
    state["last_trusted_time"] -= seconds
    state_path.write_text(json.dumps(state))


def test_online_validation_is_cached_for_24_hours(cloud: Cloud) -> None:
    with LocalValidator() as validator:
        license_id = online_cloud(cloud, validator)
        assert validator.requests == [license_id]  # checked at activation
        for _ in range(5):
            assert evaluate(cloud).state == "valid"
        assert len(validator.requests) == 1
        age_validation(cloud, license_id, 25 * 3600)
        ev = evaluate(cloud)
        assert ev.state == "valid" and ev.online.startswith("validated 0 min ago")
        assert len(validator.requests) == 2


def test_offline_grace_of_seven_days_then_paid_features_off(cloud: Cloud) -> None:
    with LocalValidator() as validator:
        license_id = online_cloud(cloud, validator)
    # the validator is gone: within 7 days of the last check the license keeps working
    age_validation(cloud, license_id, 3 * DAY)
    ev = evaluate(cloud)
    assert ev.state == "valid" and ev.plan.allows(FEATURE)
    assert any("license service unreachable" in w and "offline grace" in w for w in ev.warnings)
    age_validation(cloud, license_id, 5 * DAY)  # 8 days since the last successful check
    ev = evaluate(cloud)
    assert ev.state == "expired" and not ev.plan.allows(FEATURE)
    assert "could not be validated online for more than 7 days" in ev.reasons[0]
    # the validator is back: the next retry restores the license
    with LocalValidator({license_id: "active"}, port=int(cloud.license["validator_url"].rsplit(":", 1)[1])):
        state_path = cloud.plugin.settings.license_state
        state = json.loads(state_path.read_text())
        state["validations"][license_id]["attempted_at"] -= 600
        state_path.write_text(json.dumps(state))
        assert evaluate(cloud).state == "valid"


def test_revoked_license_turns_paid_features_off(cloud: Cloud) -> None:
    with LocalValidator() as validator:
        license_id = online_cloud(cloud, validator)
        validator.licenses[license_id] = "revoked"
        age_validation(cloud, license_id, 25 * 3600)
        ev = evaluate(cloud)
        assert ev.state == "expired" and "revoked at the license service" in ev.reasons[0]
        path = license_file(cloud, name="again.license")
        validator.licenses[json.loads(path.read_text())["claims"]["license_id"]] = "revoked"
        with pytest.raises(LicenseError, match="is revoked at the license service"):
            cloud.plugin.entitlements.activate(path)


# -- clock rollback ----------------------------------------------------------------------


def test_clock_set_back_is_detected_and_cannot_revive_a_license(cloud: Cloud) -> None:
    now = time.time()
    cloud.plugin.entitlements.activate(license_file(cloud, expires_at=now + DAY, grace_days=0))
    assert evaluate(cloud).state == "valid"
    # the clock was once 3 days ahead (a trusted time), and is now set back to the real time
    state_path = cloud.plugin.settings.license_state
    state = json.loads(state_path.read_text())
    state["last_trusted_time"] = now + 3 * DAY
    state_path.write_text(json.dumps(state))
    ev = evaluate(cloud)
    assert ev.state == "expired", "judged at the last trusted time, the license is past its expiry"
    assert any("system clock" in w and "behind the last trusted time" in w for w in ev.warnings)
    security = [json.loads(line) for line in cloud.audit_lines()]
    assert [e["type"] for e in security if e.get("kind") == "security"] == ["clock.rollback"]
    evaluate(cloud)  # reported once, not on every call
    assert len(cloud.audit_lines()) == 1
    out = lanterna(cloud.home, "license", "status", "--tenant", "acme").stdout
    assert "behind the last trusted time" in out


def test_status_command_reports_cloud_mode_and_the_plan(cloud: Cloud) -> None:
    cloud.plugin.entitlements.activate(license_file(cloud, tenant="local"))
    data = json.loads(lanterna(cloud.home, "status", "--json").stdout)
    assert data["mode"] == "cloud"
    assert set(data["active_families"]) >= {"tenancy", "metering", "audit", "entitlements"}
    assert data["entitlements"]["state"] == "valid" and data["entitlements"]["features"] == [FEATURE]
    core_only = json.loads(lanterna(cloud.home, "status", "--json", env={"LANTERNA_LOAD_PLUGINS": ""}).stdout)
    assert core_only["mode"] == "oss"


def test_status_shows_the_free_plan_quota_left_today(cloud: Cloud) -> None:
    cloud.other["cloud.plans.free"] = {"operations_per_day": 5}
    cloud.reload()
    for _ in range(2):
        cloud.run(RequestContext(transport="cli"))
    cloud.plugin.shutdown()
    text = lanterna(cloud.home, "status").stdout
    assert "plan: free" in text and "limits: operations per day: 5" in text
    assert "today (tenant local): 2 of 5 operations used, 3 left" in text
    data = json.loads(lanterna(cloud.home, "status", "--json").stdout)
    assert data["quota_today"] == {"tenant": "local", "limit": 5, "used": 2, "remaining": 3}


def test_active_plan_for_a_cli_request_uses_the_local_tenant(cloud: Cloud) -> None:
    cloud.plugin.entitlements.activate(license_file(cloud, tenant="local"))
    plan = cloud.host.call("active_plan", request=RequestContext(transport="cli"))
    assert plan.state == "valid" and plan.allows(FEATURE)


def test_deleting_the_license_state_does_not_reset_the_trusted_time(cloud: Cloud) -> None:
    now = time.time()
    cloud.plugin.entitlements.activate(license_file(cloud, expires_at=now + DAY, grace_days=0))
    assert evaluate(cloud).state == "valid"
    # while the clock was 3 days ahead an operation was audited; then the clock goes back to now
    cloud.plugin.audit.append({"kind": "audit", "action": "memory.search", "time": now + 3 * DAY})
    cloud.plugin.settings.license_state.unlink()
    cloud.reload()  # a new process: nothing remembered
    ev = evaluate(cloud)
    assert ev.state == "expired", "the audit log's newest event is a floor for the trusted time"
    kinds = [e["type"] for e in map(json.loads, cloud.audit_lines()) if e.get("kind") == "security"]
    assert kinds == ["license.state_reset", "clock.rollback"]
    assert cloud.plugin.audit.verify().ok
