"""Read a git repository by running the real ``git`` binary: branch, log, status, diff.

Every function returns plain data (dicts and lists) and raises ``GitError`` with a
one-line message that says what to do. Nothing here writes to the repository; status runs
with ``GIT_OPTIONAL_LOCKS=0`` so it does not even refresh the index.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

from lanterna.errors import UserError

TIMEOUT_S = 30.0
DEFAULT_DIFF_BYTES = 64 * 1024
MAX_DIFF_BYTES = 1024 * 1024
MAX_LIMIT = 200
#: Changed files listed per commit; the rest are counted in ``more_files``.
MAX_FILES_PER_COMMIT = 50
#: Commit-message searches: longest query, largest regex repetition count, time per search,
#: searches running at once (more wait up to ``SEARCH_WAIT_S``, then are refused).
MAX_QUERY_CHARS = 200
MAX_REPEAT = 100
SEARCH_TIMEOUT_S = 10.0
MAX_CONCURRENT_SEARCHES = 2
SEARCH_WAIT_S = 2.0

_searches = threading.BoundedSemaphore(MAX_CONCURRENT_SEARCHES)

# Fields of one commit in `git log` output: record separator, then unit-separated fields.
_LOG_FORMAT = "%x1e%H%x1f%h%x1f%an%x1f%ae%x1f%aI%x1f%s%x1f%b%x1f"


class GitError(UserError):
    """git could not answer; ``str()`` is one line saying why and what to do."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"})
    return env


