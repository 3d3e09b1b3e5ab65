"""`lanterna plugin new`: a ready project whose own tests pass once installed, and plain errors."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

from lanterna import PLUGIN_API_VERSION
from lanterna.authoring import FAMILIES, core_requirement, render
from tests.helpers import subprocess_env

ALL = list(FAMILIES)


def lanterna(
    home: Path, *args: str, cwd: Path, python: str = sys.executable, load: str = "acme"
) -> subprocess.CompletedProcess[str]:
    code = "import sys; from lanterna.cli import main; sys.argv[0] = 'lanterna'; main()"
    return subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=subprocess_env(home, LANTERNA_LOAD_PLUGINS=load),
        timeout=300,
    )


@pytest.mark.parametrize("families", [[f] for f in ALL] + [ALL], ids=[*ALL, "all"])
def test_every_family_renders_valid_python_and_metadata(families: list[str]) -> None:
    files = render("acme", families, "acme")
    assert set(files) == {"pyproject.toml", "README.md", "src/lanterna_acme/__init__.py", "tests/test_acme.py"}
    for name in ("src/lanterna_acme/__init__.py", "tests/test_acme.py"):
        compile(files[name], name, "exec")
    meta = tomllib.loads(files["pyproject.toml"])
    project = meta["project"]
    assert project["name"] == "lanterna-acme"
    assert project["entry-points"]["lanterna"] == {"acme": "lanterna_acme:AcmePlugin"}
    assert "Framework :: Lanterna" in project["classifiers"]
    assert project["dependencies"] == [core_requirement()]
    assert meta["tool"]["lanterna"]["plugin-api"] == PLUGIN_API_VERSION
    assert meta["tool"]["pytest"]["ini_options"]["lanterna_plugins"] == ["acme"]
    module = files["src/lanterna_acme/__init__.py"]
    for hook in (h for f in families for h in FAMILIES[f]):
        assert f"def {hook}(" in module
    assert f"LANTERNA_PLUGIN_API = {PLUGIN_API_VERSION}" in module


def test_core_requirement_is_the_compatible_range() -> None:
    assert core_requirement("0.1.0") == "lanterna>=0.1,<0.2"
    assert core_requirement("1.4.2") == "lanterna>=1.4,<2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Acme!"], "'Acme!' is not a plugin name; use lower-case letters, digits and single dashes"),
        (["acme", "--hooks", "tool"], "unknown hook family 'tool'; did you mean 'tools'? choose from tenancy,"),
        (["acme", "--hooks", ","], "--hooks is empty; choose from tenancy,"),
        (["taken"], "taken already exists and is not empty; choose another name or --path"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, lanterna_home: Path, args: list[str], message: str):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = lanterna(lanterna_home, "plugin", "new", *args, cwd=tmp_path, load="")
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"lanterna: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


@pytest.mark.slow
@pytest.mark.author_kit
def test_a_new_project_installs_passes_its_tests_and_shows_up(tmp_path: Path, lanterna_home: Path) -> None:
    """Every family at once, in a fresh venv that sees the lanterna under test through a .pth file."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    Path(site, "lanterna-under-test.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n"
    )

    made = lanterna(
        lanterna_home, "plugin", "new", "acme", "--hooks", ",".join(ALL), cwd=tmp_path, python=python, load=""
    )
    assert made.returncode == 0, made.stderr
    assert "lanterna install -e acme" in made.stdout
    installed = lanterna(lanterna_home, "install", "-e", "acme", cwd=tmp_path, python=python)
    assert installed.returncode == 0, installed.stderr[-3000:]
    tested = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "acme"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=subprocess_env(lanterna_home),
        timeout=300,
    )
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert " passed" in tested.stdout and "failed" not in tested.stdout

    plugins = {
        p["name"]: p
        for p in json.loads(lanterna(lanterna_home, "plugins", "--json", cwd=tmp_path, python=python).stdout)
    }
    assert plugins["acme"]["status"] == "loaded"
    assert plugins["acme"]["distribution"] == "lanterna-acme"
    hooks = json.loads(lanterna(lanterna_home, "hooks", "--json", cwd=tmp_path, python=python).stdout)
    implemented = {h["name"] for h in hooks if any(i["plugin"] == "acme" for i in h["implementers"])}
    assert implemented == {h for f in ALL for h in FAMILIES[f]}
    tools = json.loads(lanterna(lanterna_home, "tools", "--json", cwd=tmp_path, python=python).stdout)["tools"]
    assert {"name": "acme_greet", "plugin": "acme"}.items() <= next(
        t for t in tools if t["name"] == "acme_greet"
    ).items()
    hello = lanterna(lanterna_home, "acme-hello", "--name", "Ada", cwd=tmp_path, python=python)
    assert hello.stdout == "Hello, Ada\n", hello.stderr
