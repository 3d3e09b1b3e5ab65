"""The small typed objects that hooks receive and return."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Transport = Literal["stdio", "http", "cli", "test"]
PlanState = Literal["valid", "grace", "expired"]
Outcome = Literal["success", "error", "denied", "started"]
Severity = Literal["info", "warning", "error", "critical"]


class Refused(Exception):
    """Raised by a decision hook to refuse a request on purpose: a bad key, an unknown tenant.

    The guard denies with this message as the reason (so it must say what to do and never
    contain a secret); unlike any other exception it is not counted as a plugin failure.
    """


def new_request_id() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, and how. Every hook that needs to know receives one.

    ``tenant``/``user``/``roles`` are empty until a ``tenant_from_request`` hook resolves
    them. ``headers`` (lower-case names) may hold credentials: it is left out of ``repr``
    and must never be logged.
    """

    transport: Transport = "cli"
    tenant: str | None = None
    user: str | None = None
    roles: tuple[str, ...] = ()
    request_id: str = field(default_factory=new_request_id)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Identity:
    """The answer of ``tenant_from_request``: the tenant, the user and their roles."""

    tenant: str
    user: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The active plan, from ``active_plan``. No plan at all means ``FREE_PLAN``."""

    tier: str = "free"
    features: frozenset[str] = frozenset()
    limits: Mapping[str, int] = field(default_factory=dict)
    state: PlanState = "valid"
    source: str = "core"

    def allows(self, feature: str) -> bool:
        return self.state != "expired" and feature in self.features


FREE_PLAN = Plan()


@dataclass(frozen=True)
class UsageEvent:
    """One metered operation. ``id`` is an idempotency key: recording it twice counts once."""

    id: str
    tenant: str
    user: str | None
    action: str
    resource: str
    units: int = 1
    outcome: Outcome = "success"
    duration_ms: float = 0.0
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class UsageSummary:
    """Usage of one tenant over ``[since, until)``: operation counts by action."""

    tenant: str
    since: float
    until: float
    total: int
    by_action: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """Who did what to which resource, and how it ended."""

    actor: str | None
    tenant: str | None
    action: str
    resource: str
    outcome: Outcome
    request_id: str
    transport: str = "cli"
    reason: str = ""
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class SecurityEvent:
    """Something an operator should look at: a denial, a bad key, a clock set back."""

    kind: str
    severity: Severity
    message: str
    tenant: str | None = None
    actor: str | None = None
    request_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
