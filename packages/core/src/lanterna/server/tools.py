"""The registry of MCP tools: what plugins registered, by whom, under which guard action.

This module imports no MCP code, so ``lanterna tools`` can list the tools cheaply. The
server (``lanterna.server.app``) turns each entry into an MCP tool whose body always runs
inside ``Guard.operation()``: the registry is the only way tools reach the server, so a
tool that bypasses the guard cannot exist.

How a plugin registers tools (the ``register_mcp_tools`` hook)::

    @hookimpl
    def register_mcp_tools(self, register):
        register(self.search, action="memory.search", resource="memory:default")

``register`` is described by ``lanterna.types.RegisterTool``. A ``resource`` callable is
called with the call's arguments once the guard has resolved the caller, so it may use
``lanterna.guard.current_request()`` (a tenant's own repository, say). Import ``Context`` only under
``if TYPE_CHECKING:``: the server resolves the name itself, and your plugin module stays
free of the MCP import, which costs every ``lanterna`` command over a second. Raise
``lanterna.errors.UserError("what went wrong; what to do")`` (or a subclass, such as
``lanterna.server.tools.ToolError``) for an error the user can act on: its message reaches the
client, and it is not counted as a failure of the plugin. Any other exception reaches the
client as a generic one-line error naming the tool and plugin (its text stays in the server log).
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from lanterna.errors import UserError

if TYPE_CHECKING:
    from lanterna.plugins import PluginHost
    from lanterna.types import RegisterTool

log = logging.getLogger("lanterna.server")

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Identity parameters: a tool never takes them from its arguments.
IDENTITY_PARAMETERS = frozenset({"tenant", "tenant_id", "user", "user_id", "roles", "identity"})
#: MCP tool hints and the value each takes when a plugin does not say (the spec's cautious defaults).
HINT_DEFAULTS: dict[str, bool] = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}
#: Hints for tools that only read local data: clients may run them without asking.
READ_ONLY: dict[str, bool] = {
    "readOnlyHint": True,
    "destructiveHint": False,
    "idempotentHint": True,
    "openWorldHint": False,
}


class ToolError(UserError):
    """An error the user can act on; its one-line message reaches the MCP client."""


class RegistrationError(ValueError):
    """A tool cannot be registered; the message says why."""


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool."""

    name: str
    fn: Callable[..., Any]
    description: str
    action: str
    resource: str | Callable[[dict[str, Any]], str]
    feature: str | None
    plugin: str
    title: str = ""
    #: Every MCP hint of ``HINT_DEFAULTS``, as given by the plugin or defaulted.
    annotations: dict[str, bool] = field(default_factory=lambda: dict(HINT_DEFAULTS))

    def resource_for(self, arguments: dict[str, Any]) -> str:
        return self.resource(arguments) if callable(self.resource) else self.resource

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "action": self.action,
            "resource": self.resource if isinstance(self.resource, str) else "(computed per call)",
            "feature": self.feature,
            "title": self.title,
            "annotations": dict(self.annotations),
            "description": self.description.strip().split("\n", 1)[0],
        }


