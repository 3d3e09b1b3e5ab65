"""Median wall time of `lanterna hooks` (test plugins installed) vs `python -c "import typer, pluggy"`.

Runs are interleaved so machine noise hits both alike. Target: ratio <= 1.3 and <= 300 ms.
Usage: python bench/cli_startup.py [--runs N]   (run inside the environment lanterna is installed in)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    lanterna = shutil.which("lanterna") or str(Path(sys.executable).parent / "lanterna")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LANTERNA_HOME": home, "LANTERNA_LOAD_PLUGINS": "good,pro-plan"}
        env.pop("LANTERNA_TRACE_HOOKS", None)
        # installs from wheels have bytecode; let the warm-up run write it where this env forbids it
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        commands = {
            "lanterna hooks": [lanterna, "hooks"],
            "python -c 'import typer, pluggy'": [sys.executable, "-c", "import typer, pluggy"],
        }
        for cmd in commands.values():  # warm the OS page cache and write bytecode
            timed(cmd, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, env))
    from importlib.metadata import entry_points

    installed = sorted(ep.name for ep in entry_points(group="lanterna"))
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    print(f"plugins installed ({len(installed)}): {', '.join(installed)}; loaded: good, pro-plan")
    for name, ms in medians.items():
        print(f"{name:36s} median {ms:7.1f} ms  (n={args.runs})")
    lanterna_ms, baseline_ms = medians["lanterna hooks"], medians["python -c 'import typer, pluggy'"]
    ratio = lanterna_ms / baseline_ms
    verdict = "OK" if ratio <= 1.3 and lanterna_ms <= 300 else "MISSED"
    print(f"ratio {ratio:.2f} (target <= 1.30), lanterna hooks {lanterna_ms:.0f} ms (target <= 300 ms): {verdict}")


if __name__ == "__main__":
    main()
