"""Who is asking: API keys over HTTP, a trusted gateway's ``x-tenant-id``, config/env for stdio.

Every refusal raises ``Refused`` with a reason that names no secret: the key itself never
appears in a message, only whether one was sent.
"""

from __future__ import annotations

import os

from lanterna.types import Identity, Refused, RequestContext
from lanterna_cloud_stubs.keys import KeyStore, PgKeyStore
from lanterna_cloud_stubs.settings import Settings


class Tenancy:
    def __init__(self, settings: Settings, keys: KeyStore | PgKeyStore, default_tenant: str | None) -> None:
        self.settings = settings
        self.keys = keys
        self.default_tenant = default_tenant

    def identify(self, request: RequestContext) -> Identity:
        headers = request.headers
        key = _bearer(headers.get("authorization", ""))
        claimed = headers.get("x-tenant-id", "").strip() or None
        if key is None and request.transport != "http":
            key = os.environ.get("LANTERNA_API_KEY") or None
        if key is not None:
            record = self.keys.lookup(key)
            if record is None:
                raise Refused("unknown or revoked API key; create one with `lanterna tenant key-create TENANT`")
            if claimed is not None and claimed != record.tenant:
                raise Refused(
                    "this API key belongs to another tenant than the x-tenant-id header names;"
                    " send the key of that tenant or drop the header",
                    tenant=record.tenant,
                    user=record.user,
                    key_id=record.id,
                )
            return Identity(tenant=record.tenant, user=record.user, roles=record.roles)
        if request.transport == "http":
            return self._gateway(request, claimed)
        return self._local()

    def _gateway(self, request: RequestContext, claimed: str | None) -> Identity:
        if "authorization" in request.headers:
            raise Refused("the authorization header is not 'Bearer <API key>'; send `authorization: Bearer lnt_…`")
        if claimed is None:
            raise Refused(
                "no API key: send `authorization: Bearer <key>` (create one with `lanterna tenant key-create`)"
            )
        if not self.settings.trusted_gateway:
            raise Refused(
                "x-tenant-id without an API key is trusted only behind a gateway;"
                " send an API key, or set [cloud] trusted_gateway = true if a gateway authenticates callers"
            )
        if claimed not in self.known_tenants():
            raise Refused(f"unknown tenant '{_printable(claimed)}'; create it with `lanterna tenant key-create`")
        user = request.headers.get("x-user-id", "").strip() or "gateway"
        roles = tuple(r.strip() for r in request.headers.get("x-roles", "member").split(",") if r.strip())
        return Identity(tenant=claimed, user=user, roles=roles)

    def _local(self) -> Identity:
        tenant = os.environ.get("LANTERNA_TENANT") or self.settings.local_tenant or self.default_tenant or "local"
        user = os.environ.get("LANTERNA_USER") or _os_user()
        return Identity(tenant=tenant, user=user, roles=self.settings.local_roles)

    def known_tenants(self) -> set[str]:
        return self.keys.tenants() | set(self.settings.tenants)


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _printable(value: str, limit: int = 64) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
