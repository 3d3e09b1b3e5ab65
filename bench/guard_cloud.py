"""Added latency of one guarded call with lanterna-cloud-stubs, against the core alone.

    python bench/guard_cloud.py [--calls 500] [--dir PATH] [--keep]

Runs the same no-op operation through ``Guard.operation`` with the core's built-ins only and
with the cloud plugin loaded from its entry point (API key over HTTP, policy, quota check,
SQLite usage write, hash-chained audit line with fsync). Prints the median per-call time of
each, the median added latency, and how much of it goes to the audit fsync and the metering
write (the two durable writes). Files go to a fresh directory under --dir (default: the
system temp dir), so the figure depends on that disk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def measure(calls: int, request_factory, host) -> tuple[list[float], list[tuple[float, float]]]:
    from lanterna.guard import Guard

    guard = Guard(host)
    plugin = host.pm.get_plugin("cloud")
    times: list[float] = []
    parts: list[tuple[float, float]] = []
    for _ in range(calls):
        request = request_factory()
        fsync0 = plugin.audit.fsync_seconds if plugin else 0.0
        write0 = plugin.metering.write_seconds if plugin else 0.0
        start = time.perf_counter()
        with guard.operation(request, "memory.search", "repo:/bench"):
            pass
        times.append(time.perf_counter() - start)
        if plugin:
            parts.append((plugin.audit.fsync_seconds - fsync0, plugin.metering.write_seconds - write0))
    return times, parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="where the Lanterna home is created")
    parser.add_argument("--keep", action="store_true", help="keep the Lanterna home afterwards")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="lanterna-bench-", dir=args.dir))
    os.environ["LANTERNA_HOME"] = str(home)
    (home / "config.toml").write_text("[cloud.plans.free]\noperations_per_day = 100000000\n", encoding="utf-8")

    from lanterna.plugins import PluginHost
    from lanterna.types import RequestContext

    os.environ["LANTERNA_LOAD_PLUGINS"] = ""
    core = PluginHost()
    os.environ["LANTERNA_LOAD_PLUGINS"] = "cloud"
    cloud = PluginHost()
    plugin = cloud.pm.get_plugin("cloud")
    if plugin is None:
        print("lanterna-cloud-stubs is not installed in this environment; install it first", file=sys.stderr)
        return 1
    key, _ = plugin.keys.create("bench", "bench-user", ("member",))
    headers = {"authorization": f"Bearer {key}"}

    warm = max(20, args.calls // 10)
    measure(warm, lambda: RequestContext(transport="stdio"), core)
    measure(warm, lambda: RequestContext(transport="http", headers=headers), cloud)
    core_times, _ = measure(args.calls, lambda: RequestContext(transport="stdio"), core)
    cloud_times, parts = measure(args.calls, lambda: RequestContext(transport="http", headers=headers), cloud)

    us = 1e6
    core_median = statistics.median(core_times) * us
    cloud_median = statistics.median(cloud_times) * us
    added = cloud_median - core_median
    fsync = statistics.median(p[0] for p in parts) * us
    write = statistics.median(p[1] for p in parts) * us
    fs = os.statvfs(home)
    print(f"guarded no-op calls: {args.calls} each (after {warm} warm-up), files in {home}")
    print(f"  filesystem block size {fs.f_bsize} B; python {sys.version.split()[0]}")
    print(f"core alone:        median {core_median:9.1f} µs per call")
    print(f"with cloud-stubs:  median {cloud_median:9.1f} µs per call  (p90 {_p90(cloud_times) * us:.1f} µs)")
    print(f"added latency:     median {added:9.1f} µs per call")
    print(f"  audit fsync:       median {fsync:9.1f} µs  ({fsync / added:6.1%} of the added latency)")
    sqlite = "SQLite insert + commit, WAL, synchronous=FULL"
    print(f"  metering write:    median {write:9.1f} µs  ({write / added:6.1%}; {sqlite})")
    rest = added - fsync - write
    other = "key lookup, policy, quota query, plan, JSON, audit write"
    print(f"  everything else:          {rest:9.1f} µs  ({rest / added:6.1%}; {other})")
    plugin.shutdown()
    if not args.keep:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return 0


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


if __name__ == "__main__":
    sys.exit(main())
