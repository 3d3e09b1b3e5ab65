"""Ingest and search against a real Pixeltable store (hashing embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanterna.memory.api import MemoryUsageError

from .helpers import memory, operation, write_tree

GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "project",
        {
            "src/retry.py": "class RetryPolicy:\n    def backoff(self, attempt):\n        return 2 ** attempt\n",
            "src/config.py": "def parse_config(path):\n    return toml.loads(open(path).read())\n",
            "docs/deploy.md": "# Deploy\n\nShip the service to production with the release pipeline.\n",
            "build/generated.py": "GENERATED = 1\n",
            "ignored.log": "log line\n",
            ".gitignore": "*.log\nbuild/\n",
            ".env": "DATABASE_PASSWORD=hunter2\n",
            "keys/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
            "settings.py": f"TOKEN = '{GITHUB_TOKEN}'\n",
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00binary",
            "big.txt": "x" * (600 * 1024),
        },
    )


def test_ingest_reports_what_it_stored_and_skipped(project: Path) -> None:
    with operation():
        report = memory().ingest_path(str(project), "shop")
        stored = {r["path"] for r in memory().list_records(service="shop")}
    assert stored == {"src/retry.py", "src/config.py", "docs/deploy.md", ".gitignore", "settings.py"}
    assert report["added"] == 5 and report["chunks"] >= 5
    assert sorted(report["skipped_secrets"]) == [".env", "keys/id_rsa"]
    assert report["redacted_secrets"] == ["settings.py"]
    assert report["skipped_binary"] == ["logo.png"]
    assert report["skipped_too_big"] == ["big.txt"]


def test_secrets_are_never_stored(project: Path) -> None:
    from lanterna.memory.store import get_store

    with operation():
        memory().ingest_path(str(project), "shop")
        hits = memory().search("DATABASE_PASSWORD hunter2 TOKEN", limit=20)
        store = memory().store()
    assert all("hunter2" not in h["snippet"] and GITHUB_TOKEN not in h["snippet"] for h in hits)
    assert store is get_store(memory().settings, memory().embedder)
    assert not store.history_contains("hunter2")
    assert not store.history_contains(GITHUB_TOKEN)


def test_search_returns_path_lines_snippet_score(project: Path) -> None:
    with operation():
        memory().ingest_path(str(project), "shop")
        hits = memory().search("RetryPolicy backoff", limit=3)
    top = hits[0]
    assert top["path"] == "src/retry.py"
    assert (top["start_line"], top["end_line"]) == (1, 3)
    assert "RetryPolicy" in top["snippet"]
    assert top["score"] > hits[-1]["score"] or len(hits) == 1


def test_reingest_unchanged_embeds_nothing(project: Path) -> None:
    with operation():
        memory().ingest_path(str(project), "shop")
        again = memory().ingest_path(str(project), "shop")
    assert (again["added"], again["updated"], again["removed"], again["chunks"]) == (0, 0, 0, 0)
    assert again["unchanged"] == 5


def test_changed_files_replaced_and_deleted_files_removed(project: Path) -> None:
    with operation():
        memory().ingest_path(str(project), "shop")
        (project / "src/retry.py").write_text("def jittered_sleep(seconds):\n    return seconds * random()\n")
        (project / "src/config.py").unlink()
        report = memory().ingest_path(str(project), "shop")
        paths = {r["path"] for r in memory().list_records(service="shop")}
        old = memory().search("RetryPolicy backoff parse_config", limit=20, mode="vector")
        new = memory().search("jittered_sleep", limit=1)
    assert (report["updated"], report["removed"], report["unchanged"]) == (1, 1, 3)
    assert paths == {"src/retry.py", "docs/deploy.md", ".gitignore", "settings.py"}
    assert all("RetryPolicy" not in h["snippet"] and "parse_config" not in h["snippet"] for h in old)
    assert new[0]["path"] == "src/retry.py" and "jittered_sleep" in new[0]["snippet"]


def test_filters_by_service_kind_and_path(project: Path, tmp_path: Path) -> None:
    other = write_tree(tmp_path / "other", {"src/retry.py": "def retry_forever():\n    pass\n"})
    with operation():
        memory().ingest_path(str(project), "shop")
        memory().ingest_path(str(other), "billing")
        in_billing = memory().search("retry", service="billing", limit=10)
        docs_only = memory().search("retry deploy", kind="doc", limit=10)
        src_only = memory().search("deploy production", path="src/*", limit=10)
    assert {h["service"] for h in in_billing} == {"billing"}
    assert {h["kind"] for h in docs_only} == {"doc"}
    assert docs_only[0]["path"] == "docs/deploy.md"
    assert src_only and all(h["path"].startswith("src/") for h in src_only)


def test_tenants_are_isolated(project: Path) -> None:
    with operation(tenant="tenant-a-" + project.parent.name):
        memory().ingest_path(str(project), "shop")
    empty = project.parent / "empty"
    empty.mkdir()
    with operation(tenant="tenant-b-" + project.parent.name):
        assert memory().search("RetryPolicy", limit=10) == []
        assert memory().services() == []
        # the same service name in another tenant removes nothing of tenant a
        assert memory().ingest_path(str(empty), "shop")["removed"] == 0
    with operation(tenant="tenant-a-" + project.parent.name):
        assert memory().search("RetryPolicy", limit=1)[0]["path"] == "src/retry.py"
        assert memory().services()[0]["documents"] == 5


def test_services_and_stats(project: Path) -> None:
    with operation():
        memory().ingest_path(str(project), "shop")
        services = memory().services()
        stats = memory().stats()
    assert [s["service"] for s in services] == ["shop"]
    assert services[0]["kinds"] == {"code": 4, "doc": 1}
    assert services[0]["roots"] == [str(project.resolve())]
    assert stats["documents"] == 5 and stats["embedder"] == "hash-384" and stats["schema_version"] == 2
    assert stats["roots"] == {"shop": [str(project.resolve())]}


def test_every_result_says_where_to_open_it(project: Path) -> None:
    with operation():
        memory().ingest_path(str(project), "shop")
        memory().ingest_path(str(project / "src" / "config.py"), "single")
        hits = memory().search("RetryPolicy backoff", service="shop", limit=3)
        single = memory().search("parse_config", service="single", limit=1)
    top = hits[0]
    assert (top["root"], top["path"], top["start_line"], top["end_line"]) == (
        str(project.resolve()),
        "src/retry.py",
        1,
        3,
    )
    assert top["symbol"] == "RetryPolicy"
    opened = (Path(top["root"]) / top["path"]).read_text().splitlines()[top["start_line"] - 1 : top["end_line"]]
    assert "\n".join(opened).startswith(top["snippet"][:40])
    # a single file is relative to its folder
    assert (single[0]["root"], single[0]["path"]) == (str((project / "src").resolve()), "config.py")


def test_results_of_one_file_are_capped(tmp_path: Path) -> None:
    many = "\n\n".join(f"def refund_step_{i}(order):\n    return refund(order, {i})\n" + "\n" * 12 for i in range(8))
    root = write_tree(tmp_path / "p", {"big.py": many, "small.py": "def refund(order, step):\n    return step\n"})
    with operation():
        memory().ingest_path(str(root), "caps")
        capped = memory().search("refund order step", service="caps", limit=5)
        wider = memory().search("refund order step", service="caps", limit=5, per_file=4)
    assert [h["path"] for h in capped].count("big.py") == 2
    assert "small.py" in [h["path"] for h in capped]
    assert [h["path"] for h in wider].count("big.py") == 4


def test_moving_the_folder_updates_the_root_without_embedding(project: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    with operation():
        memory().ingest_path(str(project), "shop")
        project.rename(moved)
        report = memory().ingest_path(str(moved), "shop")
        hits = memory().search("RetryPolicy backoff", service="shop", limit=1)
        services = memory().services()
    assert report["chunks"] == 0 and report["unchanged"] == 5
    assert hits[0]["root"] == str(moved.resolve())
    assert services[0]["roots"] == [str(moved.resolve())]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda root: memory().ingest_path(str(root / "missing"), "shop"), "does not exist"),
        (lambda root: memory().ingest_path(str(root), " "), "service name is required"),
        (lambda root: memory().ingest_path(str(root), "shop", kind="poem"), "unknown kind 'poem'"),
        (lambda root: memory().search("   "), "query is empty"),
        (lambda root: memory().search("x", service="nope"), "unknown service 'nope'"),
        (lambda root: memory().get_record("0" * 32), "no memory with id"),
        (lambda root: memory().forget("0" * 32), "no memory with id"),
        (lambda root: memory().add_record("note", "  "), "the note is empty"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path: Path, call, message: str) -> None:
    with operation(), pytest.raises(MemoryUsageError, match=message) as info:
        call(tmp_path)
    assert "\n" not in str(info.value)


def test_ingesting_one_file_updates_only_that_file(project: Path) -> None:
    with operation():
        memory().ingest_path(str(project), "shop")
        (project / "src/config.py").write_text("def parse_yaml_config(path):\n    return yaml.safe_load(path)\n")
        report = memory().ingest_path(str(project / "src/config.py"), "shop")
        paths = {r["path"] for r in memory().list_records(service="shop")}
    assert (report["added"], report["removed"]) == (1, 0)
    assert {"src/retry.py", "docs/deploy.md", "config.py"} <= paths
