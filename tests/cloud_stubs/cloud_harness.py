"""Helpers for the cloud-stubs tests: config files, dev keys, API keys, guarded operations."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanterna.guard import Guard
from lanterna.plugins import PluginHost, get_host, reset_host
from lanterna.types import RequestContext
from lanterna_cloud_stubs import devsign
from lanterna_cloud_stubs.plugin import CloudStubs


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> None:
    lines = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


@dataclass
class DevKey:
    path: Path
    key_id: str
    public: str

    def license(self, out: Path, tenant: str, **claims: Any) -> Path:
        doc = devsign.sign(self.path, self.key_id, devsign.make_claims(tenant, **claims))
        out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        return out


@dataclass
class Cloud:
    """A Lanterna home with cloud-stubs loaded from its installed entry point."""

    home: Path
    dev_key: DevKey
    cloud: dict[str, Any] = field(default_factory=dict)
    license: dict[str, Any] = field(default_factory=dict)
    other: dict[str, dict[str, Any]] = field(default_factory=dict)

    def configure(self, **cloud: Any) -> Cloud:
        self.cloud.update(cloud)
        return self.reload()

    def reload(self) -> Cloud:
        lic = {"trusted_keys": {self.dev_key.key_id: self.dev_key.public}, **self.license}
        sections = {"cloud": self.cloud, "cloud.license": lic, **self.other}
        write_config(self.home / "config.toml", sections)
        os.environ["LANTERNA_LOAD_PLUGINS"] = "cloud"
        reset_host()
        return self

    @property
    def host(self) -> PluginHost:
        return get_host()

    @property
    def plugin(self) -> CloudStubs:
        plugin = self.host.pm.get_plugin("cloud")
        assert isinstance(plugin, CloudStubs), [p.as_dict() for p in self.host.plugins]
        return plugin

    def key(self, tenant: str, *roles: str, user: str | None = None) -> str:
        key, _ = self.plugin.keys.create(tenant, user or f"{tenant}-user", roles or ("member",))
        return key

    def http(self, key: str | None = None, **headers: str) -> RequestContext:
        h = {k.replace("_", "-"): v for k, v in headers.items()}
        if key is not None:
            h["authorization"] = f"Bearer {key}"
        return RequestContext(transport="http", headers=h)

    def op(self, request: RequestContext, action: str = "memory.search", resource: str = "repo:/r", **kw: Any) -> Any:
        return Guard(self.host).operation(request, action, resource, **kw)

    def run(self, request: RequestContext, action: str = "memory.search", resource: str = "repo:/r") -> str:
        """Run one guarded no-op; returns the tenant it ran as."""
        from lanterna.guard import current_request

        with self.op(request, action, resource):
            return current_request().tenant or ""

    def audit_lines(self) -> list[str]:
        path = self.plugin.settings.audit_log
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


# -- harnesses for the core's conformance suites ---------------------------------------

FEATURE = "conformance.paid"


class TenancyHarness:
    allowed_action = "conformance.read"
    forbidden_action = "conformance.write"
    bad_credential = "lnt_" + "Q" * 43

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.keys: dict[tuple[str, str], str] = {}
        cloud.other.setdefault("cloud.plans.free", {"operations_per_day": 100_000})
        cloud.reload()

    def _key(self, tenant: str, role: str) -> str:
        if (tenant, role) not in self.keys:
            self.keys[(tenant, role)] = self.cloud.key(tenant, role)
        return self.keys[(tenant, role)]

    def host(self) -> PluginHost:
        self._key("conformance-a", "member")
        self._key("conformance-b", "member")
        return self.cloud.host

    def request_for(self, tenant: str) -> RequestContext:
        return self.cloud.http(self._key(tenant, "member"))

    def restricted_request(self, tenant: str) -> RequestContext:
        return self.cloud.http(self._key(tenant, "viewer"))

    def bad_credential_request(self) -> RequestContext:
        return self.cloud.http(self.bad_credential)

    def cross_tenant_request(self, tenant: str, claimed: str) -> RequestContext:
        return self.cloud.http(self._key(tenant, "member"), x_tenant_id=claimed)


class MeteringHarness(TenancyHarness):
    def host(self, daily_quota: int) -> PluginHost:  # type: ignore[override]
        self.cloud.other["cloud.plans.free"] = {"operations_per_day": daily_quota}
        self.cloud.reload()
        return super().host()


class AuditHarness(TenancyHarness):
    def events(self) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, self.cloud.audit_lines()) if r.get("kind") == "audit"]

    def raw(self) -> str:
        return "\n".join(self.cloud.audit_lines())

    def tamper(self, kind: str) -> None:
        path = self.cloud.plugin.settings.audit_log
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if kind == "edit":
            lines[1] = lines[1].replace('"outcome":"success"', '"outcome":"denied"')
        elif kind == "delete":
            del lines[1]
        elif kind == "reorder":
            lines[1], lines[2] = lines[2], lines[1]
        elif kind == "truncate":
            lines = lines[:-2]
        path.write_text("".join(lines), encoding="utf-8")

    def verify(self) -> list[str]:
        return self.cloud.plugin.audit.verify().problems


class EntitlementsHarness(TenancyHarness):
    tenant = "conformance-a"

    def _install(self, doc: dict[str, Any]) -> None:
        target = self.cloud.plugin.entitlements.license_path(self.tenant)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc), encoding="utf-8")

    def _doc(self, **claims: Any) -> dict[str, Any]:
        key = self.cloud.dev_key
        return devsign.sign(key.path, key.key_id, devsign.make_claims(self.tenant, features=[FEATURE], **claims))

    def setup(self, state: str) -> tuple[PluginHost, RequestContext]:
        import time

        host, now, day = self.host(), time.time(), 86400
        if state == "valid":
            self._install(self._doc(days=30))
        elif state == "grace":
            self._install(self._doc(issued_at=now - 40 * day, expires_at=now - 2 * day, grace_days=7))
        elif state == "expired":
            self._install(self._doc(issued_at=now - 60 * day, expires_at=now - 30 * day, grace_days=7))
        elif state == "tampered":
            doc = self._doc(issued_at=now - 60 * day, expires_at=now - 30 * day, grace_days=7)
            doc["claims"]["expires_at"] = "2099-01-01T00:00:00Z"
            self._install(doc)
        return host, self.request_for(self.tenant)

    def setup_clock_rollback(self) -> tuple[PluginHost, RequestContext]:
        import time

        now = time.time()
        host = self.host()
        self._install(self._doc(issued_at=now - 10 * 86400, expires_at=now - 86400, grace_days=0))
        entitlements = self.cloud.plugin.entitlements
        assert entitlements.evaluate(self.tenant).state == "expired"  # seen at the true time first
        entitlements.clock = lambda: now - 3 * 86400
        return host, self.request_for(self.tenant)


def lanterna(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run the installed ``lanterna`` command with the cloud plugin loaded."""
    import subprocess
    import sys

    script = Path(sys.executable).parent / "lanterna"
    isolated = {"LANTERNA_CONFIG", "LANTERNA_DATA_DIR", "LANTERNA_TENANT", "LANTERNA_USER", "LANTERNA_API_KEY"}
    full = {k: v for k, v in os.environ.items() if k not in isolated}
    full.update({"LANTERNA_HOME": str(home), "LANTERNA_LOAD_PLUGINS": "cloud", **(env or {})})
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=full, timeout=60)
