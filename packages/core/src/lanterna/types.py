"""The small typed objects that hooks receive and return."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from lanterna.memory.embedders import Embedder
    from lanterna.sources import CodeSource

Transport = Literal["stdio", "http", "cli", "test"]
PlanState = Literal["valid", "grace", "expired"]
Outcome = Literal["success", "error", "denied", "started"]
Severity = Literal["info", "warning", "error", "critical"]


class Refused(Exception):
    """Raised by a decision hook to refuse a request on purpose: a bad key, an unknown tenant.

    The guard denies with this message as the reason (so it must say what to do and never
    contain a secret); unlike any other exception it is not counted as a plugin failure.
    ``tenant``, ``user`` and ``key_id`` say who was refused when the hook knows it (a valid
    key that claims another tenant): the audit and security events record them, never the key.
    """

    def __init__(
        self, reason: str = "", *, tenant: str | None = None, user: str | None = None, key_id: str | None = None
    ) -> None:
        super().__init__(reason)
        self.tenant, self.user, self.key_id = tenant, user, key_id


def new_request_id() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, and how. Every hook that needs to know receives one.

    ``tenant``/``user``/``roles`` are empty until a ``tenant_from_request`` hook resolves
    them; ``multi_tenant`` is then true when a tenancy plugin (not the core's single-tenant
    default) did, so the caller is one tenant among several and must not be served the
    operator's own resources (the server's working directory) by default. ``headers``
    (lower-case names) may hold credentials: it is left out of ``repr`` and must never be logged.
    """

    transport: Transport = "cli"
    tenant: str | None = None
    user: str | None = None
    roles: tuple[str, ...] = ()
    request_id: str = field(default_factory=new_request_id)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    multi_tenant: bool = False


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


# -- the ``register`` callbacks of the register_* hooks --------------------------------


class RegisterTool(Protocol):
    """``register`` of ``register_mcp_tools``: call it once per MCP tool.

    - ``fn``: a plain ``def`` (run on a worker thread) or an ``async def``. Its typed
      parameters become the input schema, its docstring the description (unless
      ``description`` is given). ``*args``, ``**kwargs``, parameters starting with ``_`` and
      parameters named like an identity (``tenant``, ``user``…) are refused: the tenant and
      user come from the request, via ``lanterna.guard.current_request()``. A parameter
      annotated ``Context`` (``mcp.server.mcpserver.Context``, imported under
      ``TYPE_CHECKING`` only) receives the call's context and is not part of the schema.
    - ``name``: defaults to the function's name (1-64 letters, digits, ``_``, ``-``, ``.``).
    - ``action``: the guard action, ``tool.<name>`` by default.
    - ``resource``: a string, or a callable that gets the tool's arguments as one dict and
      returns a string (``lambda args: f"repo:{args['path']}"``); ``tool:<name>`` by default.
      The guard calls it once the caller is resolved, so it may use ``current_request()``.
    - ``feature``: an entitlement the tool needs.
    - ``title``: the human-readable name clients show (default: from the tool's name).
    - ``annotations``: the MCP hints clients use to decide what may run without asking, a
      dict with ``readOnlyHint``, ``destructiveHint``, ``idempotentHint``, ``openWorldHint``
      (booleans; snake_case names work too; ``lanterna.server.tools.READ_ONLY`` for a tool
      that only reads local data). A hint left out takes MCP's cautious default (not
      read-only, destructive, not idempotent, open world): say what your tool really does.

    A refused registration is reported (``lanterna tools``, ``lanterna plugins``), not raised.
    """

    def __call__(
        self,
        fn: Callable[..., Any],
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        action: str | None = None,
        resource: str | Callable[[dict[str, Any]], str] | None = None,
        feature: str | None = None,
        title: str | None = None,
        annotations: Mapping[str, bool] | None = None,
    ) -> None: ...


class RegisterEmbedder(Protocol):
    """``register`` of ``register_embedders``: call it once per embedder.

    An embedder has ``name`` (stable: it is stored with the data), ``dimensions`` and
    ``embed(texts) -> list of vectors`` (``lanterna.memory.embedders.Embedder``).
    """

    def __call__(self, embedder: Embedder, /) -> None: ...


class RegisterCodeSource(Protocol):
    """``register`` of ``register_code_sources``: call it once per code source
    (``lanterna.sources.CodeSource``)."""

    def __call__(self, source: CodeSource, /) -> None: ...
