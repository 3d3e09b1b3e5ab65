"""Lint, test, build. `python -m nox` runs every session; `-s NAME` one of them."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
# uv installs without bytecode; with PYTHONDONTWRITEBYTECODE set (as on some CI machines) every
# `lanterna` subprocess of the tests would compile Pixeltable and its dependencies again.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.sessions = [
    "lint",
    "tests",
    "core_only",
    "cloud_stubs",
    "github_pat",
    "gitlab_pat",
    "team",
    "author_kit",
    "build",
]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
CORE = "packages/core"
TEST_PLUGINS = sorted(glob.glob("tests/plugins/*/"))
TEST_DEPS = ["pytest>=8", "anyio>=4"]
#: The plugin wheels of this repository (folder -> import package); every packages/* folder but the core.
PLUGIN_PACKAGES: dict[str, str] = {
    "packages/cloud-stubs": "lanterna_cloud_stubs",
    "packages/github-pat": "lanterna_github_pat",
    "packages/gitlab-pat": "lanterna_gitlab_pat",
}


def build_wheel(session: nox.Session, folder: str, outdir: Path) -> Path:
    session.run("python", "-m", "build", "--wheel", "--outdir", str(outdir), folder, silent=True)
    name = Path(folder).name.replace("-", "_")
    dist = "lanterna" if name == "core" else f"lanterna_{name}"
    return max(outdir.glob(f"{dist}-*.whl"), key=os.path.getmtime)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff; import-linter's contracts (the core imports no plugin; plugins are independent);
    mypy on every package's source; deptry: every package declares what it imports."""
    packages = [CORE, *PLUGIN_PACKAGES]
    # pytest: lanterna.testing is a pytest plugin, mypy and deptry must see it
    session.install("ruff", "import-linter", "mypy", "deptry", "pytest", *[f"-e{p}" for p in packages])
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "--diff", "packages", "tests", "bench", "noxfile.py")
    session.run("lint-imports")
    session.run("mypy", *[f"{p}/src" for p in packages])
    for folder in packages:
        with session.chdir(folder):
            session.run("deptry", "src")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, against the editable core and every plugin of the repo, on two
    workers (each test process has its own Pixeltable home; most tests wait on subprocesses)."""
    session.install(*TEST_DEPS, "pytest-xdist", "-e", CORE, *[f"-e{p}" for p in PLUGIN_PACKAGES], *TEST_PLUGINS)
    ignored = ["--ignore=tests/team", "--ignore=tests/core_only"]  # their own sessions run them
    session.run("pytest", *(session.posargs or [*ignored, "-m", "not author_kit", "-n", "2"]))


@nox.session
def core_only(session: nox.Session) -> None:
    """The core wheel alone in a fresh venv: core tests pass and no plugin module is imported."""
    outdir = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(outdir, ignore_errors=True)
    session.install("build")
    wheel = build_wheel(session, CORE, outdir)
    session.install(str(wheel), *TEST_DEPS, *TEST_PLUGINS)
    # The point here is the core installed alone: its own tests, the author kit, and long-term
    # memory end to end (ingest, search, the MCP tools). The rest of tests/memory and the slow
    # tests run once, in the `tests` session.
    session.run(
        "pytest",
        "tests/core_only",
        "tests/core",
        "tests/testing",
        "tests/memory/test_ingest_search.py",
        "tests/memory/test_mcp_session.py",
        "tests/memory/test_cli.py",
        "-m",
        "not slow",
        *session.posargs,
        env={"LANTERNA_CORE_ONLY": "1"},
    )


@nox.session
def cloud_stubs(session: nox.Session) -> None:
    """The core and cloud-stubs wheels together in a fresh venv, running the plugin's tests."""
    outdir = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(outdir, ignore_errors=True)
    session.install("build")
    wheels = [build_wheel(session, folder, outdir) for folder in (CORE, "packages/cloud-stubs")]
    session.install(*map(str, wheels), *TEST_DEPS, *TEST_PLUGINS)  # tests/testing's harness loads the test plugins
    session.run("pytest", "tests/cloud_stubs", "tests/testing", *session.posargs)


def plugin_alone(session: nox.Session, folder: str, tests: str) -> None:
    """Build the core and one plugin wheel, install only those in a fresh venv, run the plugin's tests."""
    outdir = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(outdir, ignore_errors=True)
    session.install("build")
    wheels = [build_wheel(session, path, outdir) for path in (CORE, folder)]
    session.install(*map(str, wheels), *TEST_DEPS)
    session.run("pytest", tests, *session.posargs)


@nox.session
def github_pat(session: nox.Session) -> None:
    """lanterna-github-pat installed alone with the core, against the fake GitHub API."""
    plugin_alone(session, "packages/github-pat", "tests/github_pat")


@nox.session
def gitlab_pat(session: nox.Session) -> None:
    """lanterna-gitlab-pat installed alone with the core, against the fake GitLab API."""
    plugin_alone(session, "packages/gitlab-pat", "tests/gitlab_pat")


@nox.session
def team(session: nox.Session) -> None:
    """A real PostgreSQL server on a local port; several servers and processes share it (tests/team)."""
    session.install(*TEST_DEPS, "-e", CORE, *[f"-e{p}" for p in PLUGIN_PACKAGES])
    root = Path(tempfile.mkdtemp(prefix="lanterna-team-pg-"))
    session.run("python", "-m", "tests.team.pgserver", "start", str(root))
    try:
        url = (root / "url").read_text().strip()  # not stdout: nox mixes stderr into it
        session.run("pytest", "tests/team", *session.posargs, env={"LANTERNA_TEST_PG_URL": url})
    finally:
        session.run("python", "-m", "tests.team.pgserver", "stop", str(root))


@nox.session
def author_kit(session: nox.Session) -> None:
    """A plugin author's path: the three commands (new, install -e, pytest) timed in a fresh venv
    with the core wheel, then the generated project of every hook family and every block of
    docs/plugins.md and the README's plugin section (tests marked author_kit)."""
    outdir = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(outdir, ignore_errors=True)
    session.install("build", *TEST_DEPS, "-e", CORE)
    wheel = build_wheel(session, CORE, outdir)
    session.run("python", "bench/author_quickstart.py", "--wheel", str(wheel))
    session.run("pytest", "-m", "author_kit", "tests/core", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Every wheel into dist/."""
    session.install("build")
    outdir = ROOT / "dist"
    for folder in [CORE, *PLUGIN_PACKAGES]:
        session.log(f"built {build_wheel(session, folder, outdir).name}")
