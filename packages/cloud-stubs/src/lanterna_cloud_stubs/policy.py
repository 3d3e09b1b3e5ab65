"""Role-based authorization: a policy file maps roles to the actions they may take on resources.

Policy file (TOML, ``[cloud] policy_file``)::

    [roles.viewer]
    allow = ["memory.search", "memory.list", "session.*"]
    [roles.member]
    allow = ["*"]
    deny = ["admin.*", { action = "*.delete", resource = "repo:/prod/*" }]

A rule is an action pattern (any resource) or a table with ``action`` and ``resource``
patterns (shell-style wildcards). A request is allowed when one of its roles allows the
action and none of its roles denies it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from lanterna.config import ConfigError

DEFAULT_POLICY: dict[str, Any] = {
    "roles": {
        "owner": {"allow": ["*"]},
        "admin": {"allow": ["*"]},
        "member": {"allow": ["*"], "deny": ["admin.*", "tenant.*", "license.*"]},
        # session tools only read git (and over HTTP only the repository of the caller's tenant)
        "viewer": {"allow": ["*.search", "*.list", "*.get", "*.read", "*.status", "*.diff", "*.log", "session.*"]},
    }
}


@dataclass(frozen=True)
class Rule:
    action: str
    resource: str = "*"

    def matches(self, action: str, resource: str) -> bool:
        return fnmatchcase(action, self.action) and fnmatchcase(resource, self.resource)


@dataclass(frozen=True)
class RolePolicy:
    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()


class Policy:
    def __init__(self, roles: dict[str, RolePolicy], source: str) -> None:
        self.roles = roles
        self.source = source

    @classmethod
    def load(cls, path: Path | None) -> Policy:
        if path is None:
            return cls.parse(DEFAULT_POLICY, "built-in policy")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"policy file {path} does not exist; create it or remove [cloud] policy_file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"policy file {path} is not valid TOML ({exc}); fix it") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: dict[str, Any], source: str) -> Policy:
        roles = data.get("roles")
        if not isinstance(roles, dict):
            raise ConfigError(f"{source} has no [roles.NAME] tables; add one per role with an allow list")
        parsed = {}
        for name, table in roles.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: roles.{name} must be a table with allow/deny lists")
            parsed[name] = RolePolicy(
                allow=_rules(table.get("allow", []), f"{source}: roles.{name}.allow"),
                deny=_rules(table.get("deny", []), f"{source}: roles.{name}.deny"),
            )
        return cls(parsed, source)

    def decide(self, roles: tuple[str, ...], action: str, resource: str) -> str | None:
        """``None`` to allow, else a one-line reason saying what to do."""
        known = [self.roles[r] for r in roles if r in self.roles]
        for role, policy in zip([r for r in roles if r in self.roles], known, strict=True):
            if any(rule.matches(action, resource) for rule in policy.deny):
                return f"role '{role}' may not perform '{action}' on '{resource}' ({self.source}); ask an admin"
        if any(rule.matches(action, resource) for policy in known for rule in policy.allow):
            return None
        held = ", ".join(roles) or "none"
        return (
            f"no role allows '{action}' on '{resource}' (roles: {held}; {self.source});"
            " ask an admin for a role that does"
        )


def _rules(value: Any, where: str) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of action patterns or {{action, resource}} tables")
    rules = []
    for item in value:
        if isinstance(item, str):
            rules.append(Rule(item))
        elif isinstance(item, dict) and isinstance(item.get("action"), str):
            rules.append(Rule(item["action"], str(item.get("resource", "*"))))
        else:
            raise ConfigError(f"{where}: {item!r} is neither an action pattern nor an {{action, resource}} table")
    return tuple(rules)
