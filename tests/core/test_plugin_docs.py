"""Every shell and Python block of docs/plugins.md and of the README's plugin section runs.

The blocks of a document run in order, in one working folder, in a fresh venv that sees the
lanterna under test through a .pth file, with `lanterna`, `pytest` and `python` on PATH. A
Python block whose first line is a comment naming a relative .py path
(``# acme/tests/test_more.py``) is that file's content: it is written there for a later
block to run. Every other Python block runs as a script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers import ISOLATED_ENV

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(bash|sh|shell|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_COMMENT = re.compile(r"^# ([\w./-]+\.py)\n")

pytestmark = [pytest.mark.slow, pytest.mark.author_kit]


def blocks(text: str) -> list[tuple[str, str]]:
    return [(lang, code) for lang, code in BLOCK.findall(text)]


def readme_plugin_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Plugins")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.fixture(scope="module")
def author_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh venv whose `lanterna` and `pytest` are the ones under test."""
    env_dir = tmp_path_factory.mktemp("author-venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    parent = sysconfig.get_path("purelib")
    Path(site, "lanterna-under-test.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    for name, call in (("lanterna", "from lanterna.launch import main"), ("pytest", "from pytest import main")):
        script = env_dir / "bin" / name
        script.write_text(f"#!{python}\nimport sys\n{call}\nsys.exit(main())\n")
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV and k != "VIRTUAL_ENV"}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    env["LANTERNA_HOME"] = str(tmp_path_factory.mktemp("author-home"))
    # The test environment holds the repository's test plugins, some broken on purpose: a
    # plugin author's environment holds only their own.
    env["LANTERNA_LOAD_PLUGINS"] = "acme"
    return env


def run_blocks(text: str, cwd: Path, env: dict[str, str]) -> list[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    outputs = []
    found = blocks(text)
    assert found, "no shell or Python block found"
    for number, (lang, code) in enumerate(found, 1):
        file = FILE_COMMENT.match(code) if lang == "python" else None
        if file is not None:
            target = cwd / file[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code, encoding="utf-8")
            continue
        if lang == "python":
            script = cwd / f"block_{number}.py"
            script.write_text(code, encoding="utf-8")
            command = ["python", str(script)]
        else:
            command = ["bash", "-e", "-o", "pipefail", "-c", code]
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (
            f"block {number} ({lang}) failed:\n{code}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        outputs.append(done.stdout)
    return outputs


def test_the_readme_plugin_section_runs(author_env: dict[str, str], tmp_path: Path) -> None:
    outputs = run_blocks(readme_plugin_section(), tmp_path / "readme", author_env)
    assert " passed" in outputs[-1]


def test_the_plugin_guide_runs_from_zero_to_a_published_wheel(author_env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "guide"
    outputs = run_blocks((ROOT / "docs" / "plugins.md").read_text(encoding="utf-8"), work, author_env)
    new, seen, settings, configured, tools, tested, published = outputs
    passed = re.search(r"(\d+) passed", new)
    assert passed and "failed" not in new, new
    assert "lanterna-acme" in seen and "acme_greet" in seen and "Hello, Ada" in seen
    assert "settings read from the [acme] section" in settings
    assert configured.strip() == "Hi, Ada"
    assert "ticket 7 of tenant test-tenant" in tools
    assert f"{int(passed[1]) + 2} passed" in tested and "failed" not in tested, tested
    assert "PASSED" in published and "lanterna-acme" in published
