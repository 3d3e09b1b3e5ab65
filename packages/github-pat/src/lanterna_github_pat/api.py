"""The GitHub REST API calls Lanterna makes, all GET, through ``lanterna.readonly_http``.

Shapes follow docs.github.com/rest (API version 2022-11-28). One ``GitHub`` object serves one
tenant: it is built with that tenant's token and HTTP cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from lanterna.codehost import HostAPI, archive_files, files_under, text_of
from lanterna.readonly_http import Provider
from lanterna.sources import RepoFile, Snapshot, SourceError
from lanterna_github_pat.host import HOST

PROVIDER = Provider(
    name="GitHub",
    token_hint="set GITHUB_TOKEN (or [github] token in the config file)",
    scopes_hint=(
        "a classic token needs the 'repo' scope for private repositories; a fine-grained token needs"
        " read access to Contents, Metadata, Pull requests and Issues of the repository"
    ),
    status_page="https://www.githubstatus.com",
)
HEADERS = {"accept": "application/vnd.github+json", "x-github-api-version": "2022-11-28"}
RAW = "application/vnd.github.raw+json"
REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
#: Scopes of a classic token that allow writing something.
WRITE_SCOPES = ("repo", "public_repo", "workflow", "delete_repo", "admin:", "write:", "gist", "user", "project")
#: Above this many changed files (or half the repository), one archive beats a request per blob.
BLOB_REQUESTS_MAX = 20


def check_repo(repo: str) -> str:
    repo = repo.strip().strip("/")
    if not REPO_NAME.match(repo):
        raise SourceError(f"'{repo}' is not a GitHub repository name; use OWNER/REPO, e.g. pallets/flask")
    return repo


class GitHub(HostAPI):
    host = HOST
    provider = PROVIDER
    headers = HEADERS

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}

    # -- identity ----------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Who the token belongs to, its scopes, the rate limit, and whether it can write."""
        answer = self.client.get_ok("/user", "the token's user")
        user = answer.json()
        scopes_header = answer.headers.get("x-oauth-scopes")
        rate = self.client.json_ok("/rate_limit", "the rate limit").get("resources", {}).get("core", {})
        result: dict[str, Any] = {
            "user": user.get("login"),
            "name": user.get("name"),
            "base_url": self.settings.base_url,
            "rate_limit": {k: rate.get(k) for k in ("limit", "remaining", "reset")},
            "warnings": [],
        }
        if scopes_header is None:
            result["token_kind"] = "fine-grained"
            result["scopes"] = None
            result["can_write"] = "unknown"
            result["warnings"].append(
                "GitHub reports no scopes for fine-grained tokens: check in its settings that it has"
                " read-only permissions (Contents, Metadata, Pull requests, Issues)"
            )
        else:
            scopes = [s.strip() for s in scopes_header.split(",") if s.strip()]
            writes = [s for s in scopes if any(s == w or s.startswith(w) for w in WRITE_SCOPES)]
            result["token_kind"] = "classic"
            result["scopes"] = scopes
            result["can_write"] = bool(writes)
            if writes:
                result["warnings"].append(
                    f"this token can write ({', '.join(writes)}); Lanterna only reads: a fine-grained token"
                    " with read-only permissions is safer"
                )
        return result

    # -- repositories ------------------------------------------------------------------

    def repos(self, limit: int = 50) -> list[dict[str, Any]]:
        items = self.client.pages("/user/repos", "your repositories", {"sort": "updated"}, limit=limit)
        return [
            {
                "full_name": r["full_name"],
                "private": r.get("private"),
                "default_branch": r.get("default_branch"),
                "description": r.get("description"),
                "updated_at": r.get("updated_at"),
            }
            for r in items
        ]

    def repo(self, repo: str) -> dict[str, Any]:
        repo = check_repo(repo)
        r = self.client.json_ok(f"/repos/{repo}", f"repository {repo}", revalidate=True)
        keys = ("full_name", "description", "default_branch", "private", "archived", "language", "pushed_at")
        return {k: r.get(k) for k in keys}

    def commit_sha(self, repo: str, ref: str | None) -> str:
        """The commit id ``ref`` (default branch: HEAD) points at; a 304 when it has not moved."""
        repo = check_repo(repo)
        target = quote(ref or "HEAD", safe="")
        what = f"{repo}@{ref}" if ref else f"repository {repo}"
        answer = self.client.get_ok(
            f"/repos/{repo}/commits/{target}", what, accept="application/vnd.github.sha", revalidate=True
        )
        sha = answer.text.strip()
        if not re.fullmatch(r"[0-9a-f]{40,64}", sha):
            raise SourceError(f"GitHub did not answer a commit id for {what}; check the base URL")
        return sha

    def tree(self, repo: str, sha: str) -> list[RepoFile]:
        """Every file of the commit (recursive tree), with blob ids; symlinks and submodules left out."""
        body = self.client.json_ok(
            f"/repos/{repo}/git/trees/{sha}", f"the tree of {repo}@{sha[:12]}", {"recursive": "1"}, immutable=True
        )
        if body.get("truncated"):
            raise SourceError(f"{repo} has more files than GitHub lists in one tree; ingest a local clone instead")
        return [
            RepoFile(e["path"], e.get("size"), f"git:{e['sha']}")
            for e in body.get("tree", [])
            if e.get("type") == "blob" and e.get("mode") != "120000"
        ]

    def list_files(self, repo: str, path: str = "", ref: str | None = None) -> list[RepoFile]:
        repo = check_repo(repo)
        return files_under(self.tree(repo, self.commit_sha(repo, ref)), path)

    def read(self, repo: str, path: str, ref: str | None = None) -> str:
        repo = check_repo(repo)
        path = path.strip("/")
        what = f"{path} in {repo}" + (f"@{ref}" if ref else "")
        answer = self.client.get_ok(f"/repos/{repo}/contents/{quote(path)}", what, {"ref": ref}, accept=RAW)
        return text_of(answer.content, what)

    def search(self, query: str, repo: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        q = f"{query} repo:{check_repo(repo)}" if repo else query
        items = self.client.pages(
            "/search/code", "code search", {"q": q}, limit=limit, accept="application/vnd.github.text-match+json"
        )
        return [
            {
                "repo": i.get("repository", {}).get("full_name"),
                "path": i.get("path"),
                "fragment": ((i.get("text_matches") or [{}])[0]).get("fragment"),
                "url": i.get("html_url"),
            }
            for i in items
        ]

    def commits(self, repo: str, path: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        repo = check_repo(repo)
        items = self.client.pages(f"/repos/{repo}/commits", f"the commits of {repo}", {"path": path}, limit=limit)
        return [
            {
                "sha": c["sha"],
                "author": (c.get("commit", {}).get("author") or {}).get("name"),
                "date": (c.get("commit", {}).get("author") or {}).get("date"),
                "message": c.get("commit", {}).get("message", ""),
            }
            for c in items
        ]

    # -- pull requests and issues ------------------------------------------------------

    def prs(self, repo: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
        repo = check_repo(repo)
        items = self.client.pages(f"/repos/{repo}/pulls", f"the pull requests of {repo}", {"state": state}, limit=limit)
        return [_pull(p) for p in items]

    def pr(self, repo: str, number: int) -> dict[str, Any]:
        repo = check_repo(repo)
        what = f"pull request #{number} of {repo}"
        result = _pull(self.client.json_ok(f"/repos/{repo}/pulls/{number}", what))
        diff = self.client.get_ok(f"/repos/{repo}/pulls/{number}", what, accept="application/vnd.github.diff").text
        limit = self.settings.diff_limit
        result["diff"] = diff[:limit]
        result["diff_truncated"] = len(diff) > limit
        return result

    def issues(self, repo: str, state: str = "open", limit: int = 20) -> list[dict[str, Any]]:
        repo = check_repo(repo)
        items = self.client.pages(f"/repos/{repo}/issues", f"the issues of {repo}", {"state": state}, limit=limit * 2)
        return [_issue(i) for i in items if "pull_request" not in i][:limit]

    def issue(self, repo: str, number: int, comments: int = 50) -> dict[str, Any]:
        repo = check_repo(repo)
        what = f"issue #{number} of {repo}"
        result = _issue(self.client.json_ok(f"/repos/{repo}/issues/{number}", what))
        result["body"] = result.get("body") or ""
        items = self.client.pages(f"/repos/{repo}/issues/{number}/comments", what, limit=comments)
        result["comments"] = [
            {"author": (c.get("user") or {}).get("login"), "created_at": c.get("created_at"), "body": c.get("body")}
            for c in items
        ]
        return result

    # -- ingest ------------------------------------------------------------------------

    def snapshot(self, repo: str, ref: str | None = None) -> Snapshot:
        repo = check_repo(repo)
        sha = self.commit_sha(repo, ref)
        files = self.tree(repo, sha)
        blobs = {f.path: (f.digest or "")[4:] for f in files}
        stats: dict[str, Any] = {}

        def fetch(paths: list[str]) -> Iterator[tuple[str, bytes]]:
            if len(paths) > BLOB_REQUESTS_MAX or 2 * len(paths) >= len(files):
                yield from self._from_archive(repo, sha, set(paths))
            else:
                for path in paths:
                    yield path, self.client.get_ok(f"/repos/{repo}/git/blobs/{blobs[path]}", path, accept=RAW).content
            stats.update(self._stats())

        stats.update(self._stats())
        return Snapshot(f"github:{repo}@{sha}", sha, files, fetch, stats)

    def _from_archive(self, repo: str, sha: str, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
        data = self.client.get_ok(f"/repos/{repo}/tarball/{sha}", f"the archive of {repo}@{sha[:12]}").content
        return archive_files(data, wanted)


def _pull(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": p.get("number"),
        "title": p.get("title"),
        "state": p.get("state"),
        "author": (p.get("user") or {}).get("login"),
        "draft": p.get("draft"),
        "merged": p.get("merged_at") is not None,
        "base": (p.get("base") or {}).get("ref"),
        "head": (p.get("head") or {}).get("ref"),
        "updated_at": p.get("updated_at"),
        "body": p.get("body") or "",
        "url": p.get("html_url"),
    }


def _issue(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": i.get("number"),
        "title": i.get("title"),
        "state": i.get("state"),
        "author": (i.get("user") or {}).get("login"),
        "labels": [label.get("name") for label in i.get("labels", []) if isinstance(label, dict)],
        "comments": i.get("comments"),
        "updated_at": i.get("updated_at"),
        "body": i.get("body") or "",
        "url": i.get("html_url"),
    }
