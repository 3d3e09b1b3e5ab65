"""Start and stop Pixeltable for Lanterna, defusing its traps.

- ``pxt.init()`` prints to stdout (and initdb may too): file descriptor 1 is pointed at
  stderr while it runs, so nothing reaches an MCP stdio wire.
- It starts an unauthenticated HTTP server whose root is ``/``: Lanterna never lets it
  bind (Lanterna serves no media, the server is only used to display media links).
- The embedded Postgres outlives the process: ``stop()`` stops it unless another live
  process still uses it (Pixeltable's pgserver keeps a list of their pids in pgdata; it is
  read and rewritten under pgserver's inter-process lock, so the last of several processes
  stopping at once stops Postgres).
- Similarity queries with a ``where`` come back short from HNSW: every connection sets
  pgvector's iterative scan, so filtered searches keep scanning until they have enough rows.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanterna.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Iterator

log = logging.getLogger("lanterna.memory")

#: Settings applied to every connection. pgvector >= 0.8's iterative scan keeps an HNSW search going until
#: the ``where`` has let enough rows through. Custom plans: psycopg prepares repeated queries, and Postgres'
#: generic plan for ``tenant = $1`` cannot tell a tenant holding most rows from a small one.
#: ``statement_timeout``: no statement of the store (a search, a write batch) runs longer than
#: ``QUERY_TIMEOUT_S``; Postgres cancels it and the caller gets a clear error.
QUERY_TIMEOUT_S = 30
VECTOR_SETTINGS = {
    "hnsw.iterative_scan": "strict_order",
    "hnsw.ef_search": "40",
    "hnsw.max_scan_tuples": "50000",
    "plan_cache_mode": "force_custom_plan",
    "statement_timeout": str(QUERY_TIMEOUT_S * 1000),
}


class StoreError(UserError):
    """The memory store cannot be used; the message says what to do."""


@dataclass(frozen=True)
class RuntimeSettings:
    home: Path
    db_connect_str: str | None = None


_lock = threading.Lock()
_started: RuntimeSettings | None = None


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Point fd 1 (and ``sys.stdout``) at stderr, catching prints and child processes alike."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def start(settings: RuntimeSettings) -> None:
    """Initialise Pixeltable once per process with ``settings``; a second home is refused."""
    global _started
    with _lock:
        if _started is not None:
            if _started != settings:
                raise StoreError(
                    f"this process already uses the memory store at {_started.home}; one store per process"
                )
            return
        settings.home.mkdir(parents=True, exist_ok=True)
        os.environ["PIXELTABLE_HOME"] = str(settings.home)
        if settings.db_connect_str:
            os.environ["PIXELTABLE_DB_CONNECT_STR"] = settings.db_connect_str
        else:
            os.environ.pop("PIXELTABLE_DB_CONNECT_STR", None)
        # pixeltable's bundled Postgres asks platformdirs for a runtime dir at import; without
        # XDG_RUNTIME_DIR (containers, CI, su) platformdirs warns on every CLI run, harmlessly.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        with stdout_to_stderr():
            import pixeltable as pxt

            from lanterna.memory import pxt_adapter

            pxt_adapter.disable_web_server()
            try:
                pxt.init({"pixeltable.verbosity": 0})
            except Exception as exc:
                raise StoreError(
                    f"cannot start the memory store at {settings.home}: {type(exc).__name__}: {exc};"
                    " check [memory] pixeltable_home / db_connect_str"
                ) from exc
        logging.getLogger("pixeltable").setLevel(logging.WARNING)
        _install_vector_settings(pxt_adapter.engine())
        _install_cancel_tracking(pxt_adapter.engine())
        _install_untimed(pxt_adapter.engine())
        _started = settings
        atexit.register(stop)  # a CLI run or a server that exits without shutdown still stops Postgres


def _install_vector_settings(engine: Any) -> None:
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for name, value in VECTOR_SETTINGS.items():
                cursor.execute(f"SET {name} = {value}")
        finally:
            cursor.close()
        dbapi_connection.commit()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections were opened before the listener: drop them


class Cancelled(Exception):
    """The statement's caller went away and cancelled it (``Cancellation.cancel``)."""


#: Thread id -> the cancellation of the statements it runs (only threads inside ``tracking()``).
_tracked: dict[int, Cancellation] = {}


class Cancellation:
    """Lets another thread cancel the store statements of the thread inside ``tracking()``.

    A search runs on a worker thread; when the MCP client that asked for it goes away, the
    waiting task calls ``cancel()``: the statement running now is cancelled in PostgreSQL
    (``pg_cancel_backend``) and the thread runs no further statement.
    """

    def __init__(self) -> None:
        self.thread: int | None = None
        self.backend_pid: int | None = None
        self.cancelled = False

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        self.thread = threading.get_ident()
        _tracked[self.thread] = self
        try:
            yield
        finally:
            _tracked.pop(self.thread, None)

    def cancel(self) -> None:
        self.cancelled = True
        pid = self.backend_pid
        if pid is None:
            return
        from sqlalchemy import text

        from lanterna.memory import pxt_adapter

        with contextlib.suppress(Exception), pxt_adapter.engine().connect() as conn:
            conn.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": pid})


