"""What read-only code-host plugins share, public for them: a ``CodeHost`` describes a host
(names, labels, config section, token variables, how to build the tenant's API client) and
this module turns it into the ``[<name>]`` settings, the guarded ``lanterna <name> …`` command
group, the ``CodeSource`` adapter, the MCP tool registration and the API client's base class.

Imported when plugins, tools and commands are listed: no HTTP library at module level. No
``from __future__ import annotations``: typer reads the command annotations at run time.
"""

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

import typer

from lanterna.config import Config
from lanterna.console import JsonOption, fail, print_json
from lanterna.sources import RepoFile, Snapshot, SourceError

if TYPE_CHECKING:
    from lanterna.readonly_http import Provider, ReadOnlyClient


@dataclass(frozen=True)
class CodeHost:
    """A code host as its plugin describes it; the wording is what users read in ``--help``."""

    name: str  #: scheme, config section, CLI group and guard action prefix: "github"
    label: str  #: "GitHub"
    client: Callable[[], Any]  #: the running request's tenant's API client (imports HTTP when called)
    default_base_url: str
    token_env: tuple[str, ...]  #: environment variables holding a single user's token, in order
    help: str  #: the command group's help
    repos_help: str  #: "Repositories the token can see, most recently updated first."
    repo_help: str  #: "The repository, OWNER/REPO."
    repo_word: str = "repository"
    repo_format: str = "OWNER/REPO"
    search_syntax: str = "code search syntax"
    states: str = "open, closed or all."
    change_word: str = "pull request"
    change_verb: str = "prs"  #: guard action of pull/merge requests; also a hidden command when not "prs"
    change_sigil: str = "#"

    def resource(self, repo: str = "*") -> str:
        return f"repo:{self.name}:{repo}"


@dataclass(frozen=True)
class HostSettings:
    """``[<host>]`` settings: API base URL, timeouts, how long to wait for rate limits. Tokens are
    resolved per request, by tenant (``lanterna.sources.tenant_token``)."""

    base_url: str
    timeout: float = 20.0
    max_wait: float = 60.0
    backoff: float = 1.0
    #: the largest diff a pull (merge) request answer carries, in characters
    diff_limit: int = 20_000

    @classmethod
    def from_config(cls, config: Config, host: CodeHost) -> "HostSettings":
        section = config.section(host.name)
        return cls(
            base_url=str(section.get("base_url", host.default_base_url)).rstrip("/"),
            timeout=float(section.get("timeout", cls.timeout)),
            max_wait=float(section.get("max_wait", cls.max_wait)),
            backoff=float(section.get("backoff", cls.backoff)),
            diff_limit=int(section.get("diff_limit", cls.diff_limit)),
        )


class HostAPI:
    """Base of a code host's API client: one tenant's ``ReadOnlyClient`` and settings.

    A subclass sets ``host``, ``provider``, ``headers`` and ``auth``; ``with api:`` closes it.
    """

    host: ClassVar[CodeHost]
    provider: ClassVar["Provider"]
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, client: "ReadOnlyClient", settings: HostSettings) -> None:
        self.client = client
        self.settings = settings

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        """The headers that carry the token."""
        raise NotImplementedError

    @classmethod
    def for_current_tenant(cls) -> Self:
        """A client with the token of the running request's tenant."""
        from lanterna.config import state_dir
        from lanterna.guard import current_request
        from lanterna.plugins import get_host
        from lanterna.readonly_http import EtagCache, ReadOnlyClient
        from lanterna.sources import tenant_token

        host = get_host()
        settings = HostSettings.from_config(host.config, cls.host)
        token = tenant_token(host, cls.host.name, cls.host.token_env, cls.host.label)
        tenant = current_request().tenant or ""
        key = hashlib.sha256(f"{tenant}\n{settings.base_url}".encode()).hexdigest()[:24]
        client = ReadOnlyClient(
            settings.base_url,
            cls.provider,
            cls.auth(token),
            headers=cls.headers or None,
            timeout=settings.timeout,
            max_wait=settings.max_wait,
            backoff=settings.backoff,
            cache=EtagCache(state_dir() / "http-cache" / cls.host.name / key),
        )
        return cls(client, settings)

    def _stats(self) -> dict[str, Any]:
        s = self.client.stats
        return {"requests": s.requests, "not_modified": s.not_modified, "cached": s.cached, "bytes": s.bytes}


