"""A guard probe: records audit events to a file, takes the tenant from x-tenant-id, can deny.

Audit events go to ``$LANTERNA_HOME/probe-audit.jsonl`` so subprocess tests can read them.
``PROBE_DENY=action1,action2`` (or ``*``) makes ``authorize`` deny those actions.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from lanterna import hookimpl
from lanterna.types import AuditEvent, Identity, RequestContext


def audit_file() -> Path:
    return Path(os.environ["LANTERNA_HOME"]) / "probe-audit.jsonl"


@hookimpl
def record_audit_event(event: AuditEvent) -> None:
    with audit_file().open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(event)) + "\n")


@hookimpl
def tenant_from_request(request: RequestContext) -> Identity | None:
    tenant = request.headers.get("x-tenant-id")
    if tenant:
        return Identity(tenant=tenant, user="http-user" if "authorization" in request.headers else None)
    return None


@hookimpl
def authorize(request: RequestContext, action: str, resource: str) -> str | None:
    denied = [a.strip() for a in os.environ.get("PROBE_DENY", "").split(",") if a.strip()]
    if "*" in denied or action in denied:
        return f"probe denies {action}; unset PROBE_DENY to allow it"
    return None
