"""The GitLab code source against a fake GitLab API on a real socket."""

from __future__ import annotations

import logging
import time

import pytest

from lanterna.errors import UserError
from lanterna.plugins import get_host
from lanterna.sources import find_source
from tests.fake_http import Reply
from tests.gitlab_pat.conftest import OTHER_TOKEN, PROJECT, TOKEN, write_config
from tests.gitlab_pat.helpers import api_call, error_of, guarded


def test_the_source_reads_a_file_of_a_project_in_a_subgroup(gitlab):
    source = find_source(get_host(), "gitlab")
    assert "VAT_RATE = 0.2" in guarded(source.read_file, PROJECT, "src/billing/tax.py")
    files = guarded(source.list_files, PROJECT, "src")
    assert sorted(f.path for f in files) == ["src/billing/invoice.py", "src/billing/tax.py"]
    seen = gitlab.requests()
    assert all(s.headers["private-token"] == TOKEN and s.method == "GET" for s in seen)
    assert any(s.path == "/api/v4/projects/acme%2Fplatform%2Fbilling/repository/tree" for s in seen)


def test_the_tree_paginates_by_x_next_page_and_projects_by_link(gitlab):
    files = {f"pkg/mod_{i:03}.py": f"X = {i}\n" for i in range(230)}
    gitlab.commit(PROJECT, files)
    assert len(api_call("list_files", PROJECT)) == 230
    pages = [s.query.get("page") for s in gitlab.requests(lambda s: s.path.endswith("/repository/tree"))]
    assert pages == [None, "2", "3"]
    for i in range(120):
        gitlab.add_project(f"acme/svc-{i:03}", {"x.py": "X = 1\n"})
    assert len(api_call("repos", limit=500)) == 121


def test_check_accepts_read_scopes(gitlab):
    report = api_call("check")
    assert report["user"] == "ada" and report["scopes"] == ["read_api", "read_repository"]
    assert report["can_write"] is False and report["warnings"] == []
    assert report["rate_limit"]["limit"] == 2000 and report["expires_at"] == "2099-01-01"


def test_check_warns_on_write_scopes(gitlab):
    gitlab.tokens[TOKEN].scopes = ["api", "write_repository"]
    report = api_call("check")
    assert report["can_write"] is True
    assert report["warnings"][0].startswith("this token can write (api, write_repository)")


def test_check_warns_when_read_repository_alone_cannot_read_issues(gitlab):
    gitlab.tokens[TOKEN].scopes = ["read_repository"]
    assert "add read_api" in api_call("check")["warnings"][0]


def test_check_refuses_an_inactive_token(gitlab):
    gitlab.tokens[TOKEN].active = False
    assert error_of("check") == "the GitLab token 'lanterna' is not active; create a new one"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("revoked", True, "Token was revoked."), ("expires_at", "2020-01-01", "Token has expired.")],
)
def test_a_revoked_or_expired_token_is_refused_saying_so(gitlab, field, value, reason):
    setattr(gitlab.tokens[TOKEN], field, value)
    for method, args in (("check", ()), ("repos", ())):
        message = error_of(method, *args)
        assert message.startswith(f"GitLab rejected the token (401) ({reason}") and "set GITLAB_TOKEN" in message


def test_a_token_without_read_api_gets_a_403_that_names_the_scope(gitlab):
    gitlab.tokens[TOKEN].scopes = ["read_repository"]
    message = error_of("issues", PROJECT)
    assert f"GitLab refused access to the issues of {PROJECT} (403)" in message and "read_api" in message


def test_a_missing_project_is_a_one_line_404(gitlab):
    message = error_of("read", "acme/nope", "README.md")
    assert message.startswith("GitLab has no project acme/nope, or the token cannot see it (404)")


def test_a_bad_project_path_is_refused_before_any_request(gitlab):
    assert "use GROUP/PROJECT" in error_of("read", "just-a-name", "README.md")
    assert gitlab.requests() == []


def test_merge_requests_with_capped_diffs_and_issues_with_notes(gitlab, lanterna_home):
    project = gitlab.projects[PROJECT]
    project.merge_requests.append(
        {"iid": 5, "title": "Round VAT", "state": "opened", "author": {"username": "bob"}, "description": "why"}
    )
    project.diffs[5] = [{"old_path": "tax.py", "new_path": "tax.py", "diff": "@@ -1 +1 @@\n" + "+x\n" * 5000}]
    project.issues.append({"iid": 3, "title": "VAT wrong", "state": "opened", "labels": ["bug"], "author": {}})
    project.notes[3] = [
        {"body": "changed the description", "system": True, "author": {"username": "ada"}},
        {"body": "confirmed", "system": False, "author": {"username": "eve"}, "created_at": "2026-11-21"},
    ]
    write_config(lanterna_home, gitlab.base_url, "diff_limit = 500\n")
    assert [m["number"] for m in api_call("prs", PROJECT)] == [5]
    assert api_call("prs", PROJECT, state="merged") == []
    mr = api_call("pr", PROJECT, 5)
    assert mr["author"] == "bob" and mr["diff"].startswith("diff --git a/tax.py b/tax.py\n@@")
    assert len(mr["diff"]) == 500 and mr["diff_truncated"]
    issue = api_call("issue", PROJECT, 3)
    assert issue["labels"] == ["bug"] and [c["body"] for c in issue["comments"]] == ["confirmed"]


