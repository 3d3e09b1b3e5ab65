"""A fake GitHub REST API (docs.github.com/rest, version 2022-11-28) on 127.0.0.1.

Repositories are real git objects: blob ids are git's, commit ids change when content does, and
``/tarball`` redirects (302) to a codeload URL serving a gzip tarball with GitHub's top folder.
Answers carry ETags and answer 304 to ``If-None-Match``; lists paginate with ``Link``; tokens
see only their repositories (404 otherwise, as GitHub does for private ones).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fake_http import FakeServer, Reply, Seen

DOCS = "https://docs.github.com/rest"


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


@dataclass
class Token:
    login: str
    repos: set[str]
    scopes: str | None = "repo"  # None: a fine-grained token (no X-OAuth-Scopes header)


@dataclass
class Repo:
    full_name: str
    default_branch: str = "main"
    private: bool = True
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit -> files
    history: list[str] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    diffs: dict[int, str] = field(default_factory=dict)


class FakeGitHub(FakeServer):
    def __init__(self, prefix: str = "") -> None:
        super().__init__(prefix)
        self.tokens: dict[str, Token] = {}
        self.repos: dict[str, Repo] = {}
        self.remaining = 5000

    # -- set-up ------------------------------------------------------------------------

    def add_token(self, token: str, login: str, repos: set[str] | None = None, scopes: str | None = "repo") -> str:
        self.tokens[token] = Token(login, repos if repos is not None else set(self.repos), scopes)
        return token

    def add_repo(self, full_name: str, files: dict[str, bytes | str], private: bool = True) -> Repo:
        repo = Repo(full_name, private=private)
        self.repos[full_name] = repo
        for token in self.tokens.values():
            token.repos.add(full_name)
        self.commit(full_name, files)
        return repo

    def commit(self, full_name: str, files: dict[str, bytes | str], branch: str = "main") -> str:
        """A new commit on ``branch`` whose tree is exactly ``files``."""
        repo = self.repos[full_name]
        content = {p: v.encode() if isinstance(v, str) else v for p, v in files.items()}
        digest = hashlib.sha1()
        digest.update((repo.branches.get(branch) or "").encode())
        for path in sorted(content):
            digest.update(path.encode() + b"\0" + blob_id(content[path]).encode())
        sha = digest.hexdigest()
        repo.commits[sha] = content
        repo.branches[branch] = sha
        repo.history.insert(0, sha)
        return sha

    def files(self, full_name: str, branch: str = "main") -> dict[str, bytes]:
        repo = self.repos[full_name]
        return dict(repo.commits[repo.branches[branch]])

    # -- answering ---------------------------------------------------------------------

    def answer(self, seen: Seen, path: str) -> Reply:
        if path.startswith("/_codeload/"):
            return self._codeload(path)  # like codeload.github.com: no token needed, none sent
        auth = seen.headers.get("authorization", "")
        token = self.tokens.get(auth.removeprefix("Bearer ").removeprefix("token ").strip()) if auth else None
        if token is None:
            return Reply(401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"})
        reply = self._route(seen, path, token)
        if reply.status == 200:
            etag = '"' + hashlib.sha256(reply.payload()).hexdigest()[:40] + '"'
            if seen.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"etag": etag, **self._rate_headers(False)})
            reply.headers.setdefault("etag", etag)
        reply.headers.update(self._rate_headers(True))
        if token.scopes is not None:
            reply.headers["x-oauth-scopes"] = token.scopes
        return reply

    def _rate_headers(self, counted: bool) -> dict[str, str]:
        if counted:
            self.remaining = max(0, self.remaining - 1)
        reset = int(time.time()) + 3600
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
        }

    def _route(self, seen: Seen, path: str, token: Token) -> Reply:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["user"]:
            return Reply(200, {"login": token.login, "id": 1, "name": token.login.title(), "type": "User"})
        if parts == ["rate_limit"]:
            core = {"limit": 5000, "remaining": self.remaining, "reset": int(time.time()) + 3600, "used": 0}
            return Reply(200, {"resources": {"core": core, "search": {"limit": 30}}, "rate": core})
        if parts == ["user", "repos"]:
            mine = [self._repo_json(self.repos[n]) for n in sorted(token.repos) if n in self.repos]
            return self._page(seen, path, mine)
        if parts == ["search", "code"]:
            return self._search(seen, token)
        if len(parts) >= 3 and parts[0] == "repos":
            name = f"{parts[1]}/{parts[2]}"
            repo = self.repos.get(name)
            if repo is None or name not in token.repos:
                return Reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
            return self._repo_route(seen, path, repo, parts[3:])
        return Reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        owner = repo.full_name.split("/")[0]
        return {
            "id": abs(hash(repo.full_name)) % 10**8,
            "name": repo.full_name.split("/")[1],
            "full_name": repo.full_name,
            "owner": {"login": owner},
            "private": repo.private,
            "description": f"the {repo.full_name} repository",
            "default_branch": repo.default_branch,
            "archived": False,
            "language": "Python",
            "pushed_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
        }

    def _resolve(self, repo: Repo, ref: str) -> str | None:
        if ref == "HEAD":
            ref = repo.default_branch
        if ref in repo.branches:
            return repo.branches[ref]
        return next((sha for sha in repo.commits if sha.startswith(ref) and len(ref) >= 7), None)

    def _repo_route(self, seen: Seen, path: str, repo: Repo, rest: list[str]) -> Reply:
        not_found = Reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
        accept = seen.headers.get("accept", "")
        if not rest:
            return Reply(200, self._repo_json(repo))
        if rest == ["commits"]:
            wanted = seen.query.get("path")
            rows = []
            for sha in repo.history:
                if wanted and wanted not in repo.commits[sha]:
                    continue
                author = {"name": "Ada", "email": "ada@example.com", "date": "2026-11-20T10:00:00Z"}
                rows.append({"sha": sha, "commit": {"author": author, "message": f"commit {sha[:7]}"}})
            return self._page(seen, path, rows)
        if rest[0] == "commits" and len(rest) == 2:
            sha = self._resolve(repo, rest[1])
            if sha is None:
                return Reply(422, {"message": f"No commit found for SHA: {rest[1]}", "status": "422"})
            if "application/vnd.github.sha" in accept:
                return Reply(200, sha, {"content-type": "application/vnd.github.sha; charset=utf-8"})
            return Reply(200, {"sha": sha, "commit": {"message": f"commit {sha[:7]}"}})
        if rest[:2] == ["git", "trees"] and len(rest) == 3:
            sha = self._resolve(repo, rest[2])
            if sha is None:
                return not_found
            files = repo.commits[sha]
            tree = [
                {"path": p, "mode": "100644", "type": "blob", "sha": blob_id(files[p]), "size": len(files[p])}
                for p in sorted(files)
            ]
            dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
            tree += [{"path": d, "mode": "040000", "type": "tree", "sha": "0" * 40} for d in dirs]
            return Reply(200, {"sha": sha, "url": "", "tree": tree, "truncated": False})
        if rest[:2] == ["git", "blobs"] and len(rest) == 3:
            for files in repo.commits.values():
                for data in files.values():
                    if blob_id(data) == rest[2]:
                        if "raw" in accept:
                            return Reply(200, data, {"content-type": "application/vnd.github.raw"})
                        import base64

                        body = {"sha": rest[2], "size": len(data), "encoding": "base64"}
                        return Reply(200, {**body, "content": base64.b64encode(data).decode()})
            return not_found
        if rest[0] == "contents" and len(rest) >= 2:
            sha = self._resolve(repo, seen.query.get("ref") or "HEAD")
            data = repo.commits.get(sha or "", {}).get("/".join(rest[1:]))
            if data is None:
                return not_found
            return Reply(200, data, {"content-type": "application/vnd.github.raw"})
        if rest[0] == "tarball" and len(rest) <= 2:
            sha = self._resolve(repo, rest[1] if len(rest) == 2 else "HEAD")
            if sha is None:
                return not_found
            target = f"{self.origin}{self.prefix}/_codeload/{repo.full_name}/legacy.tar.gz/{sha}"
            return Reply(302, b"", {"location": target})
        if rest == ["pulls"]:
            state = seen.query.get("state", "open")
            rows = [p for p in repo.pulls if state == "all" or p["state"] == state]
            return self._page(seen, path, rows)
        if rest[0] == "pulls" and len(rest) == 2:
            pull = next((p for p in repo.pulls if str(p["number"]) == rest[1]), None)
            if pull is None:
                return not_found
            if "diff" in accept:
                return Reply(200, repo.diffs.get(pull["number"], ""), {"content-type": "text/plain; charset=utf-8"})
            return Reply(200, pull)
        if rest == ["issues"]:
            state = seen.query.get("state", "open")
            rows = [i for i in repo.issues if state == "all" or i["state"] == state]
            return self._page(seen, path, rows)
        if rest[0] == "issues" and len(rest) in (2, 3):
            issue = next((i for i in repo.issues if str(i["number"]) == rest[1]), None)
            if issue is None:
                return not_found
            if len(rest) == 3 and rest[2] == "comments":
                return self._page(seen, path, repo.comments.get(issue["number"], []))
            return Reply(200, issue)
        return not_found

    def _codeload(self, path: str) -> Reply:
        # /_codeload/OWNER/REPO/legacy.tar.gz/SHA
        parts = path.strip("/").split("/")
        repo = self.repos.get(f"{parts[1]}/{parts[2]}")
        if repo is None or parts[4] not in repo.commits:
            return Reply(404, b"Not Found", {"content-type": "text/plain"})
        top = f"{parts[1]}-{parts[2]}-{parts[4][:7]}"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            info = tarfile.TarInfo(top)
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
            for name, data in sorted(repo.commits[parts[4]].items()):
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return Reply(200, buffer.getvalue(), {"content-type": "application/x-gzip"})

    def _search(self, seen: Seen, token: Token) -> Reply:
        words, repos = [], []
        for term in seen.query.get("q", "").split():
            (repos if term.startswith("repo:") else words).append(term.removeprefix("repo:"))
        items = []
        for name in sorted(repos or token.repos):
            repo = self.repos.get(name)
            if repo is None or name not in token.repos:
                continue
            for path, data in sorted(repo.commits[repo.branches[repo.default_branch]].items()):
                text = data.decode("utf-8", errors="replace")
                if words and all(w.lower() in text.lower() for w in words):
                    line = next(ln for ln in text.splitlines() if words[0].lower() in ln.lower())
                    items.append(
                        {
                            "name": path.rsplit("/", 1)[-1],
                            "path": path,
                            "sha": blob_id(data),
                            "html_url": f"https://github.com/{name}/blob/main/{path}",
                            "repository": {"full_name": name},
                            "score": 1.0,
                            "text_matches": [{"fragment": line, "matches": []}],
                        }
                    )
        page = self._page(seen, "/search/code", items)
        page.body = {"total_count": len(items), "incomplete_results": False, "items": page.body}
        return page

    def _page(self, seen: Seen, path: str, rows: list[Any]) -> Reply:
        per_page = min(int(seen.query.get("per_page", 30)), 100)
        page = int(seen.query.get("page", 1))
        chunk = rows[(page - 1) * per_page : page * per_page]
        headers = {}
        last = max(1, -(-len(rows) // per_page))
        if page < last:
            query = {k: v for k, v in seen.query.items() if k != "page"}
            base = f"{self.origin}{self.prefix}{path}"
            headers["link"] = (
                f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next",'
                f' <{base}?{urlencode({**query, "page": last})}>; rel="last"'
            )
        return Reply(200, chunk, headers)
