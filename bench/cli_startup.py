"""Median wall time of `lanterna hooks` vs `python -c "import typer, pluggy"`, with the wheels of
this repository (the core and every plugin package) installed in a fresh venv, as a user has them.

Runs are interleaved so machine noise hits both alike; the ratio is the median of the ratios
of each pair (one run of each command, back to back), which a busy machine moves less than
a ratio of two medians (shown too). Target: ratio <= 1.3 with every plugin loaded. Also shown:
the same with no plugin loaded (LANTERNA_LOAD_PLUGINS="").
Usage: python bench/cli_startup.py [--runs N] [--venv DIR]   (needs `uv`; DIR is reused if it exists)
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def install_wheels(venv: Path) -> list[str]:
    """A venv holding the core and every plugin wheel of the repository; their names."""
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("cli_startup: needs `uv` on PATH to build the wheels and the venv")
    python = venv / "bin" / "python"
    packages = sorted(glob.glob(str(ROOT / "packages" / "*" / "pyproject.toml")))
    if not python.exists():
        subprocess.run([uv, "venv", "-q", str(venv)], check=True)
        wheels = venv / "wheels"
        for pyproject in packages:
            subprocess.run(
                [uv, "build", "-q", "--wheel", "--out-dir", str(wheels), str(Path(pyproject).parent)], check=True
            )
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), *glob.glob(str(wheels / "*.whl"))], check=True
        )
    return [Path(p).parent.name for p in packages]


def clean_env(home: str) -> dict[str, str]:
    """The environment of a user who has set no LANTERNA_* variable, with its own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTERNA_")}
    env["LANTERNA_HOME"] = home
    return env


def measure(venv: Path, runs: int, plugins: str | None) -> tuple[dict[str, float], float]:
    """Median wall time of each command (ms) and the median of the per-pair ratios."""
    with tempfile.TemporaryDirectory() as home:
        env = clean_env(home)
        if plugins is not None:
            env["LANTERNA_LOAD_PLUGINS"] = plugins
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # installed wheels have bytecode; let the warm-up write it
        commands = {
            "lanterna hooks": [str(venv / "bin" / "lanterna"), "hooks"],
            "import typer, pluggy": [str(venv / "bin" / "python"), "-c", "import typer, pluggy"],
        }
        for cmd in commands.values():  # warm the page cache, write bytecode and the entry-point cache
            timed(cmd, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, env))
    pairs = [a / b for a, b in zip(samples["lanterna hooks"], samples["import typer, pluggy"], strict=True)]
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}, statistics.median(pairs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--venv", type=Path, default=None, help="where to build the venv (kept); default: a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        venv = args.venv or Path(tmp) / "venv"
        names = install_wheels(venv)
        listed = subprocess.run(
            [str(venv / "bin" / "lanterna"), "plugins"], capture_output=True, text=True, env=clean_env(tmp)
        )
        loaded = sorted(
            line.split()[0] for line in listed.stdout.splitlines()[2:] if " loaded " in line or " degraded " in line
        )
        print(f"wheels installed: {', '.join(names)}; plugins loaded: {', '.join(loaded) or 'none'}")
        for label, plugins in (("every plugin loaded", None), ("no plugin loaded", "")):
            medians, ratio = measure(venv, args.runs, plugins)
            of_medians = medians["lanterna hooks"] / medians["import typer, pluggy"]
            figures = "  ".join(f"{name} {ms:6.1f} ms" for name, ms in medians.items())
            verdict = "" if plugins == "" else ("  OK" if ratio <= 1.3 else "  MISSED (target <= 1.30)")
            print(
                f"{label:20s} {figures}  ratio {ratio:.2f} (median of {args.runs} pairs;"
                f" of the medians {of_medians:.2f}){verdict}"
            )


if __name__ == "__main__":
    main()
