"""Code sources: repositories on a code host that Lanterna reads and ingests.

A plugin registers one source per code host through the ``register_code_sources`` hook.
A source is named by its scheme (``github``, ``gitlab``); ``lanterna ingest github:OWNER/REPO``
finds it here by that name. Sources are read only.

For ingest a source hands out a ``Snapshot``: the files of a repository at one commit, each
with a content id (the git blob id), and a ``fetch`` that downloads the content of the paths
asked for. The ingest pipeline compares the ids with what memory already holds and fetches
only what changed, so the source decides how to download (one archive, or blob by blob).

This module is imported by ``lanterna ingest`` and the ``memory_ingest`` tool only; it imports
no HTTP library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lanterna.errors import UserError

if TYPE_CHECKING:
    from lanterna.plugins import PluginHost

#: Plugins that provide the code hosts people ask for most, by scheme.
KNOWN_PLUGINS = {"github": "lanterna-github-pat", "gitlab": "lanterna-gitlab-pat"}

SPEC = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]{1,30}):(?P<repo>[^\s@:][^\s@]*?)(?:@(?P<ref>[^\s@]+))?$")


class SourceError(UserError):
    """A code source cannot answer: unknown scheme, bad repository name, refused token."""


@dataclass(frozen=True)
class SourceSpec:
    """``scheme:REPO[@REF]`` as typed by the user, e.g. ``github:pallets/flask@main``."""

    scheme: str
    repo: str
    ref: str | None = None

    @classmethod
    def parse(cls, text: str) -> SourceSpec | None:
        """The spec, or None when ``text`` does not look like one (a local path)."""
        match = SPEC.match(text.strip())
        if not match or match["repo"].startswith(("/", "\\")):
            return None
        return cls(match["scheme"], match["repo"].strip("/"), match["ref"])

    def __str__(self) -> str:
        return f"{self.scheme}:{self.repo}" + (f"@{self.ref}" if self.ref else "")


@dataclass(frozen=True)
class RepoFile:
    """One file of a repository tree. ``digest`` identifies its content (``git:<blob id>``):
    two files with the same digest have the same bytes, whatever the commit."""

    path: str
    size: int | None = None
    digest: str | None = None


@dataclass
class Snapshot:
    """The files of a repository at one commit, and how to download their content.

    ``fetch(paths)`` yields ``(path, bytes)`` for the paths asked for, in any order; a path
    it cannot get is left out. ``label`` names the snapshot in reports
    (``github:OWNER/REPO@<commit>``).
    """

    label: str
    commit: str
    files: list[RepoFile]
    fetch: Callable[[list[str]], Iterable[tuple[str, bytes]]]
    stats: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class CodeSource(Protocol):
    """A read-only code host, registered by ``register_code_sources``.

    ``name`` is the scheme users type (``github`` in ``github:OWNER/REPO``). Every method runs
    inside a guarded operation, so the source finds the tenant (and that tenant's token) with
    ``lanterna.guard.current_request()``. Raise ``SourceError`` (a ``UserError``) with one
    line saying what to do; it must never contain the token.
    """

    name: str

    def list_repos(self, limit: int = 50) -> list[dict[str, Any]]:
        """Repositories the credentials can see: ``full_name``, ``description``, ``default_branch``…"""
        ...

    def list_files(self, repo: str, path: str = "", ref: str | None = None) -> list[RepoFile]:
        """Files under ``path`` (the whole tree for ``""``) at ``ref`` (default branch if None)."""
        ...

    def read_file(self, repo: str, path: str, ref: str | None = None) -> str:
        """One file's text at ``ref``."""
        ...

    def search(self, query: str, repo: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Code search: matches with ``repo``, ``path`` and, where the host gives one, a fragment."""
        ...

    def list_commits(self, repo: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Recent commits (``sha``, ``author``, ``date``, ``message``), of one path if given."""
        ...

    def snapshot(self, repo: str, ref: str | None = None) -> Snapshot:
        """The repository's files at ``ref`` for ingest; see ``Snapshot``."""
        ...


def code_sources(host: PluginHost) -> dict[str, CodeSource]:
    """Every registered source by name; the first registration of a name wins."""
    found: dict[str, CodeSource] = {}

    def register(source: CodeSource) -> None:
        name = getattr(source, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a code source needs a non-empty 'name', got {name!r}")
        found.setdefault(name, source)

    host.call("register_code_sources", isolate=True, register=register)
    return found


def find_source(host: PluginHost, scheme: str) -> CodeSource:
    """The source for ``scheme``, or a ``SourceError`` saying which plugin to install."""
    sources = code_sources(host)
    if scheme in sources:
        return sources[scheme]
    if scheme in KNOWN_PLUGINS:
        hint = f"install it with `lanterna install {KNOWN_PLUGINS[scheme]}`"
    else:
        hint = "install a plugin that provides it (`lanterna plugins` lists what is installed)"
    known = ", ".join(sorted(sources)) or "none"
    raise SourceError(f"no code source for '{scheme}:' is installed (installed: {known}); {hint}")


def multi_tenant(host: PluginHost) -> bool:
    """True when an installed tenancy plugin resolves tenants (a multi-tenant server)."""
    builtin = {p.name for p in host.plugins if p.builtin}
    return any(impl.plugin_name not in builtin for impl in host.implementations("tenant_from_request"))


def tenant_token(host: PluginHost, section: str, env_names: tuple[str, ...], provider: str) -> str:
    """The token of the current request's tenant for a code host.

    Single user: the first of ``env_names`` set in the environment, else ``[<section>] token``.
    Multi-tenant: ``[<section>.tenants.<tenant>] token`` only; the server's environment is
    nobody's token, and a tenant without one is refused.
    """
    import os

    from lanterna.guard import current_request

    tenant = current_request().tenant or ""
    settings = host.config.section(section)
    if multi_tenant(host):
        tenants = settings.get("tenants", {})
        entry = tenants.get(tenant, {}) if isinstance(tenants, dict) else {}
        token = entry.get("token") if isinstance(entry, dict) else None
        if not token:
            raise SourceError(
                f"no {provider} token is configured for tenant '{tenant}'; an operator sets"
                f" [{section}.tenants.{tenant}] token in the server's config file"
            )
        return str(token)
    for name in env_names:
        if value := os.environ.get(name, "").strip():
            return value
    if token := str(settings.get("token", "") or "").strip():
        return token
    raise SourceError(f"no {provider} token: set {' or '.join(env_names)}, or [{section}] token in the config file")
