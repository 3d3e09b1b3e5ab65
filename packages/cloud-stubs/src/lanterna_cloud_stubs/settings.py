"""The plugin's settings: the ``[cloud]`` section of the Lanterna config file, and its paths.

``db_connect_str`` (env ``LANTERNA_CLOUD_DB_CONNECT_STR``, else ``[cloud] db_connect_str``, else
the memory store's ``LANTERNA_DB_CONNECT_STR`` / ``[memory] db_connect_str``): a PostgreSQL
shared by several servers. Unset, everything stays in SQLite and files on this machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanterna.config import Config, ConfigError, data_dir, state_dir

DEFAULT_FREE_LIMITS = {"operations_per_day": 10}


@dataclass(frozen=True)
class Settings:
    keys_file: Path
    policy_file: Path | None
    trusted_gateway: bool
    local_tenant: str | None
    local_roles: tuple[str, ...]
    usage_db: Path
    meter_sink: Path
    audit_log: Path
    audit_head: Path
    audit_key_file: Path
    license_dir: Path
    license_state: Path
    validator_url: str | None
    trusted_keys: dict[str, str]
    free_limits: dict[str, int]
    tenants: tuple[str, ...] = ()
    meter_event_name: str = "lanterna_operations"
    db_connect_str: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        section = config.section("cloud")
        lic = section.get("license", {}) if isinstance(section.get("license"), dict) else {}
        plans = section.get("plans", {}) if isinstance(section.get("plans"), dict) else {}
        state = state_dir() / "cloud"
        data = data_dir() / "cloud"

        def path(key: str, default: Path) -> Path:
            value = section.get(key)
            return Path(str(value)).expanduser() if value else default

        roles = section.get("roles", ["owner"])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ConfigError('[cloud] roles must be a list of role names, e.g. roles = ["owner"]')
        free = {**DEFAULT_FREE_LIMITS, **_int_table(plans.get("free", {}), "[cloud.plans.free]")}
        keys = lic.get("trusted_keys", {})
        if not isinstance(keys, dict):
            raise ConfigError('[cloud.license] trusted_keys must be a table of key id = "base64 public key"')
        connect = (
            os.environ.get("LANTERNA_CLOUD_DB_CONNECT_STR")
            or section.get("db_connect_str")
            or os.environ.get("LANTERNA_DB_CONNECT_STR")
            or config.section("memory").get("db_connect_str")
        )
        return cls(
            keys_file=path("keys_file", state / "api-keys.json"),
            policy_file=path("policy_file", Path()) if section.get("policy_file") else None,
            trusted_gateway=bool(section.get("trusted_gateway", False)),
            local_tenant=str(section["tenant"]) if section.get("tenant") else None,
            local_roles=tuple(roles),
            usage_db=path("usage_db", data / "usage.sqlite3"),
            meter_sink=path("meter_sink", data / "meter-events.jsonl"),
            audit_log=path("audit_log", data / "audit.jsonl"),
            audit_head=path("audit_head", state / "audit.head"),
            audit_key_file=path("audit_key_file", state / "audit-head.key"),
            license_dir=path("license_dir", state / "licenses"),
            license_state=state / "license-state.json",
            validator_url=str(lic["validator_url"]).rstrip("/") if lic.get("validator_url") else None,
            trusted_keys={str(k): str(v) for k, v in keys.items()},
            free_limits=free,
            tenants=tuple(str(t) for t in section.get("tenants", [])),
            meter_event_name=str(section.get("meter_event_name", "lanterna_operations")),
            db_connect_str=str(connect) if connect else None,
        )


def _int_table(value: Any, where: str) -> dict[str, int]:
    if not isinstance(value, dict) or not all(isinstance(v, int) for v in value.values()):
        raise ConfigError(f"{where} must map limit names to integers, e.g. operations_per_day = 10")
    return {str(k): int(v) for k, v in value.items()}