class GitRepo:
    """A repository at ``path`` (any folder inside the work tree)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._top: Path | None = None  # once known, git runs there so pathspecs are root-relative

    # -- running git -------------------------------------------------------------------

    def _command(self, args: list[str]) -> list[str]:
        return ["git", "-C", str(self._top or self.path), "-c", "core.quotePath=false", "-c", "color.ui=never", *args]

    def run(
        self, *args: str, ok_codes: tuple[int, ...] = (0,), timeout: float = TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                self._command(list(args)),
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=_env(),
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH; install git to use the session tools") from None
        except subprocess.TimeoutExpired:  # run() has killed git
            raise GitError(f"git {args[0]} took longer than {timeout:.0f} s; narrow the request") from None
        if proc.returncode not in ok_codes:
            raise GitError(f"git {args[0]} failed: {_first_line(proc.stderr) or f'exit code {proc.returncode}'}")
        return proc

    def root(self) -> Path:
        """The top of the work tree; raises a clear error outside a repository."""
        if not self.path.is_dir():
            raise GitError(
                f"repository folder {self.path} does not exist; set [session] repo or LANTERNA_REPO to a git repository"
            )
        proc = self.run("rev-parse", "--show-toplevel", ok_codes=(0, 128))
        if proc.returncode != 0:
            reason = _first_line(proc.stderr)
            if reason and "not a git repository" not in reason:  # e.g. "detected dubious ownership"
                raise GitError(f"git cannot read the repository at {self.path}: {reason}")
            raise GitError(
                f"{self.path} is not inside a git repository; start the server in one"
                " or set [session] repo / LANTERNA_REPO"
            )
        self._top = Path(proc.stdout.strip())
        return self._top

    def has_commits(self) -> bool:
        return self.run("rev-parse", "--verify", "--quiet", "HEAD", ok_codes=(0, 1, 128)).returncode == 0

    # -- validation --------------------------------------------------------------------

    def relative_path(self, path: str) -> str:
        """``path`` (relative to the repository root, or absolute) as a root-relative path.

        Refuses anything that resolves outside the repository, symlinks included.
        """
        root = self.root().resolve()
        candidate = (root / path).resolve()
        if candidate != root and not candidate.is_relative_to(root):
            raise GitError(f"path '{path}' is outside the repository {root}; give a path inside it")
        return candidate.relative_to(root).as_posix() or "."

    def check_ref(self, ref: str) -> str:
        """A commit-ish as given, refused if it could be read as an option."""
        ref = ref.strip()
        if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
            raise GitError(f"'{ref}' is not a commit, branch or tag name; give one such as HEAD~1 or a SHA")
        commit = f"{ref}^{{commit}}"
        proc = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", commit, ok_codes=(0, 1, 128))
        if proc.returncode != 0:
            raise GitError(f"no commit named '{ref}' in this repository; `session_log` lists recent ones")
        return proc.stdout.strip()

    # -- queries -----------------------------------------------------------------------

    def branch(self) -> dict[str, Any]:
        root = self.root()
        symbolic = self.run("symbolic-ref", "--quiet", "--short", "HEAD", ok_codes=(0, 1, 128))
        head = self.run("rev-parse", "--verify", "--quiet", "HEAD", ok_codes=(0, 1, 128))
        sha = head.stdout.strip() if head.returncode == 0 else None
        detached = symbolic.returncode != 0
        info: dict[str, Any] = {
            "repository": str(root),
            "branch": None if detached else symbolic.stdout.strip(),
            "detached": detached,
            "head": sha,
            "has_commits": sha is not None,
            "upstream": None,
            "ahead": None,
            "behind": None,
        }
        if detached:
            info["description"] = f"detached HEAD at {sha[:12] if sha else 'nothing'}"
        elif sha is None:
            info["description"] = f"on branch {info['branch']}, no commits yet"
        else:
            info["description"] = f"on branch {info['branch']}"
            upstream = self.run("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}", ok_codes=(0, 128))
            if upstream.returncode == 0 and upstream.stdout.strip():
                info["upstream"] = upstream.stdout.strip()
                counts = self.run("rev-list", "--left-right", "--count", "HEAD...@{upstream}", ok_codes=(0, 128))
                if counts.returncode == 0:
                    ahead, behind = counts.stdout.split()
                    info["ahead"], info["behind"] = int(ahead), int(behind)
        return info

    def log(
        self,
        limit: int = 20,
        ref: str | None = None,
        path: str | None = None,
        grep: str | None = None,
        regex: bool = False,
        all_refs: bool = False,
        follow: bool = False,
    ) -> list[dict[str, Any]]:
        """Commits, newest first, each with author, date, message and changed files."""
        self.root()
        if not self.has_commits() and ref is None and not all_refs:
            return []
        args = ["log", f"--max-count={_clamp(limit, 1, MAX_LIMIT)}", f"--format={_LOG_FORMAT}", "--name-status"]
        if grep is not None:
            check_search(grep, regex)
            args += [f"--grep={grep}", "--regexp-ignore-case", "--extended-regexp" if regex else "--fixed-strings"]
        if all_refs:
            args.append("--all")
        if follow:
            args.append("--follow")
        args.append("--end-of-options")
        if ref is not None:
            args.append(self.check_ref(ref))
        args.append("--")
        if path is not None:
            args.append(self.relative_path(path))
        if grep is None:
            return _parse_log(self.run(*args).stdout)
        if not _searches.acquire(timeout=SEARCH_WAIT_S):
            raise GitError(
                f"{MAX_CONCURRENT_SEARCHES} commit searches are already running on this server; retry in a moment"
            )
        try:
            return _parse_log(self.run(*args, timeout=SEARCH_TIMEOUT_S).stdout)
        finally:
            _searches.release()

    def status(self) -> dict[str, Any]:
        """Staged, unstaged and untracked files of the working tree."""
        root = self.root()
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
        staged: list[dict[str, str]] = []
        unstaged: list[dict[str, str]] = []
        untracked: list[str] = []
        conflicted: list[str] = []
        entries = out.split("\0")
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if len(entry) < 4:
                continue
            x, y, path = entry[0], entry[1], entry[3:]
            original = None
            if x in "RC":  # a rename/copy is followed by its source path
                original = entries[i]
                i += 1
            if x == "?" and y == "?":
                untracked.append(path)
                continue
            if x == "!":
                continue
            if "U" in (x, y) or (x, y) in (("A", "A"), ("D", "D")):
                conflicted.append(path)
                continue
            if x != " ":
                item = {"path": path, "status": _STATUS.get(x, x)}
                if original:
                    item["from"] = original
                staged.append(item)
            if y != " ":
                unstaged.append({"path": path, "status": _STATUS.get(y, y)})
        return {
            "repository": str(root),
            "clean": not (staged or unstaged or untracked or conflicted),
            "staged": staged,
            "unstaged": unstaged,
            "untracked": untracked,
            "conflicted": conflicted,
        }

    def diff(
        self,
        commit: str | None = None,
        path: str | None = None,
        staged_only: bool = False,
        max_bytes: int = DEFAULT_DIFF_BYTES,
    ) -> dict[str, Any]:
        """The diff of the working tree against HEAD (or of one commit), capped at ``max_bytes``."""
        self.root()
        cap = _clamp(max_bytes, 1024, MAX_DIFF_BYTES)
        spec = ["--", self.relative_path(path)] if path is not None else []
        if commit is not None:
            sha = self.check_ref(commit)
            args = [
                "show",
                "--format=commit %H%nAuthor: %an <%ae>%nDate:   %aI%n%n%B",
                "--patch",
                "--stat",
                "--end-of-options",
                sha,
                *spec,
            ]
            what = f"commit {sha[:12]}"
        elif staged_only or not self.has_commits():
            args = ["diff", "--cached", "--patch", "--stat", *spec]
            what = "staged changes"
        else:
            args = ["diff", "HEAD", "--patch", "--stat", *spec]
            what = "working tree against HEAD (staged and unstaged)"
        text, total, truncated = self._capped(args, cap)
        result: dict[str, Any] = {"of": what, "diff": text, "truncated": truncated, "bytes": total}
        if truncated:
            result["note"] = f"diff truncated at {cap} bytes of {total}; pass path= to narrow it" + (
                f" or max_bytes= (up to {MAX_DIFF_BYTES}) to see more" if cap < MAX_DIFF_BYTES else ""
            )
        elif not text.strip():
            result["note"] = "no changes" + ("; untracked files are not part of a diff" if commit is None else "")
        return result

    def _capped(self, args: list[str], cap: int) -> tuple[str, int, bool]:
        """Run git, keep the first ``cap`` bytes of its output, count the rest without storing it."""
        try:
            proc = subprocess.Popen(
                self._command(args),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=_env(),
            )
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH; install git to use the session tools") from None
        assert proc.stdout is not None and proc.stderr is not None
        kept = bytearray()
        total = 0
        while chunk := proc.stdout.read(65536):
            total += len(chunk)
            if len(kept) < cap:
                kept += chunk[: cap - len(kept)]
            if total > 64 * MAX_DIFF_BYTES:  # stop reading a runaway diff; the count is a lower bound
                proc.kill()
                break
        stderr = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait(timeout=TIMEOUT_S)
        if code not in (0, -9):
            raise GitError(f"git {args[0]} failed: {_first_line(stderr) or f'exit code {code}'}")
        return kept.decode("utf-8", "ignore"), total, total > cap


def check_search(query: str, regex: bool) -> None:
    """Refuse a commit-search query that could keep git busy: too long, or a costly regex.

    A regex may not repeat more than ``MAX_REPEAT`` times, nor repeat a group that itself
    repeats (``(a+)+``, ``(a{1,9}){1,9}``) or a repetition (``a{1,9}{1,9}``): git's regex
    engine pays the product of the counts. Back-references (``\\1``) are refused too: they make
    the matcher backtrack.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise GitError(f"the search query has {len(query)} characters; give at most {MAX_QUERY_CHARS}")
    if any(c in query for c in "\0\n\r"):
        raise GitError("the search query contains a line break or NUL; search for one line of text")
    if regex:
        _check_regex(query)


