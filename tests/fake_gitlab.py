"""A fake GitLab REST API v4 (docs.gitlab.com/api) on 127.0.0.1.

``PRIVATE-TOKEN`` authentication; ``/personal_access_tokens/self`` with scopes, ``active``,
``revoked`` and ``expires_at``; expired and revoked tokens answer 401 with GitLab's
``invalid_token`` bodies; API calls without ``read_api``/``api`` answer 403 ``insufficient_scope``.
Projects are named by their URL-encoded path. Lists paginate with ``Link`` and ``x-next-page``
(the repository tree with ``x-next-page`` only); answers carry ETags and ``RateLimit-*`` headers.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fake_github import blob_id
from tests.fake_http import FakeServer, Reply, Seen

UNAUTHORIZED = {"message": "401 Unauthorized"}
NOT_FOUND = {"message": "404 Project Not Found"}


@dataclass
class Token:
    username: str
    projects: set[str]
    scopes: list[str] = field(default_factory=lambda: ["read_api", "read_repository"])
    active: bool = True
    revoked: bool = False
    expires_at: str | None = "2099-01-01"
    name: str = "lanterna"


@dataclass
class Project:
    path: str
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    merge_requests: list[dict[str, Any]] = field(default_factory=list)
    diffs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


class FakeGitLab(FakeServer):
    def __init__(self, prefix: str = "/api/v4") -> None:
        super().__init__(prefix)
        self.tokens: dict[str, Token] = {}
        self.projects: dict[str, Project] = {}

    def add_token(self, token: str, username: str, projects: set[str] | None = None, **kw: Any) -> str:
        self.tokens[token] = Token(username, projects if projects is not None else set(self.projects), **kw)
        return token

    def add_project(self, path: str, files: dict[str, bytes | str]) -> Project:
        project = Project(path)
        self.projects[path] = project
        for token in self.tokens.values():
            token.projects.add(path)
        self.commit(path, files)
        return project

    def commit(self, path: str, files: dict[str, bytes | str], branch: str = "main") -> str:
        project = self.projects[path]
        content = {p: v.encode() if isinstance(v, str) else v for p, v in files.items()}
        digest = hashlib.sha1((project.branches.get(branch) or "").encode())
        for name in sorted(content):
            digest.update(name.encode() + b"\0" + blob_id(content[name]).encode())
        sha = digest.hexdigest()
        project.commits[sha] = content
        project.branches[branch] = sha
        project.history.insert(0, sha)
        return sha

    def files(self, path: str) -> dict[str, bytes]:
        project = self.projects[path]
        return dict(project.commits[project.branches[project.default_branch]])

    # -- answering ---------------------------------------------------------------------

    def answer(self, seen: Seen, path: str) -> Reply:
        token = self.tokens.get(seen.headers.get("private-token", ""))
        if token is None:
            return Reply(401, UNAUTHORIZED)
        if token.revoked:
            description = "Token was revoked. You have to re-authorize from the user."
            return Reply(401, {"error": "invalid_token", "error_description": description})
        if token.expires_at and token.expires_at < datetime.now(UTC).date().isoformat():
            return Reply(401, {"error": "invalid_token", "error_description": "Token has expired."})
        if path == "/personal_access_tokens/self":
            return self._finish(seen, Reply(200, self._token_json(token)))
        if not {"read_api", "api"} & set(token.scopes):
            description = "The request requires higher privileges than provided by the access token."
            body = {"error": "insufficient_scope", "error_description": description, "scope": "api read_api"}
            return Reply(403, body)
        return self._finish(seen, self._route(seen, path, token))

    def _finish(self, seen: Seen, reply: Reply) -> Reply:
        if reply.status == 200:
            etag = 'W/"' + hashlib.sha256(reply.payload()).hexdigest()[:32] + '"'
            if seen.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"etag": etag})
            reply.headers.setdefault("etag", etag)
        reply.headers.update({"ratelimit-limit": "2000", "ratelimit-remaining": "1999", "ratelimit-observed": "1"})
        return reply

    def _token_json(self, token: Token) -> dict[str, Any]:
        return {
            "id": 42,
            "name": token.name,
            "revoked": token.revoked,
            "created_at": "2026-01-01T00:00:00.000Z",
            "scopes": token.scopes,
            "user_id": 7,
            "last_used_at": None,
            "active": token.active,
            "expires_at": token.expires_at,
        }

    def _project_json(self, project: Project) -> dict[str, Any]:
        return {
            "id": abs(hash(project.path)) % 10**6,
            "path_with_namespace": project.path,
            "name": project.path.rsplit("/", 1)[-1],
            "description": f"the {project.path} project",
            "default_branch": project.default_branch,
            "visibility": "private",
            "archived": False,
            "last_activity_at": "2026-11-20T10:00:00.000Z",
            "web_url": f"https://gitlab.example.com/{project.path}",
        }

    def _route(self, seen: Seen, path: str, token: Token) -> Reply:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["user"]:
            return Reply(200, {"id": 7, "username": token.username, "name": token.username.title(), "state": "active"})
        if parts == ["projects"]:
            mine = [self._project_json(self.projects[p]) for p in sorted(token.projects) if p in self.projects]
            return self._page(seen, path, mine)
        if len(parts) >= 2 and parts[0] == "projects":
            project = self.projects.get(parts[1])
            if project is None or parts[1] not in token.projects:
                return Reply(404, NOT_FOUND)
            return self._project_route(seen, path, project, parts[2:])
        return Reply(404, {"error": "404 Not Found"})

    def _resolve(self, project: Project, ref: str) -> str | None:
        if ref in project.branches:
            return project.branches[ref]
        return next((sha for sha in project.commits if sha.startswith(ref) and len(ref) >= 7), None)

    def _project_route(self, seen: Seen, path: str, project: Project, rest: list[str]) -> Reply:
        commit_not_found = Reply(404, {"message": "404 Commit Not Found"})
        if not rest:
            return Reply(200, self._project_json(project))
        if rest[:2] == ["repository", "commits"]:
            if len(rest) == 3:
                sha = self._resolve(project, rest[2])
                if sha is None:
                    return commit_not_found
                return Reply(200, self._commit_json(sha))
            wanted = seen.query.get("path")
            rows = [self._commit_json(s) for s in project.history if not wanted or wanted in project.commits[s]]
            return self._page(seen, path, rows)
        if rest[:2] == ["repository", "tree"]:
            sha = self._resolve(project, seen.query.get("ref", project.default_branch))
            if sha is None:
                return Reply(404, {"message": "404 Tree Not Found"})
            files = project.commits[sha]
            rows = [{"id": blob_id(files[p]), "name": p.rsplit("/", 1)[-1], "type": "blob", "path": p, "mode": "100644"}
                    for p in sorted(files)]  # fmt: skip
            dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
            rows += [{"id": "0" * 40, "name": d.rsplit("/", 1)[-1], "type": "tree", "path": d, "mode": "040000"}
                     for d in dirs]  # fmt: skip
            return self._page(seen, path, rows, link=False)
        if rest[:2] == ["repository", "blobs"] and len(rest) == 4 and rest[3] == "raw":
            for files in project.commits.values():
                for data in files.values():
                    if blob_id(data) == rest[2]:
                        return Reply(200, data, {"content-type": "text/plain; charset=utf-8"})
            return Reply(404, {"message": "404 Blob Not Found"})
        if rest[:2] == ["repository", "files"] and len(rest) == 4 and rest[3] == "raw":
            sha = self._resolve(project, seen.query.get("ref", project.default_branch))
            data = project.commits.get(sha or "", {}).get(rest[2])
            if data is None:
                return Reply(404, {"message": "404 File Not Found"})
            return Reply(200, data, {"content-type": "text/plain; charset=utf-8"})
        if rest == ["repository", "archive.tar.gz"]:
            sha = self._resolve(project, seen.query.get("sha", project.default_branch))
            if sha is None:
                return commit_not_found
            return Reply(200, self._archive(project, sha), {"content-type": "application/octet-stream"})
        if rest == ["search"]:
            return self._search(seen, path, project)
        if rest == ["merge_requests"]:
            state = seen.query.get("state", "all")
            return self._page(seen, path, [m for m in project.merge_requests if state in ("all", m["state"])])
        if rest[0] == "merge_requests" and len(rest) in (2, 3):
            mr = next((m for m in project.merge_requests if str(m["iid"]) == rest[1]), None)
            if mr is None:
                return Reply(404, {"message": "404 Not found"})
            if len(rest) == 3 and rest[2] == "diffs":
                return self._page(seen, path, project.diffs.get(mr["iid"], []))
            return Reply(200, mr)
        if rest == ["issues"]:
            state = seen.query.get("state", "all")
            return self._page(seen, path, [i for i in project.issues if state in ("all", i["state"])])
        if rest[0] == "issues" and len(rest) in (2, 3):
            issue = next((i for i in project.issues if str(i["iid"]) == rest[1]), None)
            if issue is None:
                return Reply(404, {"message": "404 Not found"})
            if len(rest) == 3 and rest[2] == "notes":
                return self._page(seen, path, project.notes.get(issue["iid"], []))
            return Reply(200, issue)
        return Reply(404, {"error": "404 Not Found"})

    def _commit_json(self, sha: str) -> dict[str, Any]:
        return {
            "id": sha,
            "short_id": sha[:8],
            "title": f"commit {sha[:8]}",
            "message": f"commit {sha[:8]}\n",
            "author_name": "Ada",
            "authored_date": "2026-11-20T10:00:00.000+00:00",
        }

    def _archive(self, project: Project, sha: str) -> bytes:
        top = f"{project.path.rsplit('/', 1)[-1]}-{sha}-{sha}"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, data in sorted(project.commits[sha].items()):
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def _search(self, seen: Seen, path: str, project: Project) -> Reply:
        if seen.query.get("scope") != "blobs":
            return Reply(400, {"error": "scope does not have a valid value"})
        needle = seen.query.get("search", "").lower()
        rows = []
        for name, data in sorted(self.files(project.path).items()):
            lines = data.decode("utf-8", errors="replace").splitlines()
            for number, line in enumerate(lines, 1):
                if needle and needle in line.lower():
                    rows.append(
                        {"basename": name.rsplit(".", 1)[0], "data": line, "path": name, "filename": name,
                         "id": None, "ref": project.default_branch, "startline": number, "project_id": 1}
                    )  # fmt: skip
                    break
        return self._page(seen, path, rows)

    def _page(self, seen: Seen, path: str, rows: list[Any], link: bool = True) -> Reply:
        per_page = min(int(seen.query.get("per_page", 20)), 100)
        page = int(seen.query.get("page", 1))
        total_pages = max(1, -(-len(rows) // per_page))
        headers = {"x-page": str(page), "x-per-page": str(per_page), "x-total": str(len(rows))}
        headers["x-total-pages"] = str(total_pages)
        headers["x-next-page"] = str(page + 1) if page < total_pages else ""
        if link and page < total_pages:
            query = {k: v for k, v in seen.query.items() if k != "page"}
            base = f"{self.origin}{self.prefix}{path}"
            headers["link"] = f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"'
        return Reply(200, rows[(page - 1) * per_page : page * per_page], headers)
