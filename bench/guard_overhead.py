"""Cost of one guarded no-op operation: core alone, one no-op implementation of every hook
the guard calls, and five of each. Target: <= 25 µs with one of each.

Usage: python bench/guard_overhead.py [--ops N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from lanterna import hookimpl
from lanterna.guard import Guard
from lanterna.plugins import PluginHost
from lanterna.types import RequestContext


class NoOp:
    """One no-op implementation of every hook the guard calls."""

    @hookimpl
    def tenant_from_request(self, request):
        return None

    @hookimpl
    def active_plan(self, request):
        return None

    @hookimpl
    def authorize(self, request, action, resource):
        return None

    @hookimpl
    def check_quota(self, request, action, plan):
        return None

    @hookimpl
    def record_usage(self, request, event):
        return None

    @hookimpl
    def record_audit_event(self, event):
        return None


def per_op_us(guard: Guard, ops: int, repeats: int = 7) -> float:
    request = RequestContext(transport="stdio")
    noop = int  # the cheapest callable: the guard's cost is all that is measured
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(ops):
            with guard.operation(request, "memory.search", "service:api"):
                noop()
        samples.append((time.perf_counter() - start) / ops * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20000)
    args = parser.parse_args()
    os.environ["LANTERNA_HOME"] = tempfile.mkdtemp()
    os.environ["LANTERNA_LOAD_PLUGINS"] = ""
    results = {}
    scenarios = (("core alone (built-ins only)", 0), ("1 no-op of each hook", 1), ("5 no-ops of each hook", 5))
    for label, copies in scenarios:
        host = PluginHost()
        for i in range(copies):
            host.register(NoOp(), f"noop-{i}")
        guard = Guard(host)
        per_op_us(guard, 1000)  # warm up
        results[label] = per_op_us(guard, args.ops)
    for label, us in results.items():
        print(f"{label:30s} {us:6.2f} µs per guarded operation (median of 7 x {args.ops})")
    one = results["1 no-op of each hook"]
    print(f"target <= 25 µs with one of each: {'OK' if one <= 25 else 'MISSED'} ({one:.2f} µs)")


if __name__ == "__main__":
    main()
