"""The GitLab REST API (v4) calls Lanterna makes, all GET, through ``lanterna.readonly_http``.

Shapes follow docs.gitlab.com/api. One ``GitLab`` object serves one tenant: it is built with
that tenant's token and HTTP cache. Projects are named by their full path, URL-encoded as the
API's ``:id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from lanterna.codehost import HostAPI, archive_files, files_under, text_of
from lanterna.readonly_http import Provider
from lanterna.sources import RepoFile, Snapshot, SourceError
from lanterna_gitlab_pat.host import HOST

PROVIDER = Provider(
    name="GitLab",
    token_hint="set GITLAB_TOKEN (or [gitlab] token in the config file)",
    scopes_hint="give the token the read_api scope (read_repository alone cannot list merge requests or issues)",
    status_page="https://status.gitlab.com",
)
PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
READ_SCOPES = {"read_api", "read_repository"}
WRITE_SCOPES = {"api", "write_repository", "sudo", "admin_mode", "create_runner", "manage_runner", "k8s_proxy"}
STATES = {"open": "opened", "opened": "opened", "closed": "closed", "merged": "merged", "all": "all"}
#: Above this many changed files (or half the project), one archive beats a request per blob.
BLOB_REQUESTS_MAX = 20


def check_project(project: str) -> str:
    project = project.strip().strip("/")
    if not PROJECT_PATH.match(project):
        raise SourceError(f"'{project}' is not a GitLab project path; use GROUP/PROJECT, e.g. gitlab-org/gitlab")
    return project


def _id(project: str) -> str:
    return quote(check_project(project), safe="")


def _state(state: str) -> str:
    if state not in STATES:
        raise SourceError(f"unknown state '{state}'; use open, closed, merged or all")
    return STATES[state]


class GitLab(HostAPI):
    host = HOST
    provider = PROVIDER

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"private-token": token}

    # -- identity ----------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Who the token belongs to, its scopes and expiry, the rate limit, whether it can write.

        A revoked, inactive or expired token is refused with a message that says so.
        """
        token = self.client.json_ok("/personal_access_tokens/self", "the token's own details")
        expires = token.get("expires_at")
        if token.get("revoked"):
            raise SourceError(f"the GitLab token '{token.get('name')}' is revoked; create a new one with read_api")
        if expires and date.fromisoformat(expires) < datetime.now(UTC).date():
            raise SourceError(f"the GitLab token '{token.get('name')}' expired on {expires}; create a new one")
        if token.get("active") is False:
            raise SourceError(f"the GitLab token '{token.get('name')}' is not active; create a new one")
        answer = self.client.get("/user")  # needs read_user or read_api: read_repository alone gets a 403
        user = answer.json() if answer.status == 200 else {}
        if answer.status != 403:
            self.client.check(answer, "the token's user")
        scopes = list(token.get("scopes") or [])
        writes = sorted(set(scopes) & WRITE_SCOPES)
        warnings = []
        if writes:
            warnings.append(
                f"this token can write ({', '.join(writes)}); Lanterna only reads: a token with read_api"
                " (and read_repository) is safer"
            )
        if not set(scopes) & (READ_SCOPES | {"api"}):
            warnings.append("this token cannot read projects; give it read_api")
        elif "read_api" not in scopes and "api" not in scopes:
            warnings.append("read_repository alone cannot list merge requests or issues; add read_api")
        headers = answer.headers
        return {
            "user": user.get("username"),
            "name": user.get("name"),
            "base_url": self.settings.base_url,
            "token_name": token.get("name"),
            "scopes": scopes,
            "expires_at": expires,
            "can_write": bool(writes),
            "rate_limit": {
                "limit": _int(headers.get("ratelimit-limit")),
                "remaining": _int(headers.get("ratelimit-remaining")),
                "reset": _int(headers.get("ratelimit-reset")),
            },
            "warnings": warnings,
        }

    # -- projects ----------------------------------------------------------------------

    def repos(self, limit: int = 50) -> list[dict[str, Any]]:
        params = {"membership": "true", "simple": "true", "order_by": "last_activity_at"}
        items = self.client.pages("/projects", "your projects", params, limit=limit)
        return [
            {
                "full_name": p["path_with_namespace"],
                "private": p.get("visibility", "private") != "public",
                "default_branch": p.get("default_branch"),
                "description": p.get("description"),
                "updated_at": p.get("last_activity_at"),
            }
            for p in items
        ]

    def repo(self, project: str) -> dict[str, Any]:
        p = self.client.json_ok(f"/projects/{_id(project)}", f"project {project}", revalidate=True)
        return {
            "full_name": p.get("path_with_namespace"),
            "description": p.get("description"),
            "default_branch": p.get("default_branch"),
            "private": p.get("visibility", "private") != "public",
            "archived": p.get("archived"),
            "pushed_at": p.get("last_activity_at"),
        }

    def commit_sha(self, project: str, ref: str | None) -> str:
        """The commit ``ref`` (default branch if None) points at; 304s when nothing moved."""
        pid = _id(project)
        if ref is None:
            ref = self.repo(project)["default_branch"]
            if not ref:
                raise SourceError(f"GitLab project {project} has no default branch (is it empty?)")
        what = f"{project}@{ref}"
        commit = self.client.json_ok(f"/projects/{pid}/repository/commits/{quote(ref, safe='')}", what, revalidate=True)
        sha = str(commit.get("id", ""))
        if not re.fullmatch(r"[0-9a-f]{40,64}", sha):
            raise SourceError(f"GitLab did not answer a commit id for {what}; check the base URL")
        return sha

    def tree(self, project: str, sha: str) -> list[RepoFile]:
        """Every file of the commit with its blob id (pages at a commit id never change)."""
        items = self.client.pages(
            f"/projects/{_id(project)}/repository/tree",
            f"the tree of {project}@{sha[:12]}",
            {"recursive": "true", "ref": sha},
            limit=1_000_000,
            immutable=True,
        )
        return [
            RepoFile(e["path"], None, f"git:{e['id']}")
            for e in items
            if e.get("type") == "blob" and e.get("mode") != "120000"
        ]

    def list_files(self, project: str, path: str = "", ref: str | None = None) -> list[RepoFile]:
        return files_under(self.tree(project, self.commit_sha(project, ref)), path)

    def read(self, project: str, path: str, ref: str | None = None) -> str:
        path = path.strip("/")
        what = f"{path} in {project}" + (f"@{ref}" if ref else "")
        if ref is None:
            ref = self.repo(project)["default_branch"] or "HEAD"
        answer = self.client.get_ok(
            f"/projects/{_id(project)}/repository/files/{quote(path, safe='')}/raw", what, {"ref": ref}
        )
        return text_of(answer.content, what)

    def search(self, query: str, project: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        params = {"scope": "blobs", "search": query}
        path = f"/projects/{_id(project)}/search" if project else "/search"
        items = self.client.pages(path, "code search", params, limit=limit)
        return [
            {"repo": project, "path": i.get("path"), "fragment": i.get("data"), "line": i.get("startline")}
            for i in items
        ]

    def commits(self, project: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        items = self.client.pages(
            f"/projects/{_id(project)}/repository/commits", f"the commits of {project}", {"path": path}, limit=limit
        )
        return [
            {
                "sha": c["id"],
                "author": c.get("author_name"),
                "date": c.get("authored_date"),
                "message": c.get("message"),
            }
            for c in items
        ]

    # -- merge requests and issues -----------------------------------------------------

    def prs(self, project: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
        items = self.client.pages(
            f"/projects/{_id(project)}/merge_requests",
            f"the merge requests of {project}",
            {"state": _state(state)},
            limit=limit,
        )
        return [_merge_request(m) for m in items]

    def pr(self, project: str, number: int) -> dict[str, Any]:
        pid = _id(project)
        what = f"merge request !{number} of {project}"
        result = _merge_request(self.client.json_ok(f"/projects/{pid}/merge_requests/{number}", what))
        limit = self.settings.diff_limit
        parts: list[str] = []
        size = 0
        for change in self.client.pages(f"/projects/{pid}/merge_requests/{number}/diffs", what, limit=1000):
            part = f"diff --git a/{change.get('old_path')} b/{change.get('new_path')}\n{change.get('diff', '')}"
            parts.append(part)
            size += len(part)
            if size > limit:
                break
        diff = "".join(parts)
        result["diff"] = diff[:limit]
        result["diff_truncated"] = len(diff) > limit
        return result

    def issues(self, project: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
        items = self.client.pages(
            f"/projects/{_id(project)}/issues", f"the issues of {project}", {"state": _state(state)}, limit=limit
        )
        return [_issue(i) for i in items]

    def issue(self, project: str, number: int, comments: int = 50) -> dict[str, Any]:
        pid = _id(project)
        what = f"issue #{number} of {project}"
        result = _issue(self.client.json_ok(f"/projects/{pid}/issues/{number}", what))
        notes = self.client.pages(f"/projects/{pid}/issues/{number}/notes", what, {"sort": "asc"}, limit=comments)
        result["comments"] = [
            {
                "author": (n.get("author") or {}).get("username"),
                "created_at": n.get("created_at"),
                "body": n.get("body"),
            }
            for n in notes
            if not n.get("system")
        ]
        return result

    # -- ingest ------------------------------------------------------------------------

    def snapshot(self, project: str, ref: str | None = None) -> Snapshot:
        project = check_project(project)
        pid = _id(project)
        sha = self.commit_sha(project, ref)
        files = self.tree(project, sha)
        blobs = {f.path: (f.digest or "")[4:] for f in files}
        stats: dict[str, Any] = {}

        def fetch(paths: list[str]) -> Iterator[tuple[str, bytes]]:
            if len(paths) > BLOB_REQUESTS_MAX or 2 * len(paths) >= len(files):
                yield from self._from_archive(pid, project, sha, set(paths))
            else:
                for path in paths:
                    url = f"/projects/{pid}/repository/blobs/{blobs[path]}/raw"
                    yield path, self.client.get_ok(url, f"{path} in {project}").content
            stats.update(self._stats())

        stats.update(self._stats())
        return Snapshot(f"gitlab:{project}@{sha}", sha, files, fetch, stats)

    def _from_archive(self, pid: str, project: str, sha: str, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
        data = self.client.get_ok(
            f"/projects/{pid}/repository/archive.tar.gz", f"the archive of {project}@{sha[:12]}", {"sha": sha}
        ).content
        return archive_files(data, wanted)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _merge_request(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": m.get("iid"),
        "title": m.get("title"),
        "state": m.get("state"),
        "author": (m.get("author") or {}).get("username"),
        "draft": m.get("draft"),
        "merged": m.get("state") == "merged",
        "base": m.get("target_branch"),
        "head": m.get("source_branch"),
        "updated_at": m.get("updated_at"),
        "body": m.get("description") or "",
        "url": m.get("web_url"),
    }


def _issue(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": i.get("iid"),
        "title": i.get("title"),
        "state": i.get("state"),
        "author": (i.get("author") or {}).get("username"),
        "labels": list(i.get("labels") or []),
        "comments": i.get("user_notes_count"),
        "updated_at": i.get("updated_at"),
        "body": i.get("description") or "",
        "url": i.get("web_url"),
    }
