"""Audit conformance: every operation leaves one event, denied and failed ones too; no secret and no
line break gets in; tampering is detected when the implementation claims tamper evidence."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from lanterna import hookimpl
from lanterna.guard import Denied
from lanterna.plugins import PluginHost
from lanterna.testing.base import Suite, run_op, skip
from lanterna.types import RequestContext

TENANT = "conformance-a"
SECRET = "lnt_conformanceSECRETvalue0123456789"
FORBIDDEN = "conformance.forbidden"
#: What the suite's denying plugin gives as reason: a key and a forged second line.
HOSTILE_REASON = f'denied for authorization: Bearer {SECRET}\r\n{{"outcome": "success", "forged": true}}'


class AuditHarness(Protocol):
    """``host()`` with the implementation registered; ``request_for(tenant)`` authenticates
    as a member of ``conformance-a``, allowed ``conformance.*`` actions. ``events()`` reads
    back the recorded audit events as dicts (with ``action``, ``outcome``, ``request_id``,
    ``tenant``, ``actor``, ``resource``, ``reason``); ``raw()`` the stored text as is.

    Optional, for tamper evidence: ``tamper(kind)`` with kind ``edit``, ``delete``,
    ``reorder`` or ``truncate`` damages the stored log; ``verify()`` returns the problems
    found (an empty list when intact).
    """

    def host(self) -> PluginHost: ...
    def request_for(self, tenant: str) -> RequestContext: ...
    def events(self) -> list[dict[str, Any]]: ...
    def raw(self) -> str: ...


class _Denier:
    """Denies the suite's forbidden action with a hostile reason."""

    @hookimpl
    def authorize(self, action: str) -> str | None:
        return HOSTILE_REASON if action == FORBIDDEN else None


def _audited(harness: AuditHarness) -> tuple[PluginHost, dict[str, str]]:
    """Run a succeeding, a failing and a denied operation; returns their request ids by outcome."""
    host = harness.host()
    host.register(_Denier(), "conformance-denier")
    ids = {}
    ok = harness.request_for(TENANT)
    ids["success"] = run_op(host, ok, "conformance.read", "conformance:doc", tenant=TENANT).request_id

    def boom(request: RequestContext) -> None:
        raise ValueError("tool failed")

    failing = harness.request_for(TENANT)
    with contextlib.suppress(ValueError):
        run_op(host, failing, "conformance.write", "conformance:doc", fn=boom, tenant=TENANT)
    ids["error"] = failing.request_id
    denied = harness.request_for(TENANT)
    with contextlib.suppress(Denied):
        run_op(host, denied, FORBIDDEN, "conformance:doc", tenant=TENANT)
    ids["denied"] = denied.request_id
    return host, ids


class AuditSuite(Suite):
    def test_every_operation_leaves_one_event(self, harness: AuditHarness) -> None:
        _, ids = _audited(harness)
        events = [e for e in harness.events() if e.get("outcome") != "started"]
        for outcome, request_id in ids.items():
            mine = [e for e in events if e.get("request_id") == request_id]
            assert len(mine) == 1, f"the {outcome} operation left {len(mine)} audit events, expected 1"
            assert mine[0].get("outcome") == outcome, f"the {outcome} operation was audited as {mine[0].get('outcome')}"

    def test_events_say_who_did_what_to_what(self, harness: AuditHarness) -> None:
        _, ids = _audited(harness)
        event = next((e for e in harness.events() if e.get("request_id") == ids["success"]), None)
        assert event is not None, "the succeeding operation was not audited"
        assert event.get("tenant") == TENANT, f"audited tenant {event.get('tenant')!r}, expected {TENANT}"
        assert event.get("action") == "conformance.read", "the action is missing from the audit event"
        assert event.get("resource") == "conformance:doc", "the resource is missing from the audit event"
        assert event.get("actor"), "the actor is missing from the audit event"

    def test_secrets_and_line_breaks_are_scrubbed(self, harness: AuditHarness) -> None:
        _, ids = _audited(harness)
        raw = harness.raw()
        assert SECRET not in raw, "a bearer key from a denial reason was stored in clear"
        assert "\r" not in raw, "a carriage return was stored"
        denied = [e for e in harness.events() if e.get("request_id") == ids["denied"]]
        assert denied, "the denied operation was not audited"
        assert not any(e.get("forged") for e in harness.events()), "a forged event was injected through a reason"
        reason = str(denied[0].get("reason", ""))
        assert "\n" not in reason and "\r" not in reason, "the stored reason still holds a line break"

    def _tampered(self, harness: AuditHarness, kind: str) -> None:
        if not hasattr(harness, "tamper") or not hasattr(harness, "verify"):
            skip("the harness does not claim tamper evidence (no tamper()/verify())")
        host = harness.host()
        for _ in range(5):
            run_op(host, harness.request_for(TENANT), tenant=TENANT)
        assert harness.verify() == [], "verify() reports problems in an untouched log"
        harness.tamper(kind)
        assert harness.verify(), f"verify() did not notice the {kind} of the log"

    def test_edited_event_is_detected(self, harness: AuditHarness) -> None:
        self._tampered(harness, "edit")

    def test_deleted_event_is_detected(self, harness: AuditHarness) -> None:
        self._tampered(harness, "delete")

    def test_reordered_events_are_detected(self, harness: AuditHarness) -> None:
        self._tampered(harness, "reorder")

    def test_truncated_log_is_detected(self, harness: AuditHarness) -> None:
        self._tampered(harness, "truncate")
