"""The audit log through the real guard and the real `lanterna audit` commands."""

from __future__ import annotations

import itertools
import json
import os

import pytest
from cloud_harness import Cloud, lanterna

from lanterna.guard import Denied


def five_events(cloud: Cloud) -> list[str]:
    key = cloud.key("acme")
    for action in ("memory.search", "memory.list", "session.diff", "memory.get", "memory.read"):
        cloud.run(cloud.http(key), action)
    return cloud.audit_lines()


def rewrite(cloud: Cloud, lines: list[str]) -> None:
    cloud.plugin.settings.audit_log.write_text("".join(line + "\n" for line in lines))


def test_each_event_is_chained_and_fsynced(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    lines = five_events(cloud)
    audit_fd = cloud.plugin.audit._fd
    assert synced.count(audit_fd) == 5
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev"] == "0" * 64
    assert all(r["prev"] == p["hash"] for p, r in itertools.pairwise(records))
    assert cloud.plugin.audit.verify().ok


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("edit", "line 3 (seq 3): content does not match its hash: the event was edited"),
        ("delete", "line 3: seq 4 where 3 was expected: events before it were deleted or moved"),
        ("reorder", "line 2: seq 3 where 2 was expected"),
        ("truncate", "the log ends at seq 3 but seq 5 was written: events were truncated from the end"),
        ("cut", "line 5: the last event is cut off (no line end): the log was truncated"),
        ("rechain", "line 4 (seq 4): does not chain to line 3: an event before it was changed"),
    ],
)
def test_verify_says_where_the_log_was_damaged(cloud: Cloud, damage: str, expected: str) -> None:
    lines = five_events(cloud)
    path = cloud.plugin.settings.audit_log
    if damage == "edit":
        lines[2] = lines[2].replace('"outcome":"success"', '"outcome":"denied"')
        rewrite(cloud, lines)
    elif damage == "delete":
        rewrite(cloud, lines[:2] + lines[3:])
    elif damage == "reorder":
        rewrite(cloud, [lines[0], lines[2], lines[1], *lines[3:]])
    elif damage == "truncate":
        rewrite(cloud, lines[:3])
    elif damage == "cut":
        path.write_bytes(path.read_bytes()[:-20])
    elif damage == "rechain":  # an edit whose own hash was recomputed: the next line's link breaks
        from lanterna_cloud_stubs.audit import canonical, chain_hash

        record = json.loads(lines[2])
        record["actor"] = "mallory"
        record["hash"] = chain_hash(record)
        lines[2] = canonical(record)
        rewrite(cloud, lines)
    report = cloud.plugin.audit.verify()
    assert not report.ok
    assert any(expected in p for p in report.problems), report.problems
    result = lanterna(cloud.home, "audit", "verify")
    assert result.returncode == 1
    assert expected in result.stderr and "audit log tampered" in result.stderr