def files_under(files: list[RepoFile], path: str) -> list[RepoFile]:
    """The files at or below ``path`` (all of them for ``""``)."""
    prefix = path.strip("/")
    return [f for f in files if not prefix or f.path == prefix or f.path.startswith(prefix + "/")]


def text_of(content: bytes, what: str) -> str:
    """A file's text; a binary file is a ``SourceError``."""
    if b"\x00" in content[:8192]:
        raise SourceError(f"{what} is a binary file; Lanterna reads text only")
    return content.decode("utf-8", errors="replace")


def archive_files(data: bytes, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
    """``(path, bytes)`` of the wanted files in a repository tarball (its top folder dropped)."""
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            path = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if path in wanted:
                handle = archive.extractfile(member)
                if handle is not None:
                    yield path, handle.read()


# -- code source -------------------------------------------------------------------------


class HostSource:
    """The host's ``lanterna.sources.CodeSource``: each call uses the token of the tenant whose
    request is running."""

    def __init__(self, host: CodeHost) -> None:
        self.name = host.name
        self.host = host

    def list_repos(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.host.client() as api:
            return api.repos(limit)

    def list_files(self, repo: str, path: str = "", ref: str | None = None) -> list[RepoFile]:
        with self.host.client() as api:
            return api.list_files(repo, path, ref)

    def read_file(self, repo: str, path: str, ref: str | None = None) -> str:
        with self.host.client() as api:
            return api.read(repo, path, ref)

    def search(self, query: str, repo: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        with self.host.client() as api:
            return api.search(query, repo, limit)

    def list_commits(self, repo: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        with self.host.client() as api:
            return api.commits(repo, path, limit)

    def snapshot(self, repo: str, ref: str | None = None) -> Snapshot:
        return self.host.client().snapshot(repo, ref)  # fetch() uses the client later


# -- MCP tools ---------------------------------------------------------------------------

#: Every code-host tool only reads, from the host: read only, open world.
TOOL_HINTS = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": True}


def register_tools(
    register: Callable[..., None], host: CodeHost, tools: Iterable[tuple[Callable[..., Any], str, str]]
) -> None:
    """Register ``(tool, guard action, title)`` triples; each runs in the guard with the resource
    ``repo:<host>:<repo>`` (``repo:<host>:*`` when it spans repositories)."""

    def per_repo(arguments: dict[str, Any]) -> str:
        return host.resource(str(arguments.get("repo") or "*").strip().strip("/"))

    for fn, action, title in tools:
        register(fn, name=fn.__name__, action=action, resource=per_repo, title=title, annotations=TOOL_HINTS)


# -- CLI ---------------------------------------------------------------------------------


@contextlib.contextmanager
def operation(host: CodeHost, verb: str, repo: str = "*") -> Iterator[Any]:
    """A guarded CLI operation (action ``<host>.<verb>``) handing out the tenant's API client;
    a denial or a user error becomes one line."""
    from lanterna.errors import UserError
    from lanterna.guard import Denied, Guard
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    try:
        guard = Guard(get_host()).operation(RequestContext(transport="cli"), f"{host.name}.{verb}", host.resource(repo))
        with guard, host.client() as api:
            yield api
    except Denied as exc:
        raise fail(f"denied: {exc}", 3) from None
    except UserError as exc:
        raise fail(str(exc), 2) from None


def command_group(host: CodeHost) -> typer.Typer:
    """``lanterna <host> …``: check the token, list repositories, read files, search, pull (merge)
    requests, issues."""
    app = typer.Typer(help=host.help)
    repo_argument = Annotated[str, typer.Argument(help=host.repo_help)]
    limit_option = Annotated[int, typer.Option("--limit", "-n", help="How many.")]
    state_option = Annotated[str, typer.Option("--state", help=host.states)]

    @app.command("check")
    def check_command(as_json: JsonOption = False) -> None:
        """Who the token belongs to, its scopes, the rate limit, and whether it can write."""
        with operation(host, "check") as api:
            report = api.check()
        if as_json:
            return print_json(report)
        print(f"{host.label} user: {report['user']} ({report['base_url']})")
        scopes = (
            "not reported (fine-grained token)" if report["scopes"] is None else ", ".join(report["scopes"]) or "none"
        )
        print(f"token: {report['token_kind']}; scopes: {scopes}; can write: {report['can_write']}")
        rate = report["rate_limit"]
        print(f"rate limit: {rate['remaining']}/{rate['limit']} left")
        for warning in report["warnings"]:
            print(f"warning: {warning}")

    @app.command("repos", help=host.repos_help)
    def repos_command(limit: limit_option = 50, as_json: JsonOption = False) -> None:
        with operation(host, "repos") as api:
            rows = api.repos(limit)
        if as_json:
            return print_json(rows)
        for r in rows:
            private = "private" if r["private"] else "public"
            print(f"{r['full_name']:<40} {private:<8} {r['default_branch'] or ''}  {r['description'] or ''}".rstrip())

    @app.command("read", help=f"Print one file of a {host.repo_word}.")
    def read_command(
        repo: repo_argument,
        path: Annotated[str, typer.Argument(help=f"The file's path in the {host.repo_word}.")],
        ref: Annotated[
            str | None, typer.Option("--ref", help="Branch, tag or commit (default branch if omitted).")
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        with operation(host, "read", repo) as api:
            text = api.read(repo, path, ref)
        if as_json:
            return print_json({"repo": repo, "path": path, "ref": ref, "text": text})
        print(text, end="" if text.endswith("\n") else "\n")

    @app.command("search", help=f"Search code on {host.label}.")
    def search_command(
        query: Annotated[str, typer.Argument(help=f"What to search for ({host.search_syntax}).")],
        repo: Annotated[
            str | None, typer.Option("--repo", "-r", help=f"Only this {host.repo_word}, {host.repo_format}.")
        ] = None,
        limit: limit_option = 20,
        as_json: JsonOption = False,
    ) -> None:
        with operation(host, "search", repo or "*") as api:
            hits = api.search(query, repo, limit)
        if as_json:
            return print_json(hits)
        if not hits:
            print("no results")
        for hit in hits:
            print(f"{hit['repo']}: {hit['path']}")
            if hit["fragment"]:
                print(f"    {' '.join(hit['fragment'].split())[:160]}")

    def prs_command(
        repo: repo_argument,
        number: Annotated[int | None, typer.Argument(help=f"One {host.change_word}, with its diff.")] = None,
        state: state_option = "open",
        limit: limit_option = 20,
        as_json: JsonOption = False,
    ) -> None:
        with operation(host, host.change_verb, repo) as api:
            data: Any = api.pr(repo, number) if number is not None else api.prs(repo, state, limit)
        if as_json:
            return print_json(data)
        for pr in [data] if number is not None else data:
            print(f"{host.change_sigil}{pr['number']:<6} {pr['state']:<7} {pr['author'] or '':<16} {pr['title']}")
        if number is not None:
            print(data["body"])
            print(data["diff"] + ("\n… (diff truncated)" if data["diff_truncated"] else ""))

    prs_help = f"{host.change_word.capitalize()}s of a {host.repo_word}, or one of them with its diff."
    app.command("prs", help=prs_help)(prs_command)
    if host.change_verb != "prs":
        app.command(host.change_verb, help=prs_help, hidden=True)(prs_command)

    @app.command("issues", help=f"Issues of a {host.repo_word}, or one of them with its comments.")
    def issues_command(
        repo: repo_argument,
        number: Annotated[int | None, typer.Argument(help="One issue, with its comments.")] = None,
        state: state_option = "open",
        limit: limit_option = 20,
        as_json: JsonOption = False,
    ) -> None:
        with operation(host, "issues", repo) as api:
            data: Any = api.issue(repo, number) if number is not None else api.issues(repo, state, limit)
        if as_json:
            return print_json(data)
        for issue in [data] if number is not None else data:
            print(f"#{issue['number']:<6} {issue['state']:<7} {issue['author'] or '':<16} {issue['title']}")
        if number is not None:
            print(data["body"])
            for comment in data["comments"]:
                print(f"--- {comment['author']} {comment['created_at']}\n{comment['body']}")

    return app
