"""The GitHub code source against a fake GitHub API on a real socket."""

from __future__ import annotations

import logging
import time

import pytest

from lanterna.errors import UserError
from lanterna.plugins import reset_host
from lanterna.sources import find_source
from tests.fake_http import Reply
from tests.github_pat.conftest import TOKEN, write_config
from tests.github_pat.helpers import github_api, guarded


def api_call(method: str, *args, **kwargs):
    return guarded(lambda: getattr(github_api(), method)(*args, **kwargs))


def error_of(method: str, *args, **kwargs) -> str:
    with pytest.raises(UserError) as caught:
        api_call(method, *args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and TOKEN not in message
    return message


def test_the_source_is_found_by_scheme_and_reads_a_file(github):
    from lanterna.plugins import get_host

    source = find_source(get_host(), "github")
    text = guarded(source.read_file, "acme/billing", "src/billing/tax.py")
    assert "VAT_RATE = 0.2" in text
    files = guarded(source.list_files, "acme/billing", "src")
    assert sorted(f.path for f in files) == ["src/billing/invoice.py", "src/billing/tax.py"]
    assert all(f.digest and f.digest.startswith("git:") for f in files)
    commits = guarded(source.list_commits, "acme/billing")
    assert len(commits) == 1 and commits[0]["message"].startswith("commit ")


def test_read_at_an_older_ref(github):
    first = github.repos["acme/billing"].branches["main"]
    github.commit("acme/billing", {**github.files("acme/billing"), "src/billing/tax.py": "VAT_RATE = 0.25\n"})
    assert "0.25" in api_call("read", "acme/billing", "src/billing/tax.py")
    assert "0.2\n" in api_call("read", "acme/billing", "src/billing/tax.py", ref=first[:12])


def test_every_request_is_a_get_with_the_documented_headers(github):
    api_call("repos")
    api_call("prs", "acme/billing")
    seen = github.requests()
    assert seen and {s.method for s in seen} == {"GET"}
    for s in seen:
        assert s.headers["authorization"] == f"Bearer {TOKEN}"
        assert s.headers["x-github-api-version"] == "2022-11-28"
        assert s.headers["user-agent"].startswith("lanterna")


def test_repositories_paginate_by_link_header(github):
    for i in range(130):
        github.add_repo(f"acme/svc-{i:03}", {"x.py": f"X = {i}\n"})
    repos = api_call("repos", limit=500)
    assert len(repos) == 131
    pages = github.requests(lambda s: s.path == "/user/repos")
    assert [s.query.get("page") for s in pages] == [None, "2"]
    assert len(api_call("repos", limit=5)) == 5


def test_check_reports_a_classic_token_that_can_write(github):
    report = api_call("check")
    assert report["user"] == "ada" and report["token_kind"] == "classic"
    assert report["scopes"] == ["repo"] and report["can_write"] is True
    assert any("can write (repo)" in w for w in report["warnings"])
    assert report["rate_limit"]["limit"] == 5000


def test_check_says_a_fine_grained_token_reports_no_scopes(github):
    github.tokens[TOKEN].scopes = None
    report = api_call("check")
    assert report["token_kind"] == "fine-grained" and report["scopes"] is None and report["can_write"] == "unknown"
    assert "reports no scopes for fine-grained tokens" in report["warnings"][0]


def test_pull_requests_with_a_capped_diff_and_issues_without_pull_requests(github, lanterna_home):
    repo = github.repos["acme/billing"]
    repo.pulls.append({"number": 7, "title": "Round VAT", "state": "open", "user": {"login": "bob"}, "body": "why"})
    repo.diffs[7] = "diff --git a/src/billing/tax.py b/src/billing/tax.py\n" + "+x\n" * 20_000
    repo.issues += [
        {"number": 3, "title": "VAT wrong", "state": "open", "user": {"login": "eve"}, "labels": [{"name": "bug"}]},
        {"number": 7, "title": "Round VAT", "state": "open", "pull_request": {"url": "…"}},
    ]
    repo.comments[3] = [{"user": {"login": "ada"}, "created_at": "2026-11-21T00:00:00Z", "body": "confirmed"}]
    write_config(lanterna_home, github.base_url, "diff_limit = 1000\n")
    assert [p["number"] for p in api_call("prs", "acme/billing")] == [7]
    pr = api_call("pr", "acme/billing", 7)
    assert pr["author"] == "bob" and pr["diff"].startswith("diff --git") and len(pr["diff"]) == 1000
    assert pr["diff_truncated"] is True
    assert [i["number"] for i in api_call("issues", "acme/billing")] == [3]
    issue = api_call("issue", "acme/billing", 3)
    assert issue["labels"] == ["bug"] and issue["comments"][0]["body"] == "confirmed"


def test_code_search_returns_paths_and_fragments(github):
    hits = api_call("search", "with_vat", "acme/billing")
    assert [(h["repo"], h["path"]) for h in hits] == [("acme/billing", "src/billing/tax.py")]
    assert "with_vat" in hits[0]["fragment"]
    assert github.requests(lambda s: s.path == "/search/code")[0].query["q"] == "with_vat repo:acme/billing"


def test_a_missing_repository_is_a_one_line_404(github):
    message = error_of("read", "acme/nope", "README.md")
    assert "GitHub has no README.md in acme/nope, or the token cannot see it (404)" in message


def test_a_bad_repository_name_is_refused_before_any_request(github):
    assert "use OWNER/REPO" in error_of("read", "not-a-repo", "README.md")
    assert github.requests() == []


def test_a_revoked_token_is_a_401_that_says_to_create_a_new_one(github):
    del github.tokens[TOKEN]
    message = error_of("repos")
    assert message.startswith("GitHub rejected the token (401) (Bad credentials)")
    assert "set GITHUB_TOKEN" in message


def test_a_403_without_rate_limit_says_which_scope(github):
    github.fault(
        "/repos/acme/billing/contents", Reply(403, {"message": "Resource not accessible by personal access token"})
    )
    message = error_of("read", "acme/billing", "README.md")
    assert "refused access to README.md in acme/billing (403)" in message and "'repo' scope" in message


def test_no_token_at_all_says_where_to_put_one(github, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    message = error_of("repos")
    assert message == "no GitHub token: set GITHUB_TOKEN or GH_TOKEN, or [github] token in the config file"


def test_gh_token_and_the_config_file_also_work(github, monkeypatch, lanterna_home):
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    assert api_call("repo", "acme/billing")["default_branch"] == "main"
    monkeypatch.delenv("GH_TOKEN")
    write_config(lanterna_home, github.base_url, f'token = "{TOKEN}"\n')
    reset_host()
    assert api_call("repo", "acme/billing")["full_name"] == "acme/billing"


def test_exhausted_primary_rate_limit_waits_until_reset(github):
    reset = str(int(time.time()) + 1)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    github.fault("/user/repos", Reply(403, {"message": "API rate limit exceeded for user ID 1."}, headers))
    started = time.monotonic()
    assert api_call("repos")[0]["full_name"] == "acme/billing"
    assert time.monotonic() - started >= 0.5
    assert len(github.requests(lambda s: s.path == "/user/repos")) == 2


def test_a_rate_limit_reset_too_far_away_fails_saying_when_to_retry(github):
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 3000)}
    github.fault("/user/repos", Reply(403, {"message": "API rate limit exceeded"}, headers))
    started = time.monotonic()
    message = error_of("repos")
    assert time.monotonic() - started < 2
    assert "GitHub rate limit exhausted for /user/repos" in message and "retry after" in message