def test_verify_and_tail_commands_on_an_intact_log(cloud: Cloud) -> None:
    five_events(cloud)
    cloud.plugin.shutdown()
    result = lanterna(cloud.home, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit log intact: 5 events")
    tail = lanterna(cloud.home, "audit", "tail", "-n", "3")
    assert tail.returncode == 0, tail.stderr
    out = tail.stdout.splitlines()
    assert len(out) == 3 and "memory.get" in out[0] and "memory.read repo:/r -> success" in out[1]
    assert "admin.audit_verify audit -> success" in out[2]  # the admin command is audited too
    as_json = json.loads(lanterna(cloud.home, "audit", "tail", "-n", "1", "--json").stdout)
    assert as_json[0]["seq"] == 7 and as_json[0]["action"] == "admin.audit_tail"


def test_secrets_and_newlines_are_scrubbed_from_values(cloud: Cloud) -> None:
    key = cloud.key("acme")
    hostile = f'repo:/x\r\n{{"forged": true}} token={key} Authorization: Bearer {key} ghp_{"a" * 36}'
    cloud.run(cloud.http(key), "memory.search", hostile)
    (line,) = cloud.audit_lines()
    assert key not in line and "ghp_" + "a" * 36 not in line
    record = json.loads(line)
    assert "\n" not in record["resource"] and "\r" not in record["resource"]
    assert record["resource"].count("[redacted]") == 3
    assert cloud.plugin.audit.verify().ok


def test_the_api_key_appears_nowhere_after_success_failure_and_denial(cloud: Cloud) -> None:
    key = cloud.key("acme", "viewer")
    cloud.run(cloud.http(key))
    with pytest.raises(RuntimeError), cloud.op(cloud.http(key)):
        raise RuntimeError("boom")
    with pytest.raises(Denied) as denied:
        cloud.run(cloud.http(key), "memory.delete")
    assert key not in str(denied.value)
    outcomes = [json.loads(line).get("outcome") for line in cloud.audit_lines()]
    assert outcomes == ["success", "error", "denied", None]  # None: the security event of the denial
    for path in cloud.home.rglob("*"):
        if path.is_file() and path.suffix != ".pem":
            assert key.encode() not in path.read_bytes(), path


def test_a_second_writer_continues_the_chain(cloud: Cloud) -> None:
    """Another process appending between our writes: we chain to its event, not to our memory."""
    key = cloud.key("acme")
    cloud.run(cloud.http(key))
    from lanterna_cloud_stubs.audit import AuditLog

    settings = cloud.plugin.settings
    other = AuditLog(settings.audit_log, settings.audit_head, settings.audit_key_file)
    other.append({"kind": "audit", "action": "from.elsewhere"})
    other.close()
    cloud.run(cloud.http(key))
    assert cloud.plugin.audit.verify().ok
    assert [json.loads(line)["seq"] for line in cloud.audit_lines()] == [1, 2, 3]


def test_two_processes_appending_at_once_keep_one_chain(cloud: Cloud, tmp_path) -> None:
    import subprocess
    import sys

    settings = cloud.plugin.settings
    paths = [str(settings.audit_log), str(settings.audit_head), str(settings.audit_key_file)]
    code = (
        "import sys; from pathlib import Path; from lanterna_cloud_stubs.audit import AuditLog;"
        " log = AuditLog(*map(Path, sys.argv[1:4]));"
        " [log.append({'kind': 'audit', 'action': sys.argv[4], 'n': n}) for n in range(150)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, *paths, name]) for name in ("one", "two")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    report = cloud.plugin.audit.verify()
    assert report.ok, report.problems
    assert report.events == 300


def test_damaged_last_line_stops_appends_with_a_clear_reason(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    key = cloud.key("acme")
    cloud.run(cloud.http(key))
    path = cloud.plugin.settings.audit_log
    path.write_bytes(path.read_bytes()[:-30] + b"\n")
    cloud.reload()  # a new process: nothing remembered about the log
    assert cloud.run(cloud.http(key)) == "acme"  # audit is best effort by default: the operation ran
    failures = (cloud.home / "state" / "hook-failures.jsonl").read_text()
    assert '"hook": "record_audit_event"' in failures and '"plugin": "cloud"' in failures
    monkeypatch.setenv("LANTERNA_AUDIT_FAIL_CLOSED", "1")
    with pytest.raises(Denied) as denied:
        cloud.run(cloud.http(key))
    assert "the last line of the audit log" in str(denied.value) and "lanterna audit verify" in str(denied.value)


def sign_like_an_attacker(cloud: Cloud, seq: int, digest: str) -> None:
    """A head written by someone without the key (any key but the real one)."""
    import hashlib
    import hmac

    forged = hmac.new(b"guess", f"{seq} {digest}".encode(), hashlib.sha256).hexdigest()
    cloud.plugin.settings.audit_head.write_text(f"{seq:020d} {digest} {forged}\n")


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        ("delete log and head", "audit log"),
        ("delete log", "is missing, but events were written"),
        ("delete head", "the head is missing or damaged"),
        ("cut and rewrite head", "the head's signature does not match"),
        ("cut and stale head", "events were truncated from the end"),
        ("delete key", "the head key"),
        ("append forged events", "appended without the key"),
    ],
)
def test_verify_fails_on_truncation_whatever_happens_to_the_head(cloud: Cloud, attack: str, expected: str) -> None:
    from lanterna_cloud_stubs.audit import canonical, chain_hash

    settings = cloud.plugin.settings
    lines = five_events(cloud)
    stale_head = settings.audit_head.read_text()  # a copy taken after five events
    key = cloud.key("acme")
    for _ in range(3):
        cloud.run(cloud.http(key))
    lines = cloud.audit_lines()
    assert settings.audit_head.parent != settings.audit_log.parent  # the head lives apart from the log
    if attack == "delete log and head":
        settings.audit_log.unlink()
        settings.audit_head.unlink()
    elif attack == "delete log":
        settings.audit_log.unlink()
    elif attack == "delete head":
        settings.audit_head.unlink()
    elif attack == "cut and rewrite head":
        rewrite(cloud, lines[:4])
        last = json.loads(lines[3])
        sign_like_an_attacker(cloud, last["seq"], last["hash"])
    elif attack == "cut and stale head":
        rewrite(cloud, lines[:4])
        settings.audit_head.write_text(stale_head)
    elif attack == "delete key":
        settings.audit_key_file.unlink()
    elif attack == "append forged events":
        prev = json.loads(lines[-1])
        for n in range(2):
            record = {"kind": "audit", "action": "forged", "seq": prev["seq"] + 1, "prev": prev["hash"], "n": n}
            record["hash"] = chain_hash(record)
            lines.append(canonical(record))
            prev = record
        rewrite(cloud, lines)
    cloud.reload()
    report = cloud.plugin.audit.verify()
    assert not report.ok
    assert any(expected in p for p in report.problems), report.problems
    result = lanterna(cloud.home, "audit", "verify")
    assert result.returncode == 1 and expected in result.stderr


def test_a_crash_between_log_and_head_leaves_a_log_that_verifies(cloud: Cloud) -> None:
    settings = cloud.plugin.settings
    five_events(cloud)
    head = settings.audit_head.read_text()
    cloud.run(cloud.http(cloud.key("acme")))
    settings.audit_head.write_text(head)  # the head write of the last event never happened
    assert cloud.plugin.audit.verify().ok


def test_a_fresh_home_verifies_with_no_events(cloud: Cloud) -> None:
    report = cloud.plugin.audit.verify()
    assert report.ok and report.events == 0
