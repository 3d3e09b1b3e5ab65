"""Git session memory through a real MCP client session against real repositories in temp dirs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from lanterna.server.app import build_server
from lanterna.session.git import GitError, GitRepo
from tests.core.server_helpers import commit_file, git, init_repo, text_of

pytestmark = pytest.mark.anyio


async def call(name: str, arguments: dict[str, Any] | None = None) -> Any:
    async with Client(build_server()) as client:
        return await client.call_tool(name, arguments or {})


async def ok(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await call(name, arguments)
    assert not result.is_error, text_of(result)
    return result.structured_content


async def error(name: str, arguments: dict[str, Any] | None = None) -> str:
    result = await call(name, arguments)
    assert result.is_error
    message = text_of(result)
    assert "\n" not in message
    return message


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with three commits on main, a feature branch, and the server's cwd in it."""
    repo = init_repo(tmp_path / "project")
    commit_file(repo, "README.md", "hello\n", "Initial commit\n\nWith a body line.")
    commit_file(repo, "src/app.py", "print('v1')\n", "Add the app")
    git(repo, "checkout", "-q", "-b", "feature/login")
    commit_file(repo, "src/app.py", "print('v2')\n", "Fix login redirect (bug #42)")
    git(repo, "checkout", "-q", "main")
    commit_file(repo, "docs/guide.md", "# Guide\n", "Write the guide")
    monkeypatch.chdir(repo)
    return repo


async def test_branch_on_a_branch(repo: Path) -> None:
    info = await ok("session_branch")
    assert info["branch"] == "main" and info["detached"] is False
    assert info["head"] == git(repo, "rev-parse", "HEAD").strip()
    assert Path(info["repository"]).resolve() == repo.resolve()