def test_code_search_in_a_project(gitlab):
    hits = api_call("search", "with_vat", PROJECT)
    assert [(h["path"], h["line"]) for h in hits] == [("src/billing/tax.py", 3)]


def test_a_429_with_retry_after_is_waited_out(gitlab):
    gitlab.fault("/projects", Reply(429, {"message": "Retry later"}, {"retry-after": "1", "ratelimit-remaining": "0"}))
    started = time.monotonic()
    assert api_call("repos")[0]["full_name"] == PROJECT
    assert time.monotonic() - started >= 0.9


def test_an_exhausted_ratelimit_reset_far_away_fails_saying_when(gitlab):
    reset = str(int(time.time()) + 3000)
    gitlab.fault(
        "/projects", Reply(429, {"message": "Retry later"}, {"ratelimit-remaining": "0", "ratelimit-reset": reset})
    )
    assert "GitLab rate limit exhausted for /api/v4/projects; retry after" in error_of("repos")


def test_server_errors_and_timeouts_are_one_line(gitlab):
    gitlab.fault("/projects", Reply(500, {"message": "500 Internal Server Error"}), times=20)
    assert error_of("repos").startswith("GitLab answered 500 (server error) for /api/v4/projects after 4 retries")
    gitlab.faults.clear()
    gitlab.fault("/projects", Reply(200, [], delay=3))
    assert error_of("repos").startswith("GitLab did not answer within 2 s (GET /api/v4/projects")


def test_self_hosted_base_path(lanterna_home, monkeypatch, load_plugins):
    from tests.fake_gitlab import FakeGitLab

    with FakeGitLab(prefix="/gitlab/api/v4") as hosted:
        hosted.add_token(TOKEN, "ada", set())
        hosted.add_project("corp/app", {"app.py": "print('self-hosted')\n"})
        write_config(lanterna_home, hosted.base_url)
        monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
        load_plugins("gitlab")
        assert api_call("read", "corp/app", "app.py") == "print('self-hosted')\n"
        assert all(s.path.startswith("/gitlab/api/v4/") for s in hosted.requests())


def test_the_token_never_reaches_logs(gitlab, caplog):
    caplog.set_level(logging.DEBUG)
    api_call("repos")
    error_of("read", "acme/nope", "x")
    assert TOKEN not in caplog.text


def test_each_tenant_is_served_with_its_own_token_and_one_without_is_refused(gitlab, lanterna_home):
    from lanterna.guard import Guard
    from lanterna.plugins import reset_host
    from lanterna.testing import RequestTenancy, request_for
    from lanterna_gitlab_pat.api import GitLab

    gitlab.add_token(OTHER_TOKEN, "bob", set())
    gitlab.add_project("beta/app", {"b.py": "B = 1\n"})
    gitlab.tokens[TOKEN].projects.discard("beta/app")
    gitlab.tokens[OTHER_TOKEN].projects = {"beta/app"}
    tenants = f'[gitlab.tenants.a]\ntoken = "{TOKEN}"\n[gitlab.tenants.b]\ntoken = "{OTHER_TOKEN}"\n'
    write_config(lanterna_home, gitlab.base_url, tenants)
    reset_host()
    host = get_host()
    host.register(RequestTenancy(), "request-tenancy")

    def read_as(tenant: str, project: str, path: str) -> str:
        def read() -> str:
            return GitLab.for_current_tenant().read(project, path)

        return Guard(host).run(request_for(tenant), "gitlab.read", f"repo:gitlab:{project}", read)

    gitlab.reset()
    assert read_as("b", "beta/app", "b.py") == "B = 1\n"
    assert {s.headers["private-token"] for s in gitlab.requests()} == {OTHER_TOKEN}
    gitlab.reset()
    with pytest.raises(UserError, match=r"\(404\)"):
        read_as("a", "beta/app", "b.py")
    assert {s.headers["private-token"] for s in gitlab.requests()} == {TOKEN}
    with pytest.raises(UserError) as refused:
        read_as("c", "beta/app", "b.py")
    assert str(refused.value) == (
        "no GitLab token is configured for tenant 'c';"
        " an operator sets [gitlab.tenants.c] token in the server's config file"
    )
