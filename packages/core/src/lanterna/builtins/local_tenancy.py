"""Single-tenant default: every request belongs to the configured local tenant."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lanterna import hookimpl

if TYPE_CHECKING:
    from lanterna.plugins import PluginHost
    from lanterna.types import Identity, RequestContext


class LocalTenancy:
    """Tenant and user from ``LANTERNA_TENANT``/``LANTERNA_USER`` or ``[tenancy]`` config."""

    def __init__(self, host: PluginHost) -> None:
        self.config = host.config
        self._identity: Identity | None = None

    def identity(self) -> Identity:
        """Read once per process, like the rest of the configuration."""
        if self._identity is None:
            self._identity = self._read_identity()
        return self._identity

    def _read_identity(self) -> Identity:
        from lanterna.types import Identity

        tenant = os.environ.get("LANTERNA_TENANT") or self.config.get("tenancy", "default_tenant") or "local"
        user = os.environ.get("LANTERNA_USER") or self.config.get("tenancy", "user")
        if not user:
            import getpass

            try:
                user = getpass.getuser()
            except (KeyError, OSError):
                user = "local"
        return Identity(tenant=str(tenant), user=str(user))

    @hookimpl(trylast=True)
    def tenant_from_request(self, request: RequestContext) -> Identity:
        return self.identity()