def _check_regex(pattern: str) -> None:
    # Per open group: whether it contains a quantifier; a quantifier right after ")" of such a
    # group is a nested repetition.
    open_groups: list[bool] = []
    group_before_repeats = False
    after_quantifier = False
    i = 0
    while i < len(pattern):
        end = _quantifier_end(pattern, i)
        if end:
            count = max((int(n) for n in re.findall(r"\d+", pattern[i:end])), default=0)
            if count > MAX_REPEAT:
                raise GitError(f"the regular expression repeats {count} times; use counts of at most {MAX_REPEAT}")
            if group_before_repeats:
                raise GitError(
                    "the regular expression repeats a group that itself repeats, e.g. (a+)+ or (a{1,9}){1,9};"
                    " rewrite it without the nested repetition"
                )
            if after_quantifier:
                raise GitError(
                    "the regular expression repeats a repetition, e.g. a{1,9}{1,9} or a*{2};"
                    " give one quantifier per item"
                )
            if open_groups:
                open_groups[-1] = True
            after_quantifier = True
            i = end
            continue
        group_before_repeats = False
        after_quantifier = False
        c = pattern[i]
        if c == "\\":
            if pattern[i + 1 : i + 2] in tuple("123456789"):
                raise GitError(
                    "the regular expression uses back-references (\\1 to \\9), which commit search does not"
                    " support; search without them"
                )
            i += 2
            continue
        if c == "[":
            i = _bracket_end(pattern, i)
            continue
        if c == "(":
            open_groups.append(False)
        elif c == ")" and open_groups:
            group_before_repeats = open_groups.pop()
            if group_before_repeats and open_groups:
                open_groups[-1] = True
        i += 1


