"""What the streamable HTTP transport accepts: Host/Origin for every bind address, session limits.

The MCP SDK checks ``Host`` and ``Origin`` (DNS-rebinding protection) only when it binds
127.0.0.1, localhost or ::1; on any other address (``127.0.0.2``, a LAN address, ``0.0.0.0``)
a page on a foreign site could reach the server through a name that resolves to it. Here the
allowed values are computed from the bind address and port, for every address:

- the address itself and, for a loopback address, ``127.0.0.1``, ``localhost`` and ``[::1]``;
- for a wildcard bind (``0.0.0.0``, ``::``), the loopback names plus this machine's host name;
- whatever ``[server] allowed_hosts`` adds (``"mcp.example.com"`` or ``"mcp.example.com:443"``,
  e.g. the name a reverse proxy forwards), also ``LANTERNA_ALLOWED_HOSTS`` (comma-separated).

``Origin``, when a browser sends one, must be ``http://`` or ``https://`` plus an allowed host.

Sessions: at most ``[server] max_sessions`` (default 100) at once, each closed after
``[server] session_idle_s`` seconds (default 600) without a request.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Sequence
from typing import Any

from lanterna.config import Config

DEFAULT_MAX_SESSIONS = 100
DEFAULT_SESSION_IDLE_S = 600.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def _bracketed(address: str) -> str:
    address = address.strip("[]")
    return f"[{address}]" if ":" in address else address


def allowed_hosts(address: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """``Host`` header values the server answers to, each with its port."""
    names: list[str] = [_bracketed(address)]
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        ip = None
    if address.lower() == "localhost" or (ip is not None and (ip.is_loopback or ip.is_unspecified)):
        names += LOOPBACK_HOSTS
    if ip is not None and ip.is_unspecified:
        names.append(socket.gethostname())
    hosts = [f"{name}:{port}" for name in names]
    for entry in (str(e).strip() for e in extra):
        if not entry:
            continue
        hosts.append(entry)  # as given: a bare name is what a client sends on port 80/443
        if not entry.rpartition(":")[2].isdigit() or entry.endswith("]"):
            hosts.append(f"{entry}:{port}")
    return list(dict.fromkeys(hosts))


def transport_options(config: Config, address: str, port: int) -> dict[str, Any]:
    """Keyword arguments for ``MCPServer.run("streamable-http", ...)``."""
    from mcp.server.transport_security import TransportSecuritySettings

    extra = list(config.get("server", "allowed_hosts", []) or [])
    extra += [h for h in os.environ.get("LANTERNA_ALLOWED_HOSTS", "").split(",") if h.strip()]
    hosts = allowed_hosts(address, port, extra)
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return {
        "transport_security": TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        ),
        "max_sessions": int(config.get("server", "max_sessions", DEFAULT_MAX_SESSIONS)),
        "session_idle_timeout": float(config.get("server", "session_idle_s", DEFAULT_SESSION_IDLE_S)),
    }