class ToolRegistry:
    """Tools in registration order, keyed by name.

    The first registration of a name wins, except over a built-in plugin's: the core's
    tool names cannot be taken over, whichever plugin pluggy happens to call first.
    """

    def __init__(self, builtin: frozenset[str] | set[str] = frozenset()) -> None:
        #: Plugins whose tool names no other plugin may take, whatever the call order.
        self.builtin = builtin
        self.tools: dict[str, ToolSpec] = {}
        #: ``(plugin, reason)`` for every registration that was refused.
        self.rejected: list[tuple[str, str]] = []

    def registrar(self, plugin: str) -> RegisterTool:
        """The ``register`` callback handed to one plugin's ``register_mcp_tools``."""

        def register(
            fn: Callable[..., Any],
            *,
            name: str | None = None,
            description: str | None = None,
            action: str | None = None,
            resource: str | Callable[[dict[str, Any]], str] | None = None,
            feature: str | None = None,
            title: str | None = None,
            annotations: Mapping[str, bool] | Any = None,
        ) -> None:
            try:
                spec = self._spec(plugin, fn, name, description, action, resource, feature)
                title = title or getattr(annotations, "title", None) or _title_from(spec.name)
                spec = replace(spec, title=title, annotations=_hints(spec.name, annotations))
            except RegistrationError as exc:
                self.rejected.append((plugin, str(exc)))
                log.warning("plugin '%s': tool not registered: %s", plugin, exc)
                return
            self._add(spec)

        return register

    def _add(self, spec: ToolSpec) -> None:
        taken = self.tools.get(spec.name)
        if taken is not None:
            if taken.plugin in self.builtin or spec.plugin not in self.builtin:
                reason = f"tool '{spec.name}' is already registered by plugin '{taken.plugin}'; rename one"
                self.rejected.append((spec.plugin, reason))
                log.warning("plugin '%s': tool not registered: %s", spec.plugin, reason)
                return
            reason = f"tool '{spec.name}' is already registered by plugin '{spec.plugin}'; rename one"
            self.rejected.append((taken.plugin, reason))
            log.warning("plugin '%s': tool not registered: %s", taken.plugin, reason)
            del self.tools[spec.name]
        self.tools[spec.name] = spec

    def _spec(
        self,
        plugin: str,
        fn: Callable[..., Any],
        name: str | None,
        description: str | None,
        action: str | None,
        resource: str | Callable[[dict[str, Any]], str] | None,
        feature: str | None,
    ) -> ToolSpec:
        if not callable(fn):
            raise RegistrationError(f"register() needs a function, got {type(fn).__name__}")
        tool_name = name or str(getattr(fn, "__name__", ""))
        if not TOOL_NAME.match(tool_name):
            raise RegistrationError(f"tool name {tool_name!r} is invalid; use 1-64 letters, digits, '_', '-' or '.'")
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise RegistrationError(f"tool '{tool_name}' takes *{param.name}; declare each argument")
            if param.name in IDENTITY_PARAMETERS:
                raise RegistrationError(
                    f"tool '{tool_name}' takes '{param.name}' as an argument; tools get the tenant and user"
                    " from lanterna.guard.current_request(), never from arguments"
                )
            if param.name.startswith("_"):
                raise RegistrationError(f"tool '{tool_name}' parameter '{param.name}' must not start with '_'")
        _check_resource(tool_name, resource, list(inspect.signature(fn).parameters))
        return ToolSpec(
            name=tool_name,
            fn=fn,
            description=description or inspect.getdoc(fn) or "",
            action=action or f"tool.{tool_name}",
            resource=resource if resource is not None else f"tool:{tool_name}",
            feature=feature,
            plugin=plugin,
        )


def _check_resource(tool: str, resource: object, arguments: list[str]) -> None:
    """A ``resource`` callable is called with one dict of the tool's arguments: refuse one that is not."""
    if resource is None or isinstance(resource, str):
        return
    if not callable(resource):
        raise RegistrationError(
            f"tool '{tool}': resource must be a string or a callable, got {type(resource).__name__}"
        )
    try:
        signature = inspect.signature(resource)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return
    example = arguments[0] if arguments else "name"
    advice = (
        f"resource= is called with one dict of the tool's arguments; write e.g."
        f" resource=lambda args: f\"item:{{args['{example}']}}\""
    )
    try:
        signature.bind({})
    except TypeError:
        raise RegistrationError(f"tool '{tool}': its resource callable takes {signature}; {advice}") from None
    first = next(iter(signature.parameters.values()), None)
    if first is not None and first.kind is not first.VAR_POSITIONAL and first.name in arguments:
        raise RegistrationError(
            f"tool '{tool}': its resource callable takes '{first.name}', like the tool's own argument; {advice}"
        )


def _title_from(name: str) -> str:
    words = re.split(r"[_.-]+", name)
    return " ".join(words).strip().capitalize() or name


def _hints(tool: str, given: Mapping[str, bool] | Any) -> dict[str, bool]:
    """The four MCP hints from a dict (camelCase or snake_case keys) or an SDK ``ToolAnnotations``."""
    if given is None:
        return dict(HINT_DEFAULTS)
    if hasattr(given, "model_dump"):
        given = given.model_dump(by_alias=True, exclude_none=True)
        given.pop("title", None)
    if not isinstance(given, Mapping):
        raise RegistrationError(f"tool '{tool}': annotations must be a dict of MCP hints, got {type(given).__name__}")
    hints = dict(HINT_DEFAULTS)
    for key, value in given.items():
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), str(key))
        if camel not in HINT_DEFAULTS:
            raise RegistrationError(f"tool '{tool}': unknown annotation '{key}'; use {', '.join(HINT_DEFAULTS)}")
        if not isinstance(value, bool):
            raise RegistrationError(f"tool '{tool}': annotation '{key}' must be true or false")
        hints[camel] = value
    return hints


def collect_tools(host: PluginHost) -> ToolRegistry:
    """Ask every plugin for its tools. A plugin whose hook raises is reported, not fatal.

    Each implementation gets its own ``register``, so every tool is attributed to its
    plugin. A tool name of a built-in plugin cannot be taken over by another plugin. A
    refused tool leaves its plugin ``degraded`` (``lanterna plugins``, ``--strict``).
    """
    from lanterna.plugins import PerPlugin

    registry = ToolRegistry(builtin={p.name for p in host.plugins if p.builtin})
    host.call("register_mcp_tools", isolate=True, register=PerPlugin(registry.registrar))
    for plugin, reason in registry.rejected:
        host.degrade(plugin, f"tool refused: {reason}")
    return registry
