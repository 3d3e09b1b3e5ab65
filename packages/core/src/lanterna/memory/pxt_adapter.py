"""Every use of Pixeltable's private internals ("pokes"), in one place.

Pixeltable (pinned exactly in pyproject.toml) has no public API for what Lanterna needs here:
keeping its HTTP server from starting, reaching its SQLAlchemy engine and embedded Postgres
server (to stop Postgres when the last process leaves), and naming a table's storage table
(to read deleted row versions and refresh planner statistics). Each poke below is one
function; when a Pixeltable upgrade removes what it reaches for, it raises
``PixeltableChanged`` naming the poke, and ``tests/memory/test_pxt_adapter.py`` (one test per
poke) fails with that name. Imported only once Pixeltable itself is.
"""

from __future__ import annotations

import contextlib
from typing import Any

#: The pokes, by name (``tests/memory/test_pxt_adapter.py`` has a smoke test for each).
POKES = (
    "Env._start_web_server",
    "Env._instance",
    "Env.engine",
    "Env._httpd",
    "Env._db_server",
    "pgserver.global_process_id_list",
    "pgserver._lock",
    "Table._tbl_version.store_tbl",
    "Table._tbl_version.cols_by_name",
)


class PixeltableChanged(RuntimeError):
    """A private part of Pixeltable that Lanterna relies on is gone or changed."""

    def __init__(self, poke: str, error: BaseException) -> None:
        import pixeltable

        super().__init__(
            f"Pixeltable {pixeltable.__version__} changed '{poke}' ({type(error).__name__}: {error});"
            " lanterna.memory.pxt_adapter must be updated for it"
        )
        self.poke = poke


@contextlib.contextmanager
def _poke(name: str) -> Any:
    try:
        yield
    except (AttributeError, KeyError, TypeError) as exc:
        raise PixeltableChanged(name, exc) from exc


def _env_class() -> Any:
    from pixeltable.env import Env

    return Env


def _no_web_server(env: Any) -> None:
    env._httpd = None
    env._http_address = "http://127.0.0.1:0"  # never bound; only used to format media links


def disable_web_server() -> None:
    """Keep ``pxt.init()`` from starting its unauthenticated HTTP server (call before init)."""
    with _poke("Env._start_web_server"):
        env = _env_class()
        if not callable(env._start_web_server):
            raise TypeError("not a method")
        # a module-level function replaces the method: Pixeltable must not open its HTTP server
        env._start_web_server = _no_web_server


def web_server_running() -> bool:
    with _poke("Env._httpd"):
        return _env_class().get()._httpd is not None


def current_env() -> Any | None:
    """Pixeltable's environment if this process initialised one, without creating one."""
    with _poke("Env._instance"):
        return _env_class()._instance


def engine() -> Any:
    """The SQLAlchemy engine of the store this process opened."""
    with _poke("Env.engine"):
        return _env_class().get().engine


def embedded_server(env: Any) -> Any | None:
    """The embedded Postgres (pgserver) of ``env``, or None with an external database."""
    with _poke("Env._db_server"):
        return env._db_server


def server_lock(server: Any) -> Any:
    """pgserver's inter-process lock (taken to start Postgres and to register a process)."""
    with _poke("pgserver._lock"):
        return server._lock


def process_ids(server: Any) -> list[int]:
    """The pids pgserver records as users of its Postgres."""
    with _poke("pgserver.global_process_id_list"):
        return list(server.global_process_id_list.get())


def set_process_ids(server: Any, pids: list[int]) -> None:
    with _poke("pgserver.global_process_id_list"):
        server.global_process_id_list.put(pids)


def storage_table(table: Any) -> str:
    """The name of the Postgres table that stores ``table``'s rows, every version included."""
    with _poke("Table._tbl_version.store_tbl"):
        return str(table._tbl_version.get().store_tbl.sa_tbl.name)


def storage_column(table: Any, column: str) -> str:
    """The name of the Postgres column that stores ``table``'s ``column``."""
    with _poke("Table._tbl_version.cols_by_name"):
        return str(table._tbl_version.get().cols_by_name[column].sa_col.name)


def count_containing(table: Any, column: str, text: str) -> int:
    """Stored rows of ``table`` (deleted versions included) whose ``column`` contains ``text``."""
    from sqlalchemy import column as sa_column
    from sqlalchemy import func, select
    from sqlalchemy import table as sa_table

    stored = sa_table(storage_table(table), sa_column(storage_column(table, column)))
    target = stored.c[storage_column(table, column)]
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(func.count()).select_from(stored).where(target.like(pattern, escape="\\"))
    with engine().connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def analyze(table: Any) -> None:
    """Refresh Postgres' planner statistics of ``table`` (as autovacuum does on a live store)."""
    from sqlalchemy import text

    with engine().begin() as conn:
        name = conn.dialect.identifier_preparer.quote(storage_table(table))
        conn.execute(text(f"ANALYZE {name}"))  # an identifier, quoted: ANALYZE takes no parameters
