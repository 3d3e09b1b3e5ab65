"""Requests and wall time of `lanterna ingest github:OWNER/REPO` against a fake GitHub API.

A 500-file repository (Python modules of ~1.5 KB) is served by the fake GitHub on 127.0.0.1.
Measured, each as a fresh `lanterna ingest … --json` process: a fresh ingest, an unchanged
re-ingest, a re-ingest after 5 files changed; and a local ingest of the same files into another
service, plus the start-up of a memory command (`lanterna services`), for comparison.
Embedder: hash-384 (LANTERNA_EMBEDDER), so the figures show the pipeline and the transport,
not the model. "ingest s" is the ingest's own time, without process start-up.
Targets: fresh <= 5 requests and <= 1.2x local; unchanged <= 2 requests and <= 1.5x the start-up.

Usage: python bench/code_host_ingest.py [--files 500] [--runs 3]   (inside lanterna's environment)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fake_github import FakeGitHub

TOKEN = "ghp_" + "BenchmarkT0ken" * 2 + "abcdefgh"


def module(i: int, version: int = 0) -> str:
    body = "\n".join(
        f"def handler_{i}_{j}(request, version={version}):\n"
        f'    """Handle request kind {j} of service {i}."""\n'
        f"    total = sum(item.amount * {j + 1} for item in request.items)\n"
        f"    return {{'service': {i}, 'kind': {j}, 'total': total}}\n"
        for j in range(6)
    )
    return f'"""Service module {i}."""\n\n{body}'


def run(lanterna: str, args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([lanterna, *args], env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    try:
        return elapsed, json.loads(proc.stdout)
    except ValueError:
        return elapsed, {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="runs of the start-up and unchanged re-ingest")
    args = parser.parse_args()
    lanterna = shutil.which("lanterna") or str(Path(sys.executable).parent / "lanterna")
    files = {f"src/service_{i // 50:02}/module_{i:03}.py": module(i) for i in range(args.files)}
    with tempfile.TemporaryDirectory() as tmp, FakeGitHub() as fake:
        fake.add_token(TOKEN, "bench", set())
        fake.add_repo("bench/monorepo", files)
        home, local = Path(tmp) / "home", Path(tmp) / "local"
        home.mkdir()
        for rel, text in files.items():
            (local / rel).parent.mkdir(parents=True, exist_ok=True)
            (local / rel).write_text(text, encoding="utf-8")
        (home / "config.toml").write_text(f'[github]\nbase_url = "{fake.base_url}"\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANTERNA_", "GITHUB_", "GH_"))}
        env.update(
            LANTERNA_HOME=str(home),
            LANTERNA_PIXELTABLE_HOME=str(Path(tmp) / "pxt"),
            LANTERNA_EMBEDDER="hash-384",
            LANTERNA_LOAD_PLUGINS="github",
            LANTERNA_NO_DAEMON="1",  # each command in its own process: the start-up is the yardstick
            GITHUB_TOKEN=TOKEN,
        )
        run(lanterna, ["services", "--json"], env)  # creates the store: not part of any figure
        # pairs run back to back, so the machine's load hits both sides of each ratio alike
        local_runs, fresh_runs = [], []
        for i in range(args.runs):
            local_runs.append(run(lanterna, ["ingest", str(local), "--service", f"local-{i}", "--json"], env))
            fake.reset()
            fresh_runs.append(
                run(lanterna, ["ingest", "github:bench/monorepo", "--service", f"remote-{i}", "--json"], env)
            )
            if i == 0:
                fresh_requests = len(fake.requests())  # later runs find the tree in the HTTP cache
        spec = ["ingest", "github:bench/monorepo", "--service", "remote-0", "--json"]
        startup, unchanged = [], []
        for _ in range(args.runs):
            startup.append(run(lanterna, ["services", "--json"], env)[0])
            fake.reset()
            seconds, report = run(lanterna, spec, env)
            unchanged.append((seconds, len(fake.requests()), report))
        changed_files = dict(files)
        for i in range(5):
            changed_files[f"src/service_00/module_{i:03}.py"] = module(i, version=1)
        fake.commit("bench/monorepo", changed_files)
        fake.reset()
        changed_s, changed = run(lanterna, spec, env)
        changed_requests = len(fake.requests())
        if not fake.requests(lambda s: s.method == "GET"):
            raise SystemExit("no request reached the fake GitHub")

    local_s, local_report = statistics.median(s for s, _ in local_runs), local_runs[0][1]
    fresh_s, fresh = statistics.median(s for s, _ in fresh_runs), fresh_runs[0][1]
    fresh_ratio = statistics.median(f[0] / loc[0] for f, loc in zip(fresh_runs, local_runs, strict=True))
    unchanged_ratio = statistics.median(u[0] / s for u, s in zip(unchanged, startup, strict=True))
    startup_s = statistics.median(startup)
    unchanged_s = statistics.median(s for s, _, _ in unchanged)
    unchanged_requests = max(n for _, n, _ in unchanged)
    print(f"repository: {args.files} files, {sum(map(len, files.values())) // 1024} KiB; embedder hash-384")
    print(f"{'run':<34} {'requests':>8} {'wall s':>8} {'ingest s':>8}  result")
    print(f"{'memory command start-up (services)':<34} {'-':>8} {startup_s:>8.2f} {'-':>8}  median of {args.runs}")
    print(
        f"{'local ingest (same files)':<34} {'-':>8} {local_s:>8.2f} {local_report['seconds']:>8.2f}"
        f"  {local_report['added']} added, {local_report['chunks']} chunks, median of {args.runs}"
    )
    print(
        f"{'github fresh ingest':<34} {fresh_requests:>8} {fresh_s:>8.2f} {fresh['seconds']:>8.2f}"
        f"  {fresh['added']} added, {fresh['source']['bytes'] // 1024} KiB downloaded, median of {args.runs}"
    )
    last = unchanged[-1][2]
    print(
        f"{'github unchanged re-ingest':<34} {unchanged_requests:>8} {unchanged_s:>8.2f} {last['seconds']:>8.2f}"
        f"  {last['unchanged']} unchanged, {last['source']['not_modified']} answered 304, median of {args.runs}"
    )
    print(
        f"{'github re-ingest, 5 files changed':<34} {changed_requests:>8} {changed_s:>8.2f} {changed['seconds']:>8.2f}"
        f"  {changed['updated']} updated, {changed['unchanged']} unchanged"
    )
    ok = fresh_requests <= 5 and unchanged_requests <= 2 and fresh_ratio <= 1.2 and unchanged_ratio <= 1.5
    print(
        f"fresh: {fresh_requests} requests (target <= 5), {fresh_ratio:.2f}x local ingest (target <= 1.2);"
        f" unchanged: {unchanged_requests} requests (target <= 2), {unchanged_ratio:.2f}x start-up (target <= 1.5)"
        " (ratios: medians of back-to-back pairs):"
        f" {'OK' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