async def test_detached_head_is_reported_not_an_error(repo: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD~1").strip()
    git(repo, "checkout", "-q", "--detach", sha)
    info = await ok("session_branch")
    assert info["detached"] is True and info["branch"] is None
    assert info["head"] == sha
    assert "detached" in info["description"]


async def test_repository_with_no_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = init_repo(tmp_path / "empty", branch="trunk")
    (empty / "new.txt").write_text("draft\n")
    git(empty, "add", "new.txt")
    (empty / "loose.txt").write_text("x\n")
    monkeypatch.chdir(empty)
    info = await ok("session_branch")
    assert info["branch"] == "trunk" and info["has_commits"] is False and info["head"] is None
    assert (await ok("session_log"))["commits"] == []
    status = await ok("session_status")
    assert status["staged"] == [{"path": "new.txt", "status": "added"}]
    assert status["untracked"] == ["loose.txt"]
    diff = await ok("session_diff")
    assert "+draft" in diff["diff"]
    assert (await ok("session_search_commits", {"query": "anything"}))["commits"] == []


async def test_recent_commits_have_author_date_message_and_files(repo: Path) -> None:
    commits = (await ok("session_log", {"limit": 2}))["commits"]
    assert [c["subject"] for c in commits] == ["Write the guide", "Add the app"]
    newest = commits[0]
    assert newest["author"] == "Ada Tester" and newest["email"] == "ada@example.com"
    assert newest["date"][:4].isdigit() and "T" in newest["date"]
    assert newest["files"] == [{"path": "docs/guide.md", "status": "added"}]
    first = (await ok("session_log", {"limit": 10}))["commits"][-1]
    assert first["message"] == "Initial commit\n\nWith a body line."
    feature = (await ok("session_log", {"limit": 1, "ref": "feature/login"}))["commits"][0]
    assert feature["subject"] == "Fix login redirect (bug #42)"
    assert feature["files"] == [{"path": "src/app.py", "status": "modified"}]


async def test_status_staged_unstaged_untracked(repo: Path) -> None:
    assert (await ok("session_status"))["clean"] is True
    (repo / "README.md").write_text("hello again\n")
    git(repo, "add", "README.md")
    (repo / "src" / "app.py").write_text("print('dirty')\n")
    (repo / "notes.txt").write_text("todo\n")
    git(repo, "mv", "docs/guide.md", "docs/manual.md")
    status = await ok("session_status")
    assert status["clean"] is False
    assert {"path": "README.md", "status": "modified"} in status["staged"]
    assert {"path": "docs/manual.md", "status": "renamed", "from": "docs/guide.md"} in status["staged"]
    assert status["unstaged"] == [{"path": "src/app.py", "status": "modified"}]
    assert status["untracked"] == ["notes.txt"]


async def test_diff_of_working_tree_and_of_a_commit(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("print('v3')\n")
    diff = await ok("session_diff")
    assert "-print('v1')" in diff["diff"] and "+print('v3')" in diff["diff"]
    assert diff["truncated"] is False
    only_docs = await ok("session_diff", {"path": "docs"})
    assert only_docs["diff"].strip() == "" and "no changes" in only_docs["note"]
    sha = git(repo, "rev-parse", "feature/login").strip()
    shown = await ok("session_diff", {"commit": "feature/login"})
    assert sha in shown["diff"] and "+print('v2')" in shown["diff"] and "Fix login redirect" in shown["diff"]


async def test_large_diff_is_capped_and_says_so(repo: Path) -> None:
    (repo / "big.txt").write_text("".join(f"line {i} " + "x" * 80 + "\n" for i in range(5000)))
    git(repo, "add", "big.txt")
    diff = await ok("session_diff", {"max_bytes": 4096})
    assert diff["truncated"] is True
    assert len(diff["diff"].encode()) <= 4096
    assert diff["bytes"] > 400_000
    assert "truncated at 4096 bytes" in diff["note"] and "path=" in diff["note"]


async def test_file_history_follows_renames(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(repo, "mv", "src/app.py", "src/main.py")
    git(repo, "commit", "-q", "-m", "Rename app to main")
    history = await ok("session_file_history", {"path": "src/main.py"})
    assert [c["subject"] for c in history["commits"]] == ["Rename app to main", "Add the app"]
    nested = repo / "src"
    monkeypatch.chdir(nested)
    again = await ok("session_file_history", {"path": "src/main.py"})
    assert len(again["commits"]) == 2


async def test_search_commit_messages(repo: Path) -> None:
    assert (await ok("session_search_commits", {"query": "LOGIN"}))["commits"] == []
    everywhere = await ok("session_search_commits", {"query": "LOGIN", "all_branches": True})
    assert [c["subject"] for c in everywhere["commits"]] == ["Fix login redirect (bug #42)"]
    literal = await ok("session_search_commits", {"query": "(bug #42", "all_branches": True})
    assert len(literal["commits"]) == 1
    pattern = await ok("session_search_commits", {"query": "^(add|write) the", "regex": True})
    assert {c["subject"] for c in pattern["commits"]} == {"Add the app", "Write the guide"}
    assert "empty" in await error("session_search_commits", {"query": "  "})


async def test_paths_outside_the_repository_are_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    (repo / "link").symlink_to(outside)
    for path in ("../secret.txt", str(outside), "link", "src/../../secret.txt"):
        for tool in ("session_file_history", "session_diff"):
            message = await error(tool, {"path": path})
            assert "outside the repository" in message, (tool, path)


async def test_option_like_refs_are_refused(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "written.txt"
    message = await error("session_diff", {"commit": f"--output={target}"})
    assert "not a commit" in message
    assert not target.exists()
    assert "no commit named" in await error("session_log", {"ref": "no-such-branch"})


async def test_outside_a_repository_every_tool_errors_and_the_server_keeps_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    arguments = {"session_file_history": {"path": "a.txt"}, "session_search_commits": {"query": "x"}}
    async with Client(build_server()) as client:
        session_tools = [t.name for t in (await client.list_tools()).tools if t.name.startswith("session_")]
        assert len(session_tools) == 6
        for tool in session_tools:
            result = await client.call_tool(tool, arguments.get(tool, {}))
            assert result.is_error, tool
            assert "not inside a git repository" in text_of(result)
            assert "LANTERNA_REPO" in text_of(result)


async def test_git_missing_is_a_clear_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    message = await error("session_status")
    assert "git is not installed" in message


async def test_configured_repository_wins_over_cwd(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = init_repo(tmp_path / "other", branch="elsewhere")
    commit_file(other, "a.txt", "a\n", "Other repo commit")
    monkeypatch.setenv("LANTERNA_REPO", str(other))
    assert (await ok("session_branch"))["branch"] == "elsewhere"
    monkeypatch.delenv("LANTERNA_REPO")
    config = Path(os.environ["LANTERNA_HOME"]) / "config.toml"
    config.write_text(f'[session]\nrepo = "{other}"\n')
    from lanterna.plugins import reset_host

    reset_host()
    assert (await ok("session_branch"))["branch"] == "elsewhere"


def test_git_repo_root_of_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="does not exist"):
        GitRepo(tmp_path / "gone").root()


async def test_a_commit_touching_many_files_lists_the_first_ones_and_counts_the_rest(repo: Path) -> None:
    for i in range(60):
        (repo / f"gen{i:02}.txt").write_text(f"{i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Generate sixty files")
    newest = (await ok("session_log", {"limit": 1}))["commits"][0]
    assert len(newest["files"]) == 50 and newest["more_files"] == 10


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("(a{1,1000}){1,1000}", "repeats 1000 times"),
        ("(.*){1,32000}", "repeats 32000 times"),
        ("(a+)+$", "repeats a group that itself repeats"),
        ("((ab)*c)*", "repeats a group that itself repeats"),
        ("(x(a{2,5})y){2}", "repeats a group that itself repeats"),
        ("a{0,101}", "repeats 101 times"),
        # a quantifier on a quantifier is a nested repetition without a group: git runs until killed
        ("a{0,100}{0,100}{0,100}", "repeats a repetition"),
        ("x*{2}", "repeats a repetition"),
        # back-references make git's matcher backtrack: seven of them run until killed
        ("(a*)(a*)(a*)(a*)(a*)(a*)(a*)\\7\\6\\5\\4\\3\\2\\1x", "back-references"),
    ],
)
async def test_costly_regex_searches_are_refused_before_git_runs(repo: Path, pattern: str, says: str) -> None:
    message = await error("session_search_commits", {"query": pattern, "regex": True})
    assert says in message


async def test_bounded_regexes_and_literal_metacharacters_still_search(repo: Path) -> None:
    query = {"query": "^(fix|add)[ ]+(the )?[a-z]{1,20}", "regex": True, "all_branches": True}
    found = await ok("session_search_commits", query)
    assert {c["subject"] for c in found["commits"]} == {"Fix login redirect (bug #42)", "Add the app"}
    literal = await ok("session_search_commits", {"query": "(a+)+ [x]{1,1000}"})  # not a regex: fixed string
    assert literal["commits"] == []
    bracket = await ok("session_search_commits", {"query": "bug [#(]42[)]", "regex": True, "all_branches": True})
    assert len(bracket["commits"]) == 1


async def test_overlong_search_query_is_refused(repo: Path) -> None:
    message = await error("session_search_commits", {"query": "x" * 201})
    assert "201 characters" in message and "at most 200" in message


def test_commit_searches_are_bounded_in_time_and_number(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that outlives the time limit is killed; searches beyond the limit are refused."""
    import shutil
    import threading
    import time

    from lanterna.session import git as git_module

    fake = repo.parent / "bin"
    fake.mkdir()
    hang = 'for a in "$@"; do case "$a" in --grep=*) exec sleep 30;; esac; done'
    (fake / "git").write_text(f'#!/bin/sh\n{hang}\nexec {shutil.which("git")} "$@"\n')  # a git whose searches hang
    os.chmod(fake / "git", 0o755)
    real_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{real_path}")
    monkeypatch.setattr(git_module, "SEARCH_TIMEOUT_S", 1.0)
    monkeypatch.setattr(git_module, "SEARCH_WAIT_S", 0.2)
    monkeypatch.setattr(git_module, "MAX_CONCURRENT_SEARCHES", 1)
    monkeypatch.setattr(git_module, "_searches", threading.BoundedSemaphore(1))

    errors: list[str] = []

    def search() -> None:
        try:
            GitRepo(repo).log(grep="anything")
        except GitError as exc:
            errors.append(str(exc))

    started = time.monotonic()
    threads = [threading.Thread(target=search) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert time.monotonic() - started < 10
    assert sorted(errors) == sorted(
        ["git log took longer than 1 s; narrow the request"]
        + ["1 commit searches are already running on this server; retry in a moment"] * 2
    ), errors
