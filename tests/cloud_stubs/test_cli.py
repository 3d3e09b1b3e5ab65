"""`lanterna usage` and `lanterna tenant …`, added through the plugin's register_commands hook."""

from __future__ import annotations

import json

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