_BOUND = re.compile(r"\{ *\d* *(, *\d* *)?\}")


def _quantifier_end(pattern: str, i: int) -> int:
    """The index after the quantifier that starts at ``i``; 0 when none does."""
    if pattern[i] in "*+?":
        return i + 1
    match = _BOUND.match(pattern, i) if pattern[i] == "{" else None
    return match.end() if match else 0


def _bracket_end(pattern: str, i: int) -> int:
    """The index after the bracket expression ``[...]`` that starts at ``i``."""
    j = i + 1
    if pattern.startswith("^", j):
        j += 1
    if pattern.startswith("]", j):  # a leading "]" is a literal
        j += 1
    while j < len(pattern):
        if pattern.startswith(("[:", "[=", "[."), j):
            close = pattern.find(pattern[j + 1] + "]", j + 2)
            j = close + 2 if close != -1 else j + 1
        elif pattern[j] == "]":
            return j + 1
        else:
            j += 1
    return len(pattern)


_STATUS = {"M": "modified", "A": "added", "D": "deleted", "R": "renamed", "C": "copied", "T": "type changed"}


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, int(value)))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("fatal: ").removeprefix("error: ")[:300]
    return ""


def _parse_log(out: str) -> list[dict[str, Any]]:
    commits = []
    for record in out.split("\x1e")[1:]:
        parts = record.split("\x1f")
        if len(parts) < 8:
            continue
        sha, short, author, email, date, subject, body, rest = parts[:8]
        files = []
        for line in rest.strip("\n").splitlines():
            fields = line.split("\t")
            if len(fields) < 2:
                continue
            code = fields[0]
            item = {"path": fields[-1], "status": _STATUS.get(code[:1], code)}
            if len(fields) == 3:
                item["from"] = fields[1]
            files.append(item)
        commit: dict[str, Any] = {}
        if len(files) > MAX_FILES_PER_COMMIT:
            commit["more_files"] = len(files) - MAX_FILES_PER_COMMIT
            files = files[:MAX_FILES_PER_COMMIT]
        commits.append(
            {
                "sha": sha,
                "short": short,
                "author": author,
                "email": email,
                "date": date,
                "subject": subject,
                "message": (subject + ("\n\n" + body.strip() if body.strip() else "")),
                "files": files,
                **commit,
            }
        )
    return commits
