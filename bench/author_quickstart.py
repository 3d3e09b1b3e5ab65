"""A plugin author's first three commands, timed, in a fresh venv with the core wheel.

    lanterna plugin new acme --hooks tools,metering
    lanterna install -e acme
    pytest acme

Target: all three green in <= 60 s of wall time, and `lanterna hooks` shows the new plugin.
Setting up the venv (the core wheel and pytest) is timed apart: a user has done it before.
Exits non-zero when a command fails or the plugin is missing from `lanterna hooks`.

Usage: python bench/author_quickstart.py [--wheel dist/lanterna-X-py3-none-any.whl]
(without --wheel, the core wheel is built from packages/core first)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60.0
HOOKS = "tools,metering"


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - start, done


def build_wheel(out: Path) -> Path:
    uv = shutil.which("uv")
    cmd = (
        [uv, "build", "--wheel", "-q", "-o", str(out)]
        if uv
        else [sys.executable, "-m", "build", "--wheel", "-o", str(out)]
    )
    subprocess.run([*cmd, str(ROOT / "packages" / "core")], check=True, capture_output=True)
    return next(out.glob("lanterna-*.whl"))


def make_venv(where: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A venv with the core wheel and pytest; uv when it is there (seconds instead of a minute)."""
    uv = shutil.which("uv")
    python = where / "bin" / "python"
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(where)], check=True, env=env)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(python), str(wheel), "pytest"], check=True, env=env)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel), "pytest"], check=True, env=env)
    return where / "bin"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheel", type=Path, help="the core wheel to install (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lanterna-author-") as tmp:
        base = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANTERNA_", "VIRTUAL_ENV", "PYTHONPATH"))}
        env["LANTERNA_HOME"] = str(base / "home")
        start = time.perf_counter()
        wheel = args.wheel or build_wheel(base / "wheel")
        built = time.perf_counter() - start
        start = time.perf_counter()
        bin_dir = make_venv(base / "venv", wheel.resolve(), env)
        setup = time.perf_counter() - start
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        work = base / "work"
        work.mkdir()
        say(f"core wheel: {wheel.name}" + (f" (built in {built:.1f} s)" if args.wheel is None else ""))
        say(f"fresh venv with the core wheel and pytest: {setup:.1f} s (not counted)")
        say()
        steps = [
            ["lanterna", "plugin", "new", "acme", "--hooks", HOOKS],
            ["lanterna", "install", "-e", "acme"],
            ["pytest", "-q", "-p", "no:cacheprovider", "acme"],
        ]
        total, failed = 0.0, False
        for step in steps:
            seconds, done = run(step, work, env)
            total += seconds
            lines = done.stdout.strip().splitlines() or [""]
            summary = lines[-1] if step[0] == "pytest" else lines[0]
            say(f"{seconds:6.1f} s  exit {done.returncode}  {' '.join(step)}" + (f"   [{summary}]" if summary else ""))
            if done.returncode:
                failed = True
                say((done.stdout + done.stderr)[-3000:])
                break
        seconds, hooks = run(["lanterna", "hooks", "--json"], work, env)
        shown = []
        if hooks.returncode == 0:
            shown = [
                h["name"] for h in json.loads(hooks.stdout) if any(i["plugin"] == "acme" for i in h["implementers"])
            ]
        say()
        verdict = "met" if total <= TARGET_S else "missed"
        say(f"three commands: {total:.1f} s wall (target <= {TARGET_S:.0f} s: {verdict})")
        say(f"lanterna hooks shows acme in: {', '.join(shown) or 'NOTHING'} ({seconds:.1f} s)")
        return 1 if failed or not shown else 0


if __name__ == "__main__":
    sys.exit(main())
