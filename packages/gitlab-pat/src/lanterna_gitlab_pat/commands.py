"""``lanterna gitlab …``: check the token, list projects, read files, search, merge requests, issues.

Each command runs as a guarded operation (action ``gitlab.<verb>``, resource
``repo:gitlab:GROUP/PROJECT``) with the local tenant's token. No ``from __future__ import
annotations``: typer reads the annotations at run time.
"""

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from lanterna.console import JsonOption, fail, print_json

app = typer.Typer(help="Read GitLab: token check, projects, files, code search, merge requests, issues.")

RepoArgument = Annotated[str, typer.Argument(help="The project, GROUP/PROJECT (subgroups too).")]
LimitOption = Annotated[int, typer.Option("--limit", "-n", help="How many.")]
StateOption = Annotated[str, typer.Option("--state", help="open, closed, merged or all.")]


@contextlib.contextmanager
def gitlab(action: str, repo: str = "*") -> Iterator[Any]:
    """A guarded CLI operation handing out the tenant's GitLab client; errors become one line."""
    from lanterna.errors import UserError
    from lanterna.guard import Denied, Guard
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    try:
        with Guard(get_host()).operation(RequestContext(transport="cli"), action, f"repo:gitlab:{repo}"):
            from lanterna_gitlab_pat.api import GitLab

            api = GitLab.for_current_tenant()
            with api.client:
                yield api
    except Denied as exc:
        raise fail(f"denied: {exc}", 3) from None
    except UserError as exc:
        raise fail(str(exc), 2) from None


@app.command("check")
def check_command(as_json: JsonOption = False) -> None:
    """Who the token belongs to, its scopes, the rate limit, and whether it can write."""
    with gitlab("gitlab.check") as api:
        report = api.check()
    if as_json:
        return print_json(report)
    print(f"GitLab user: {report['user']} ({report['base_url']})")
    scopes = "not reported (fine-grained token)" if report["scopes"] is None else ", ".join(report["scopes"]) or "none"
    print(f"token: {report['token_kind']}; scopes: {scopes}; can write: {report['can_write']}")
    rate = report["rate_limit"]
    print(f"rate limit: {rate['remaining']}/{rate['limit']} left")
    for warning in report["warnings"]:
        print(f"warning: {warning}")


@app.command("repos")
def repos_command(limit: LimitOption = 50, as_json: JsonOption = False) -> None:
    """Projects the token is a member of, most recently active first."""
    with gitlab("gitlab.repos") as api:
        rows = api.repos(limit)
    if as_json:
        return print_json(rows)
    for r in rows:
        private = "private" if r["private"] else "public"
        print(f"{r['full_name']:<40} {private:<8} {r['default_branch'] or ''}  {r['description'] or ''}".rstrip())


@app.command("read")
def read_command(
    repo: RepoArgument,
    path: Annotated[str, typer.Argument(help="The file's path in the project.")],
    ref: Annotated[str | None, typer.Option("--ref", help="Branch, tag or commit (default branch if omitted).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print one file of a project."""
    with gitlab("gitlab.read", repo) as api:
        text = api.read(repo, path, ref)
    if as_json:
        return print_json({"repo": repo, "path": path, "ref": ref, "text": text})
    print(text, end="" if text.endswith("\n") else "\n")


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to search for (GitLab's search).")],
    repo: Annotated[str | None, typer.Option("--repo", "-r", help="Only this project, GROUP/PROJECT.")] = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Search code on GitLab."""
    with gitlab("gitlab.search", repo or "*") as api:
        hits = api.search(query, repo, limit)
    if as_json:
        return print_json(hits)
    if not hits:
        print("no results")
    for hit in hits:
        print(f"{hit['repo']}: {hit['path']}")
        if hit["fragment"]:
            print(f"    {' '.join(hit['fragment'].split())[:160]}")


@app.command("mrs", hidden=True)
@app.command("prs")
def prs_command(
    repo: RepoArgument,
    number: Annotated[int | None, typer.Argument(help="One merge request, with its diff.")] = None,
    state: StateOption = "open",
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Merge requests of a project, or one of them with its diff."""
    with gitlab("gitlab.mrs", repo) as api:
        data: Any = api.pr(repo, number) if number is not None else api.prs(repo, state, limit)
    if as_json:
        return print_json(data)
    for pr in [data] if number is not None else data:
        print(f"!{pr['number']:<6} {pr['state']:<7} {pr['author'] or '':<16} {pr['title']}")
    if number is not None:
        print(data["body"])
        print(data["diff"] + ("\n… (diff truncated)" if data["diff_truncated"] else ""))


@app.command("issues")
def issues_command(
    repo: RepoArgument,
    number: Annotated[int | None, typer.Argument(help="One issue, with its comments.")] = None,
    state: StateOption = "open",
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Issues of a project, or one of them with its comments."""
    with gitlab("gitlab.issues", repo) as api:
        data: Any = api.issue(repo, number) if number is not None else api.issues(repo, state, limit)
    if as_json:
        return print_json(data)
    for issue in [data] if number is not None else data:
        print(f"#{issue['number']:<6} {issue['state']:<7} {issue['author'] or '':<16} {issue['title']}")
    if number is not None:
        print(data["body"])
        for comment in data["comments"]:
            print(f"--- {comment['author']} {comment['created_at']}\n{comment['body']}")
