"""Keep the server's event loop free: guard hooks and plain tools run on worker threads, bounded.

Plugins' hooks block (files, SQLite, network), and the MCP SDK serves every client on one
event loop, so:

- The guard's checks and records run on threads of their own (not the tools' pool), at most
  ``[guard] hook_threads`` (default 64) at once and a quarter of that per caller (one
  credential). A check that does not answer within ``[guard] hook_timeout_s`` (default 10 s)
  denies the operation, naming the hook and the plugins that implement it; the thread is left
  to finish. When a caller (or the server) has that many hook calls still running, its new
  operations are refused at once instead of queueing, so one caller whose calls hit a slow
  plugin cannot take the slots of the others.
- Plain (``def``) tools run on worker threads with at most ``TOOL_THREADS_PER_TENANT`` per
  tenant, so one tenant's slow calls queue behind each other, not in front of other tenants.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from lanterna.guard import Denied, Operation
from lanterna.plugins import PluginHost

log = logging.getLogger("lanterna.server")
T = TypeVar("T")

DEFAULT_HOOK_TIMEOUT_S = 10.0
DEFAULT_HOOK_THREADS = 64
TOOL_THREADS_PER_TENANT = 8


class Offload:
    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self.timeout_s = float(host.config.get("guard", "hook_timeout_s", DEFAULT_HOOK_TIMEOUT_S))
        self.max_threads = int(host.config.get("guard", "hook_threads", DEFAULT_HOOK_THREADS))
        self.per_caller = max(1, self.max_threads // 4)
        self.running = 0  # hook calls on threads, abandoned ones included
        self._by_caller: dict[str, int] = {}
        self._lock = threading.Lock()
        self._tool_limiters: dict[str, anyio.CapacityLimiter] = {}

    async def check(self, op: Operation) -> None:
        """``op.check()`` off the loop; a hook that does not answer in time denies."""
        if not await self._run(op.check, caller=_caller(op)):
            names = ", ".join(i.plugin_name for i in self.host.implementations(op.stage)) or "none"
            log.warning("%s hook did not answer within %.0f s (plugins: %s)", op.stage, self.timeout_s, names)
            raise Denied(
                "timeout",
                f"refused: the {op.stage} hook did not answer within {self.timeout_s:.0f} s (plugins: {names});"
                " nothing ran; retry, and ask the server's operator to fix or disable the slow plugin",
            )

    async def finish(self, op: Operation, exc: BaseException | None) -> None:
        """``op.finish(exc)`` off the loop. When audit is required, wait for it to be written."""
        if op.guard.audit_fail_closed:
            await anyio.to_thread.run_sync(op.finish, exc)
        elif not await self._run(functools.partial(op.finish, exc), caller=_caller(op), admit=False):
            log.warning("%s hook did not answer within %.0f s; it goes on in the background", op.stage, self.timeout_s)

    async def tool(self, tenant: str, fn: Callable[..., T], **kwargs: Any) -> T:
        """A plain tool on a worker thread, at most ``TOOL_THREADS_PER_TENANT`` per tenant."""
        limiter = self._tool_limiters.get(tenant)
        if limiter is None:
            limiter = self._tool_limiters[tenant] = anyio.CapacityLimiter(TOOL_THREADS_PER_TENANT)
        return await anyio.to_thread.run_sync(functools.partial(fn, **kwargs), limiter=limiter)

    async def _run(self, fn: Callable[[], None], caller: str, admit: bool = True) -> bool:
        """Run ``fn`` on a thread of its own; False when it did not return within the timeout.

        Not anyio's pool: a thread that is given up on keeps its slot in ``running`` until it
        really ends, and it is started at once, so the count can neither leak nor queue. Only
        new operations (``admit``) are refused when busy: the records of one that already ran
        (usage, audit, its quota slot) are always written.
        """
        with self._lock:
            mine = self._by_caller.get(caller, 0)
            if admit and mine >= self.per_caller:
                raise Denied(
                    "busy",
                    f"{mine} of your calls are still waiting on slow plugin hooks; retry when they have ended",
                )
            if admit and self.running >= self.max_threads:
                raise Denied(
                    "busy",
                    f"the server is busy: {self.running} plugin hook calls are still running; retry in a moment",
                )
            self.running += 1
            self._by_caller[caller] = mine + 1
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if not done.done():
                done.set_exception(error) if error is not None else done.set_result(None)

        def target() -> None:
            error: BaseException | None = None
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting task
                error = exc
            finally:
                with self._lock:
                    self.running -= 1
                    left = self._by_caller.pop(caller) - 1
                    if left:
                        self._by_caller[caller] = left
            with contextlib.suppress(RuntimeError):  # the server stopped meanwhile; nobody waits
                loop.call_soon_threadsafe(settle, error)

        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(target,), name="lanterna-hook", daemon=True).start()
        with anyio.move_on_after(self.timeout_s):
            await asyncio.shield(done)
            return True
        return False


def _caller(op: Operation) -> str:
    """Who is calling, before the tenant is known: a digest of the credential the request carries."""
    headers = op.request.headers
    credential = headers.get("authorization") or headers.get("x-tenant-id") or op.request.transport
    return hashlib.sha256(credential.encode("utf-8", "replace")).hexdigest()[:16]