@pytest.mark.parametrize(
    "reply",
    [
        Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "1"}),
        Reply(403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}),
        Reply(429, {"message": "Too many requests"}),
    ],
    ids=["retry-after", "body-only", "429"],
)
def test_secondary_rate_limits_are_waited_out(github, reply):
    github.fault("/repos/acme/billing/pulls", reply)
    assert api_call("prs", "acme/billing") == []
    assert len(github.requests(lambda s: s.path == "/repos/acme/billing/pulls")) == 2


def test_secondary_limits_back_off_boundedly_then_fail(github):
    github.fault("/user/repos", Reply(403, {"message": "You have exceeded a secondary rate limit."}), times=20)
    message = error_of("repos")
    assert "GitHub secondary rate limit for /user/repos; retry after" in message
    assert 2 <= len(github.requests()) <= 6


def test_server_errors_are_retried_then_reported_in_one_line(github):
    github.fault("/repos/acme/billing", Reply(502, "<html>Bad gateway</html>", {"content-type": "text/html"}), times=2)
    assert api_call("repo", "acme/billing")["full_name"] == "acme/billing"
    github.fault("/repos/acme/billing", Reply(503, {"message": "unavailable"}), times=20)
    message = error_of("repo", "acme/billing")
    assert message.startswith("GitHub answered 503 (server error) for /repos/acme/billing after 4 retries")
    assert "githubstatus.com" in message


def test_a_slow_server_times_out_with_a_one_line_message(github):
    github.fault("/user/repos", Reply(200, [], delay=3))
    started = time.monotonic()
    message = error_of("repos")
    assert time.monotonic() - started < 3
    assert message.startswith("GitHub did not answer within 2 s (GET /user/repos")


def test_github_enterprise_server_base_path(fake_github, lanterna_home, monkeypatch, load_plugins):
    from tests.fake_github import FakeGitHub

    with FakeGitHub(prefix="/api/v3") as ghes:
        ghes.add_token(TOKEN, "ada", set())
        ghes.add_repo("corp/app", {"app.py": "print('ghes')\n"})
        write_config(lanterna_home, ghes.base_url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        load_plugins("github")
        assert api_call("read", "corp/app", "app.py") == "print('ghes')\n"
        assert all(s.path.startswith("/api/v3/") for s in ghes.requests())


def test_the_token_never_reaches_logs_or_messages(github, caplog):
    caplog.set_level(logging.DEBUG)
    api_call("repos")
    error_of("read", "acme/nope", "x")
    github.fault("/user/repos", Reply(500, {"message": f"echo {TOKEN}"}), times=20)
    error_of("repos")
    assert TOKEN not in caplog.text
