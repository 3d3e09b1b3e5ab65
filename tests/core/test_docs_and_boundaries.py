"""Docs stay in step with the hookspecs; the core never imports a plugin package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lanterna import hookspecs
from lanterna.hookdocs import hook_docs, render_markdown, undocumented_hooks

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "packages" / "core" / "src" / "lanterna"


def test_every_hook_has_a_family_and_a_docstring():
    assert undocumented_hooks() == []
    specs = {n for n, f in vars(hookspecs).items() if hasattr(f, "lanterna_spec")}
    assert specs == set(hookspecs.FAMILIES)


def test_hooks_reference_is_up_to_date():
    committed = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), "docs/hooks.md is stale: run `lanterna hooks --markdown > docs/hooks.md`"


def test_every_hook_is_named_in_the_architecture_doc():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [d.name for d in hook_docs() if d.name not in text]
    assert missing == []


def test_core_source_imports_no_plugin_package():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE)}: {n}" for n in names if n.startswith("lanterna_")]
    assert offenders == []


def test_tests_share_fixtures_through_conftest_and_helpers_through_a_module():
    here = Path(__file__)
    sources = {p: p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py") if p != here}
    conftest_import = "from tests." + "conftest import"
    assert [p for p, text in sources.items() if conftest_import in text] == []
    assert [p.relative_to(ROOT) for p, text in sources.items() if "def anyio_backend(" in text] == [
        Path("tests/conftest.py")
    ]
    assert [p for p, text in sources.items() if re.search(r"from \.+helpers import .*subprocess_env", text)] == []
    assert [p.relative_to(ROOT) for p, text in sources.items() if "def subprocess_env(" in text] == [
        Path("tests/helpers.py")
    ]


def test_import_contracts_name_every_plugin_package_of_the_repository():
    import tomllib

    plugin_packages = {
        p.name for p in ROOT.glob("packages/*/src/*") if p.is_dir() and p.name.isidentifier() and p.name != "lanterna"
    }
    assert plugin_packages  # the repository ships plugins
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    contracts = {c["type"]: c for c in config["contracts"]}
    assert plugin_packages <= set(config["root_packages"])
    assert plugin_packages <= set(contracts["forbidden"]["forbidden_modules"])
    assert plugin_packages <= set(contracts["independence"]["modules"])


def test_every_hook_has_a_caller():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.glob("packages/*/src/**/*.py"))
    # host.call("name", ...) or the guard's _decide(host, "name", ...)
    uncalled = [n for n in hookspecs.FAMILIES if f'call("{n}"' not in sources and f'_decide(host, "{n}"' not in sources]
    assert uncalled == []


def test_ci_runs_the_readme_test_command_which_installs_nothing_into_the_system_python():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash\n")[1:]]
    test_command = next(b for b in blocks if "nox" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test_command
    for command in (test_command, blocks[0]):
        # a distribution's python3 is externally managed (PEP 668): only a venv may be installed into
        assert "python3 -m pip" not in command and command.startswith("python3 -m venv ")


def test_the_noxfile_names_every_plugin_package_of_the_repository():
    """lint (mypy, deptry), tests and build cover every wheel in packages/ through PLUGIN_PACKAGES."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    listed = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PLUGIN_PACKAGES"
    )
    folders = {f"packages/{p.parent.name}" for p in ROOT.glob("packages/*/pyproject.toml")} - {"packages/core"}
    assert set(listed) == folders
    for folder, package in listed.items():
        assert (ROOT / folder / "src" / package / "__init__.py").is_file()
