"""Store compatibility is checked before Pixeltable touches a store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanterna.config import Config
from lanterna.memory import runtime
from lanterna.memory.runtime import StoreError
from lanterna.memory.schema import MARKER, SCHEMA_VERSION, python_version
from lanterna.memory.settings import MemorySettings
from lanterna.memory.store import MemoryStore

from .helpers import memory


def settings_for(home: Path, monkeypatch: pytest.MonkeyPatch) -> MemorySettings:
    monkeypatch.setenv("LANTERNA_PIXELTABLE_HOME", str(home))
    return MemorySettings.from_config(Config())


def marker(home: Path, **meta: str) -> None:
    home.mkdir(parents=True)
    base = {"schema_version": "1", "python_version": python_version(), "embedder": "hash-384", "dimensions": "384"}
    (home / MARKER).write_text(json.dumps(base | meta))


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"python_version": "3.9"}, "created with Python 3.9, this is Python"),
        ({"schema_version": "99"}, "schema version 99, newer than this Lanterna understands .*upgrade lanterna"),
        ({"schema_version": "x"}, "no valid schema version"),
        ({"embedder": "other-model"}, "embedded with 'other-model'.*set \\[memory\\] embedder"),
    ],
)
def test_incompatible_store_is_refused_before_pixeltable_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meta: dict[str, str], message: str
) -> None:
    home = tmp_path / "store"
    marker(home, **meta)
    started_before = runtime.started()
    with pytest.raises(StoreError, match=message) as info:
        MemoryStore.open(settings_for(home, monkeypatch), memory().embedder)
    assert "\n" not in str(info.value)
    assert runtime.started() == started_before  # nothing was started for the refused store
    assert not (home / "pgdata").exists()


def test_corrupt_marker_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "store"
    home.mkdir()
    (home / MARKER).write_text("{not json")
    with pytest.raises(StoreError, match=r"unreadable .*move the store away"):
        MemoryStore.open(settings_for(home, monkeypatch), memory().embedder)


def test_second_home_in_one_process_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    from .helpers import memory, operation

    with operation():
        memory().stats()  # the session store is open in this process
    with pytest.raises(StoreError, match="already uses the memory store"):
        from lanterna.memory.store import get_store

        get_store(settings_for(tmp_path / "elsewhere", monkeypatch), memory().embedder)


def test_meta_records_versions(pxt_home: Path) -> None:

    from .helpers import operation

    with operation():
        store = memory().store()
    rows = {r["key"]: r["value"] for r in store.meta_table.select().collect()}
    assert rows["schema_version"] == str(SCHEMA_VERSION)
    assert rows["python_version"] == python_version()
    assert rows["embedder"] == "hash-384" and rows["dimensions"] == "384"
    assert json.loads((pxt_home / MARKER).read_text())["python_version"] == python_version()


def test_settings_defaults_and_external_database(monkeypatch: pytest.MonkeyPatch, lanterna_home: Path) -> None:
    monkeypatch.delenv("LANTERNA_PIXELTABLE_HOME")
    monkeypatch.delenv("LANTERNA_EMBEDDER")
    default = MemorySettings.from_config(Config())
    assert default.pixeltable_home == lanterna_home / "data" / "pixeltable"
    assert default.embedder is None and default.db_connect_str is None  # a store's own, or the default for a new one
    configured = MemorySettings.from_config(
        Config(data={"memory": {"db_connect_str": "postgresql://u:p@db/lanterna", "pixeltable_home": "/srv/pxt"}})
    )
    assert configured.db_connect_str == "postgresql://u:p@db/lanterna"
    assert configured.pixeltable_home == Path("/srv/pxt")


def test_an_older_store_is_migrated_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    from lanterna.memory import schema, store
    from lanterna.memory.store import MemoryStore

    from .helpers import operation

    with operation():
        s = memory().store()
    tables = {"meta": s.meta_table, "documents": s.documents, "chunks": s.chunks}
    steps: list[int] = []
    current = SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 2)
    monkeypatch.setitem(store.MIGRATIONS, current, lambda t: steps.append(current))
    monkeypatch.setitem(store.MIGRATIONS, current + 1, lambda t: steps.append(current + 1))
    meta = {r["key"]: r["value"] for r in s.meta_table.select().collect()}
    try:
        migrated = MemoryStore._migrate(tables, meta)
        stored = {r["key"]: r["value"] for r in s.meta_table.select().collect()}
        assert steps == [current, current + 1]
        assert migrated["schema_version"] == stored["schema_version"] == str(current + 2)
    finally:
        s.meta_table.update({"value": str(current)}, where=s.meta_table.key == "schema_version")
