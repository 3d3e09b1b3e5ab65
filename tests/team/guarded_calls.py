"""Run guarded no-op operations from many threads at once; print what was admitted as JSON.

    python tests/team/guarded_calls.py THREADS CALLS API_KEY

The Lanterna home comes from ``LANTERNA_HOME`` (its config names the shared PostgreSQL).
"""

from __future__ import annotations

import json
import sys
import threading


def main(threads: int, calls: int, key: str) -> dict[str, object]:
    from lanterna.guard import Denied, Guard
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    guard = Guard(get_host())
    barrier = threading.Barrier(threads)
    admitted: list[str] = []
    denied: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        for _ in range(calls):
            request = RequestContext(transport="http", headers={"authorization": f"Bearer {key}"})
            try:
                with guard.operation(request, "memory.search", "repo:/r"):
                    pass
            except Denied as denial:
                with lock:
                    denied.append(denial.reason)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                with lock:
                    errors.append(repr(exc))
            else:
                with lock:
                    admitted.append(request.request_id)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    get_host().call("shutdown", isolate=True)
    return {"admitted": admitted, "denied": denied, "errors": errors}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])))
