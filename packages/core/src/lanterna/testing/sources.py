"""Code source conformance: a source registers under its scheme, lists and reads what the
repository holds, gives content ids that follow the content, fetches exactly what ingest asks
for, only reads, and fails in one line without the credential.

The harness serves a repository (a fake API on a local socket, or a folder) whose files it
knows, so every check compares the source's answers with the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from lanterna.errors import UserError
from lanterna.guard import Guard
from lanterna.plugins import PluginHost
from lanterna.sources import CodeSource, code_sources
from lanterna.testing.base import Suite, skip
from lanterna.types import RequestContext

T = TypeVar("T")


class CodeSourceHarness(Protocol):
    """What a code source suite needs.

    - ``host()``: a host with the plugin under test, configured to reach the repository.
    - ``scheme``: the source's name; ``repo``: a repository it can read; ``missing_repo``: a
      well-formed name of one it cannot.
    - ``files()``: ``{path: bytes}`` of the repository's default branch right now.

    Optional: ``change(files)`` commits a new default-branch tree (``{path: bytes}``), for the
    checks that content ids follow content; ``requests()`` lists the HTTP methods sent so far,
    for the read-only check; ``secret``: the credential, which no error may contain;
    ``request()``: the request the calls run as (default: a test request).
    """

    scheme: str
    repo: str
    missing_repo: str

    def host(self) -> PluginHost: ...

    def files(self) -> Mapping[str, bytes]: ...


def _run(harness: CodeSourceHarness, fn: Callable[..., T], *args: Any) -> T:
    host = harness.host()
    make = getattr(harness, "request", None)
    request = make() if make is not None else RequestContext(transport="test")
    return Guard(host).run(request, "sources.conformance", f"repo:{harness.scheme}:{harness.repo}", fn, *args)


def _source(harness: CodeSourceHarness) -> CodeSource:
    sources = code_sources(harness.host())
    assert harness.scheme in sources, f"no code source registered as '{harness.scheme}' (got {sorted(sources)})"
    return sources[harness.scheme]


class CodeSourceSuite(Suite):
    def test_registers_under_its_scheme_with_every_method(self, harness: CodeSourceHarness) -> None:
        source = _source(harness)
        assert source.name == harness.scheme
        assert isinstance(source, CodeSource), "the source lacks methods of lanterna.sources.CodeSource"

    def test_lists_every_file_with_a_content_id(self, harness: CodeSourceHarness) -> None:
        files = _run(harness, _source(harness).list_files, harness.repo)
        listed = {f.path: f for f in files}
        assert set(listed) == set(harness.files()), "list_files does not list exactly the repository's files"
        assert all(f.digest for f in files), "a file has no content id (digest)"
        by_content: dict[bytes, set[str]] = {}
        for path, data in harness.files().items():
            by_content.setdefault(data, set()).add(listed[path].digest or "")
        assert all(len(ids) == 1 for ids in by_content.values()), "the same content has different ids"

    def test_reads_a_file_as_text(self, harness: CodeSourceHarness) -> None:
        path, data = next((p, d) for p, d in sorted(harness.files().items()) if b"\x00" not in d)
        assert _run(harness, _source(harness).read_file, harness.repo, path) == data.decode("utf-8")

    def test_snapshot_fetches_exactly_the_paths_asked_for(self, harness: CodeSourceHarness) -> None:
        snapshot = _run(harness, _source(harness).snapshot, harness.repo)
        truth = harness.files()
        assert {f.path for f in snapshot.files} == set(truth)
        assert harness.scheme in snapshot.label and harness.repo in snapshot.label and snapshot.commit
        for wanted in (sorted(truth)[:1], sorted(truth)):  # a few blobs, then the whole tree
            got = dict(_run(harness, lambda w=wanted: list(snapshot.fetch(w))))
            assert set(got) == set(wanted), f"fetch({len(wanted)} paths) returned {len(got)} other paths"
            assert all(got[p] == truth[p] for p in wanted), "fetch returned bytes that differ from the file"

    def test_content_ids_follow_the_content(self, harness: CodeSourceHarness) -> None:
        change = getattr(harness, "change", None)
        if change is None:
            skip("the harness cannot change the repository (no change())")
        source = _source(harness)
        before = {f.path: f.digest for f in _run(harness, source.snapshot, harness.repo).files}
        files = dict(harness.files())
        edited = sorted(files)[0]
        files[edited] = files[edited] + b"\n# changed\n"
        change(files)
        after = {f.path: f.digest for f in _run(harness, source.snapshot, harness.repo).files}
        assert after[edited] != before[edited], "a changed file kept its content id"
        assert {p: d for p, d in after.items() if p != edited} == {p: d for p, d in before.items() if p != edited}

    def test_a_missing_repository_is_one_line_without_the_credential(self, harness: CodeSourceHarness) -> None:
        source = _source(harness)
        for call in (lambda: source.list_files(harness.missing_repo), lambda: source.snapshot(harness.missing_repo)):
            try:
                _run(harness, call)
            except UserError as exc:
                message = str(exc)
            else:
                raise AssertionError(f"reading {harness.missing_repo} raised no UserError")
            assert message and "\n" not in message, f"not one line: {message!r}"
            secret = getattr(harness, "secret", None)
            assert not secret or secret not in message, "the error message contains the credential"

    def test_only_reads(self, harness: CodeSourceHarness) -> None:
        requests = getattr(harness, "requests", None)
        if requests is None:
            skip("the harness does not record requests (no requests())")
        source = _source(harness)
        _run(harness, source.list_repos)
        snapshot = _run(harness, source.snapshot, harness.repo)
        _run(harness, lambda: list(snapshot.fetch(sorted(harness.files()))))
        _run(harness, source.list_commits, harness.repo)
        methods = set(requests())
        assert methods and methods <= {"GET", "HEAD"}, f"the source sent {sorted(methods - {'GET', 'HEAD'})}"