def _install_cancel_tracking(engine: Any) -> None:
    from sqlalchemy import event

    def before_execute(conn: Any, *_args: Any) -> None:
        cancellation = _tracked.get(threading.get_ident())
        if cancellation is None:
            return
        if cancellation.cancelled:
            raise Cancelled("the caller went away; the search was cancelled")
        cancellation.backend_pid = conn.connection.dbapi_connection.info.backend_pid

    event.listen(engine, "before_cursor_execute", before_execute)


#: Threads inside ``untimed()``, and how deep (a bulk load's index build nests one in another).
_untimed: dict[int, int] = {}
_UNTIMED_KEY = "lanterna_untimed"


@contextlib.contextmanager
def untimed() -> Iterator[None]:
    """The store statements of this thread run without ``statement_timeout``: building the
    vector index of a large table, which takes minutes, is not a runaway query."""
    thread = threading.get_ident()
    _untimed[thread] = _untimed.get(thread, 0) + 1
    try:
        yield
    finally:
        _untimed[thread] -= 1
        if not _untimed[thread]:
            del _untimed[thread]


def _install_untimed(engine: Any) -> None:
    from sqlalchemy import event

    def before_execute(conn: Any, cursor: Any, *_args: Any) -> None:
        if threading.get_ident() in _untimed and not conn.info.get(_UNTIMED_KEY):
            cursor.execute("SET statement_timeout = 0")
            conn.info[_UNTIMED_KEY] = True

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(_UNTIMED_KEY, False):  # back to every connection's limit before reuse
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"SET statement_timeout = {VECTOR_SETTINGS['statement_timeout']}")
            finally:
                cursor.close()
            dbapi_connection.commit()

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "checkin", on_checkin)


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is Postgres cancelling a statement at ``statement_timeout``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "QueryCanceled" or "statement timeout" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def started() -> RuntimeSettings | None:
    return _started


def ping() -> str | None:
    """``None`` when the store this process opened answers a trivial query (or none is open)."""
    if _started is None:
        return None
    from sqlalchemy import text

    from lanterna.memory import pxt_adapter

    try:
        with pxt_adapter.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return f"memory store unreachable ({type(exc).__name__}); check [memory] db_connect_str / pixeltable_home"
    return None


def release_connections() -> None:
    """Close pooled database connections; the store stays usable (new ones open on demand)."""
    with _lock:
        if _started is None:
            return
        from lanterna.memory import pxt_adapter

        env = pxt_adapter.current_env()
        if env is not None:
            with contextlib.suppress(Exception):
                env.engine.dispose()


def stop() -> bool:
    """Release Pixeltable's connections and stop the embedded Postgres if no one else uses it.

    Returns True when a Postgres server was stopped. Safe to call more than once.
    """
    global _started
    with _lock:
        if _started is None:
            return False
        from lanterna.memory import pxt_adapter

        env = pxt_adapter.current_env()
        _started = None
        if env is None:
            return False
        with contextlib.suppress(Exception):
            env.engine.dispose()
        server = pxt_adapter.embedded_server(env)
        if server is None:  # external Postgres: not ours to stop
            return False
        return _stop_embedded(server)


def _stop_embedded(server: Any) -> bool:
    # Under pgserver's own inter-process lock (the one it takes to start Postgres and to
    # register a user): two processes stopping at once would otherwise each read the list
    # while the other is still in it, and both leave Postgres running.
    from lanterna.memory import pxt_adapter

    with pxt_adapter.server_lock(server):
        return _stop_if_last(server)


def _stop_if_last(server: Any) -> bool:
    import psutil

    from lanterna.memory import pxt_adapter

    others = [p for p in pxt_adapter.process_ids(server) if p != os.getpid() and psutil.pid_exists(p)]
    pxt_adapter.set_process_ids(server, others)
    if others:
        log.info("embedded Postgres left running for processes %s", others)
        return False
    pid = postgres_pid(Path(server.pgdata).parent, pgdata=Path(server.pgdata))
    if pid is None:
        return False
    # SIGINT is Postgres' "fast" shutdown, what `pg_ctl -m fast stop` sends; pg_ctl itself would have to run
    # as the server's system user, who may not be able to enter the folders above pgdata.
    try:
        os.kill(pid, signal.SIGINT)
        psutil.Process(pid).wait(timeout=30)
    except psutil.NoSuchProcess:
        pass
    except (ProcessLookupError, PermissionError, psutil.TimeoutExpired) as exc:
        log.warning("could not stop the embedded Postgres (pid %s): %s", pid, exc)
        return False
    return True


def postgres_pid(home: Path, pgdata: Path | None = None) -> int | None:
    """The pid of the embedded Postgres serving ``home``, if one is running."""
    pid_file = (pgdata or home / "pgdata") / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid
