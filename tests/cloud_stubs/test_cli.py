"""`lanterna usage` and `lanterna tenant …`, added through the plugin's register_commands hook."""

from __future__ import annotations

import json
import os

import pytest
from cloud_harness import Cloud, lanterna


def test_commands_come_from_the_plugin_only(cloud: Cloud) -> None:
    with_plugin = lanterna(cloud.home, "--help").stdout
    core_only = lanterna(cloud.home, "--help", env={"LANTERNA_LOAD_PLUGINS": ""}).stdout
    for command in ("usage", "audit", "license", "tenant"):
        assert command in with_plugin
        assert f" {command} " not in core_only


def test_usage_summary_command(cloud: Cloud) -> None:
    key = cloud.key("acme")
    for action in ("memory.search", "memory.search", "session.diff"):
        cloud.run(cloud.http(key), action)
    cloud.run(cloud.http(cloud.key("globex")))
    data = json.loads(lanterna(cloud.home, "usage", "--tenant", "acme", "--json", "--outbox").stdout)
    assert data["total"] == 3 and data["by_action"] == {"memory.search": 2, "session.diff": 1}
    assert data["outbox_unsent"] == 4
    text = lanterna(cloud.home, "usage", "--tenant", "acme", "--since", "1h").stdout
    assert "usage of acme from" in text and ": 3 operations" in text
    assert (
        json.loads(lanterna(cloud.home, "usage", "--tenant", "acme", "--since", "2099-01-01", "--json").stdout)["total"]
        == 0
    )
    flushed = lanterna(cloud.home, "usage", "--tenant", "acme", "--flush")
    assert "sent 4 meter events to" in flushed.stdout and "meter events not yet sent: 0" in flushed.stdout
    sent = (cloud.home / "data" / "cloud" / "meter-events.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["payload"]["stripe_customer_id"] for line in sent) == ["acme"] * 3 + ["globex"]
    bad = lanterna(cloud.home, "usage", "--since", "yesterday-ish")
    assert bad.returncode == 2
    expected = "lanterna: 'yesterday-ish' is not a time: use 7d, 24h, 30m or an ISO date such as 2026-11-01"
    assert bad.stderr.strip() == expected


def test_key_create_shows_the_key_once_and_lists_never_show_it(cloud: Cloud) -> None:
    created = lanterna(cloud.home, "tenant", "key-create", "acme", "--role", "viewer", "--user", "alice")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("lnt_") and key not in created.stderr
    listed = lanterna(cloud.home, "tenant", "keys", "--json")
    (row,) = json.loads(listed.stdout)
    assert (row["tenant"], row["user"], row["roles"], row["revoked"]) == ("acme", "alice", ["viewer"], False)
    assert key not in listed.stdout and "sha256" not in listed.stdout
    cloud.reload()
    assert cloud.run(cloud.http(key)) == "acme"
    revoked = lanterna(cloud.home, "tenant", "key-revoke", row["id"])
    assert revoked.returncode == 0
    missing = lanterna(cloud.home, "tenant", "key-revoke", "key_nope")
    assert missing.returncode == 2 and "no API key with id 'key_nope'" in missing.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("tenant", "key-create", "beta", "--role", "owner"),
        ("usage", "--tenant", "beta"),
        ("audit", "tail"),
        ("audit", "verify"),
        ("tenant", "keys"),
        ("license", "activate", "some.license"),
    ],
)
def test_admin_commands_refuse_a_viewer_key(cloud: Cloud, command: tuple[str, ...]) -> None:
    viewer = cloud.key("alpha", "viewer")
    cloud.key("beta", "member")
    keys_before = len(cloud.plugin.keys.records())
    result = lanterna(cloud.home, *command, env={"LANTERNA_API_KEY": viewer})
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("lanterna: refused: no role allows"), result.stderr
    assert viewer not in result.stderr + result.stdout
    assert result.stdout == ""
    assert len(cloud.plugin.keys.records()) == keys_before
    denied = [json.loads(line) for line in cloud.audit_lines() if '"outcome":"denied"' in line]
    assert denied and denied[-1]["tenant"] == "alpha" and denied[-1]["action"].split(".")[0] in command[0] + "admin"


def test_an_owner_key_acts_on_its_own_tenant_only(cloud: Cloud) -> None:
    owner = cloud.key("alpha", "owner")
    made = lanterna(cloud.home, "tenant", "key-create", "alpha", env={"LANTERNA_API_KEY": owner})
    assert made.returncode == 0, made.stderr
    other = lanterna(cloud.home, "tenant", "key-create", "beta", env={"LANTERNA_API_KEY": owner})
    assert other.returncode == 1
    assert "lanterna: refused: this API key belongs to tenant 'alpha'" in other.stderr
    usage = lanterna(cloud.home, "usage", "--tenant", "beta", env={"LANTERNA_API_KEY": owner})
    assert usage.returncode == 1 and "cannot act on another tenant" in usage.stderr
    assert {r.tenant for r in cloud.plugin.keys.records()} == {"alpha"}


def test_the_local_operator_may_run_admin_commands(cloud: Cloud) -> None:
    result = lanterna(cloud.home, "tenant", "key-create", "beta", "--role", "owner")
    assert result.returncode == 0, result.stderr
    assert lanterna(cloud.home, "usage", "--tenant", "beta").returncode == 0
    assert lanterna(cloud.home, "audit", "tail").returncode == 0


def test_twelve_parallel_key_creates_keep_every_key(cloud: Cloud) -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "lanterna"
    env = {k: v for k, v in os.environ.items() if k != "LANTERNA_API_KEY"}
    env.update({"LANTERNA_HOME": str(cloud.home), "LANTERNA_LOAD_PLUGINS": "cloud"})
    procs = [
        subprocess.Popen(
            [str(script), "tenant", "key-create", f"t{n}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for n in range(12)
    ]
    keys = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        keys.append(out.decode().strip())
    cloud.reload()
    assert len(cloud.plugin.keys.records()) == 12
    assert all(cloud.plugin.keys.lookup(k) is not None for k in keys)
    revoked = cloud.plugin.keys.records()[0].id
    revoking = subprocess.Popen([str(script), "tenant", "key-revoke", revoked], env=env)
    creating = subprocess.Popen([str(script), "tenant", "key-create", "late"], env=env, stdout=subprocess.PIPE)
    assert revoking.wait(60) == 0 and creating.wait(60) == 0
    cloud.reload()
    assert [r.revoked for r in cloud.plugin.keys.records() if r.id == revoked] == [True]
    assert len(cloud.plugin.keys.records()) == 13


def test_install_says_what_the_plugin_changes_cloud_mode_and_the_free_plan(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lanterna.cli import _report_changes
    from lanterna.plugins import PluginHost

    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "")
    before = PluginHost()  # the environment before `lanterna install ./packages/cloud-stubs`
    monkeypatch.setenv("LANTERNA_LOAD_PLUGINS", "cloud")
    _report_changes(before)
    out = capsys.readouterr().out
    assert "lanterna: plugin 'cloud' (lanterna-cloud-stubs " in out
    assert "loaded; hooks into audit, entitlements, lifecycle, metering, surfaces, tenancy" in out
    assert "lanterna: mode is now cloud (was oss)" in out
    assert "lanterna: plan is now free (operations per day: 10), from cloud-stubs free plan;" in out
