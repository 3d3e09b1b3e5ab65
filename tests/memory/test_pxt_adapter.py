"""One smoke test per private Pixeltable internal Lanterna uses (``lanterna.memory.pxt_adapter``).

A Pixeltable upgrade that breaks one fails here, with the poke's name in the failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lanterna.memory import pxt_adapter
from lanterna.memory.pxt_adapter import PixeltableChanged

from .helpers import memory, operation


@pytest.fixture
def store():
    with operation():
        return memory().store()


def poke(name: str, fn, *args):
    """Call a poke; a ``PixeltableChanged`` fails the test naming it."""
    assert name in pxt_adapter.POKES
    try:
        return fn(*args)
    except PixeltableChanged as exc:
        pytest.fail(f"Pixeltable poke '{name}' broke: {exc}")


def test_poke_env_start_web_server(store) -> None:
    from pixeltable.env import Env

    assert Env._start_web_server is pxt_adapter._no_web_server  # replaced before init
    poke("Env._start_web_server", pxt_adapter.disable_web_server)


def test_poke_env_httpd(store) -> None:
    assert poke("Env._httpd", pxt_adapter.web_server_running) is False


def test_poke_env_instance(store) -> None:
    from pixeltable.env import Env

    assert poke("Env._instance", pxt_adapter.current_env) is Env.get()


def test_poke_env_engine(store) -> None:
    from sqlalchemy import text

    with poke("Env.engine", pxt_adapter.engine).connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_poke_env_db_server(store, pxt_home: Path) -> None:
    server = poke("Env._db_server", pxt_adapter.embedded_server, pxt_adapter.current_env())
    assert Path(server.pgdata) == pxt_home / "pgdata"


def test_poke_pgserver_process_ids(store) -> None:
    server = pxt_adapter.embedded_server(pxt_adapter.current_env())
    pids = poke("pgserver.global_process_id_list", pxt_adapter.process_ids, server)
    assert os.getpid() in pids
    poke("pgserver.global_process_id_list", pxt_adapter.set_process_ids, server, pids)
    assert pxt_adapter.process_ids(server) == pids


def test_poke_pgserver_lock(store) -> None:
    server = pxt_adapter.embedded_server(pxt_adapter.current_env())
    with poke("pgserver._lock", pxt_adapter.server_lock, server):
        pass


def test_poke_storage_table_and_column(store) -> None:
    from sqlalchemy import text

    table = poke("Table._tbl_version.store_tbl", pxt_adapter.storage_table, store.chunks)
    column = poke("Table._tbl_version.cols_by_name", pxt_adapter.storage_column, store.chunks, "text")
    with pxt_adapter.engine().connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM information_schema.columns WHERE table_name = :t AND column_name = :c"),
            {"t": table, "c": column},
        ).scalar()
    assert found == 1


def test_rows_containing_text_use_parameters_not_sql(store) -> None:
    marker = "adapter-%_'\"; DROP TABLE x; --"
    with operation():
        note = memory().add_record("note", f"history marker {marker}")
        memory().forget(note["id"])
    assert pxt_adapter.count_containing(store.chunks, "text", marker) >= 1  # the deleted version is still stored
    assert pxt_adapter.count_containing(store.chunks, "text", "adapter-%_'\"; DROP TABLE y") == 0
    pxt_adapter.analyze(store.chunks)


def test_a_missing_internal_names_the_poke(monkeypatch: pytest.MonkeyPatch, store) -> None:
    from pixeltable.env import Env

    monkeypatch.delattr(Env, "_instance")
    with pytest.raises(PixeltableChanged, match=r"Pixeltable 0\.\S+ changed 'Env\._instance'"):
        pxt_adapter.current_env()
