"""Two ingests of one service at once on the embedded store: no duplicates, no lost files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .helpers import memory, operation, write_tree

FILES = 30


def test_two_ingests_of_one_service_at_once_store_each_file_once(tmp_path: Path, tenant: str) -> None:
    root = write_tree(
        tmp_path / "svc",
        {f"mod_{i}.py": f"def handler_{i}(order):\n    return order * {i}\n" for i in range(FILES)},
    )
    start = threading.Barrier(2)
    reports: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            with operation(tenant=tenant):
                start.wait(timeout=60)
                reports.append(memory().ingest_path(str(root), "billing"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    with operation(tenant=tenant):
        stats = memory().stats()
        # a re-ingest afterwards finds every file stored and keeps no copies
        memory().ingest_path(str(root), "billing")
        again = memory().stats()
    assert len(reports) == 2
    assert stats["documents"] == FILES and stats["chunks"] == FILES, stats
    assert (again["documents"], again["chunks"]) == (FILES, FILES), again
