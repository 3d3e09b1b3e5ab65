"""`lanterna install` / `uninstall` for real: pip in a fresh virtual environment."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers import subprocess_env

PLUGIN = """
from lanterna import hookimpl


@hookimpl
def record_audit_event(event):
    pass
"""


@pytest.mark.slow
def test_install_then_uninstall_a_plugin_in_a_fresh_venv(tmp_path: Path, lanterna_home: Path):
    # a fresh venv with its own pip that sees the lanterna under test through a .pth file
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    parent = sysconfig.get_path("purelib")  # addsitedir also runs its .pth files (editable installs)
    Path(site, "lanterna-under-test.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    project = tmp_path / "lanterna-audit-demo"
    (project / "audit_demo").mkdir(parents=True)
    (project / "audit_demo" / "__init__.py").write_text(PLUGIN)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "lanterna-audit-demo"\nversion = "0.3.0"\n'
        '[project.entry-points.lanterna]\naudit-demo = "audit_demo"\n'
    )
    env = subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS="audit-demo")

    def lanterna(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from lanterna.cli import main; sys.argv[0] = 'lanterna'; main()"
        return subprocess.run(
            [str(python), "-c", code, *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
        )

    installed = lanterna("install", str(project))
    assert installed.returncode == 0, installed.stderr[-2000:]
    # it says what changed: the new plugin and what it hooks into
    assert "lanterna: plugin 'audit-demo' (lanterna-audit-demo 0.3.0): loaded; hooks into audit" in installed.stdout
    plugins = {p["name"]: p for p in json.loads(lanterna("plugins", "--json").stdout)}
    assert plugins["audit-demo"]["status"] == "loaded"
    assert (plugins["audit-demo"]["distribution"], plugins["audit-demo"]["version"]) == ("lanterna-audit-demo", "0.3.0")
    assert plugins["audit-demo"]["hooks"] == ["record_audit_event"]
    # the core was not moved by the install
    core = subprocess.run(
        [str(python), "-c", "import lanterna; print(lanterna.__file__)"], capture_output=True, text=True
    )
    assert str(env_dir) not in core.stdout

    removed = lanterna("uninstall", "-y", "lanterna-audit-demo")
    assert removed.returncode == 0, removed.stderr[-2000:]
    assert "audit-demo" not in {p["name"] for p in json.loads(lanterna("plugins", "--json").stdout)}


def test_install_failure_is_reported_in_one_line(tmp_path: Path, lanterna_home: Path):
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from lanterna.cli import main; main()", "install", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS=""),
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("lanterna: pip could not install")


def test_install_without_a_package_says_what_to_give(lanterna_home: Path):
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from lanterna.cli import main; main()", "install"],
        capture_output=True,
        text=True,
        env=subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS=""),
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "lanterna: name a plugin to install: `lanterna install NAME` or `lanterna install -e PATH`"
    )
