"""The guard: order of checks, fail-closed decisions, observation failures, audit settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanterna import hookimpl
from lanterna.guard import Denied, Guard, current_request
from lanterna.plugins import get_host, recorded_hook_failures
from lanterna.types import Identity, Plan, RequestContext


class Recorder:
    """A small plugin that implements every guard hook and notes each call."""

    def __init__(self, calls: list[str], plan: Plan | None = None) -> None:
        self.calls = calls
        self.plan = plan
        self.usage: list = []
        self.audit: list = []
        self.security: list = []

    @hookimpl
    def tenant_from_request(self, request):
        self.calls.append("tenant")
        return Identity(tenant=request.headers.get("x-tenant-id", "acme"), user="ann", roles=("dev",))

    @hookimpl
    def active_plan(self, request):
        self.calls.append("plan")
        return self.plan

    @hookimpl
    def authorize(self, request, action, resource):
        self.calls.append("authorize")
        return "tenant 'evil' is barred; ask an admin" if request.tenant == "evil" else None

    @hookimpl
    def check_quota(self, request, action, plan):
        self.calls.append("quota")
        return "daily quota of 10 operations used up; try tomorrow" if action == "heavy" else None

    @hookimpl
    def record_usage(self, request, event):
        self.calls.append("usage")
        self.usage.append(event)

    @hookimpl
    def record_audit_event(self, event):
        self.calls.append(f"audit:{event.outcome}")
        self.audit.append(event)

    @hookimpl
    def record_security_event(self, event):
        self.security.append(event)


class Raising:
    def __init__(self, hook: str) -> None:
        self.hook = hook

    @hookimpl
    def authorize(self, request, action, resource):
        if self.hook == "authorize":
            raise KeyError("policy file missing")

    @hookimpl
    def check_quota(self, request, action, plan):
        if self.hook == "check_quota":
            raise ConnectionError("metering db locked")

    @hookimpl
    def record_usage(self, request, event):
        if self.hook == "record_usage":
            raise OSError("disk full")

    @hookimpl
    def record_audit_event(self, event):
        if self.hook == "record_audit_event":
            raise OSError("audit disk full")

    @hookimpl
    def active_plan(self, request):
        if self.hook == "active_plan":
            raise ValueError("license file corrupt")

    @hookimpl
    def tenant_from_request(self, request):
        if self.hook == "tenant_from_request":
            raise PermissionError("bad api key")


@pytest.fixture
def recorder():
    calls: list[str] = []
    plugin = Recorder(calls)
    get_host().register(plugin, "recorder")
    return plugin


def test_core_alone_runs_operations_as_the_local_tenant(monkeypatch):
    monkeypatch.setenv("LANTERNA_TENANT", "team-a")
    guard = Guard(get_host())
    seen = guard.run(RequestContext(), "memory.search", "service:api", current_request)
    assert seen.tenant == "team-a" and seen.user


def test_checks_run_in_order_and_the_operation_sees_the_resolved_request(recorder):
    guard = Guard(get_host())
    with guard.operation(RequestContext(transport="http", headers={"x-tenant-id": "t1"}), "memory.search", "r") as op:
        recorder.calls.append("run")
        assert current_request().tenant == "t1" and op.request.roles == ("dev",)
    assert recorder.calls == ["tenant", "plan", "authorize", "quota", "run", "usage", "audit:success"]
    usage = recorder.usage[0]
    assert (usage.tenant, usage.user, usage.action, usage.outcome) == ("t1", "ann", "memory.search", "success")
    audit = recorder.audit[0]
    assert (audit.tenant, audit.actor, audit.resource, audit.request_id) == ("t1", "ann", "r", op.request.request_id)
    with pytest.raises(RuntimeError):
        current_request()


def test_authorize_denial_stops_before_running_and_is_audited(recorder):
    guard = Guard(get_host())
    ran = []
    with pytest.raises(Denied) as denied:
        guard.run(RequestContext(headers={"x-tenant-id": "evil"}), "memory.forget", "r", lambda: ran.append(1))
    assert denied.value.stage == "authorize"
    assert str(denied.value) == "tenant 'evil' is barred; ask an admin"
    assert ran == [] and recorder.usage == []
    assert recorder.audit[-1].outcome == "denied" and "barred" in recorder.audit[-1].reason
    assert recorder.security[-1].kind == "authorize.denied"


def test_quota_denial_blocks(recorder):
    with pytest.raises(Denied, match="daily quota of 10 operations used up") as denied:
        Guard(get_host()).run(RequestContext(), "heavy", "r", lambda: None)
    assert denied.value.stage == "quota"
    assert "usage" not in recorder.calls


def test_feature_needs_a_plan_that_includes_it(recorder):
    guard = Guard(get_host())
    with pytest.raises(Denied, match="needs the 'insights' feature, which the free plan") as denied:
        guard.run(RequestContext(), "insights.report", "r", lambda: 1, feature="insights")
    assert denied.value.stage == "entitlements"
    recorder.plan = Plan(tier="pro", features=frozenset({"insights"}), state="grace")
    assert guard.run(RequestContext(), "insights.report", "r", lambda: 1, feature="insights") == 1
    recorder.plan = Plan(tier="pro", features=frozenset({"insights"}), state="expired")
    with pytest.raises(Denied, match=r"pro plan \(expired\)"):
        guard.run(RequestContext(), "insights.report", "r", lambda: 1, feature="insights")
    # expiry turns paid features off, never the free core
    assert guard.run(RequestContext(), "memory.search", "r", lambda: 2) == 2


@pytest.mark.parametrize(
    ("hook", "stage", "message"),
    [
        (
            "tenant_from_request",
            "tenancy",
            "plugin 'raising' failed in tenant_from_request: PermissionError: bad api key",
        ),
        ("authorize", "authorize", "plugin 'raising' failed in authorize: KeyError"),
        ("check_quota", "quota", "plugin 'raising' failed in check_quota: ConnectionError: metering db locked"),
    ],
)
def test_decision_hooks_fail_closed_naming_the_plugin(recorder, hook, stage, message):
    get_host().register(Raising(hook), "raising")
    ran = []
    with pytest.raises(Denied) as denied:
        Guard(get_host()).run(RequestContext(), "memory.search", "r", lambda: ran.append(1))
    assert denied.value.stage == stage
    assert message in str(denied.value)
    assert ran == []
    assert recorded_hook_failures()[(hook, "raising")] == 1


class WrongAnswer:
    """A decision plugin that answers with a value of the wrong type."""

    def __init__(self, hook: str, answer: object) -> None:
        self.hook, self.answer = hook, answer

    @hookimpl
    def authorize(self, request, action, resource):
        return self.answer if self.hook == "authorize" else None

    @hookimpl
    def check_quota(self, request, action, plan):
        return self.answer if self.hook == "check_quota" else None


@pytest.mark.parametrize(
    ("hook", "answer", "type_name"),
    [
        ("authorize", {"allow": True}, "dict"),
        ("authorize", ("ok",), "tuple"),
        ("authorize", 0, "int"),
        ("authorize", True, "bool"),
        ("check_quota", ["fine"], "list"),
    ],
)
def test_decision_hooks_answering_a_wrong_type_deny_naming_the_plugin(recorder, hook, answer, type_name):
    get_host().register(WrongAnswer(hook, answer), "sloppy")
    ran = []
    with pytest.raises(Denied) as denied:
        Guard(get_host()).run(RequestContext(), "memory.search", "r", lambda: ran.append(1))
    assert ran == []
    assert denied.value.stage == ("authorize" if hook == "authorize" else "quota")
    assert f"plugin 'sloppy' failed in {hook}: {hook} returned {type_name}, not None or a reason string" in str(
        denied.value
    )
    assert recorded_hook_failures()[(hook, "sloppy")] == 1


def test_broken_entitlements_fall_back_to_the_free_core(recorder):
    get_host().register(Raising("active_plan"), "raising")
    assert Guard(get_host()).run(RequestContext(), "memory.search", "r", lambda: "ok") == "ok"
    assert get_host().hook_failures[("active_plan", "raising")] == 1


@pytest.mark.parametrize("hook", ["record_usage", "record_audit_event"])
def test_observation_failures_never_break_the_operation_but_are_counted(recorder, hook):
    get_host().register(Raising(hook), "raising")
    assert Guard(get_host()).run(RequestContext(), "memory.search", "r", lambda: "ok") == "ok"
    # the other observers still got their event
    assert len(recorder.usage) == 1 and len(recorder.audit) == 1
    assert recorded_hook_failures()[(hook, "raising")] == 1


def test_audit_fail_closed_refuses_when_audit_cannot_be_recorded(recorder, monkeypatch):
    monkeypatch.setenv("LANTERNA_AUDIT_FAIL_CLOSED", "1")
    get_host().register(Raising("record_audit_event"), "raising")
    ran = []
    with pytest.raises(Denied, match="audit is required and plugin 'raising' failed") as denied:
        Guard(get_host()).run(RequestContext(), "memory.search", "r", lambda: ran.append(1))
    assert denied.value.stage == "audit"
    assert ran == []


def test_audit_fail_closed_from_config(lanterna_home: Path, recorder):
    (lanterna_home / "config.toml").write_text("[guard]\naudit_fail_closed = true\n")
    from lanterna.plugins import reset_host

    reset_host()
    host = get_host()
    plugin = Recorder([])
    host.register(plugin, "recorder")
    Guard(host).run(RequestContext(), "memory.search", "r", lambda: None)
    assert [e.outcome for e in plugin.audit] == ["started", "success"]


def test_error_in_the_operation_is_recorded_and_propagates(recorder):
    with pytest.raises(ZeroDivisionError):
        Guard(get_host()).run(RequestContext(), "memory.search", "r", lambda: 1 / 0)
    assert recorder.usage[-1].outcome == "error"
    assert (recorder.audit[-1].outcome, recorder.audit[-1].reason) == ("error", "ZeroDivisionError")


def test_guard_through_a_real_installed_plugin(load_plugins, lanterna_home: Path):
    load_plugins("good")
    guard = Guard(get_host())
    guard.run(RequestContext(), "memory.search", "service:api", lambda: None)
    with pytest.raises(Denied, match=r"'forbidden\.delete' is forbidden for local"):
        guard.run(RequestContext(), "forbidden.delete", "service:api", lambda: None)
    lines = [json.loads(line) for line in (lanterna_home / "testplug-good.jsonl").read_text().splitlines()]
    assert [(x["kind"], x.get("outcome")) for x in lines] == [
        ("usage", "success"),
        ("audit", "success"),
        ("audit", "denied"),
        ("security", None),
    ]


def test_request_headers_never_appear_in_repr():
    request = RequestContext(transport="http", headers={"authorization": "Bearer sk-secret-123"})
    assert "sk-secret-123" not in repr(request)
