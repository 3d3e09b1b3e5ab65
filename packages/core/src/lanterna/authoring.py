"""``lanterna plugin new``: write a ready plugin project from the templates shipped in the wheel.

A project is the base templates (``templates/plugin/*.tmpl``) filled with one snippet file per
chosen hook family (``templates/plugin/hooks/<family>.tmpl``). A snippet file holds sections
introduced by ``#@ <section>`` lines: imports, constructor lines, hook methods, module code,
and the matching tests, harness methods, settings and README lines. Placeholders are
``string.Template`` ones (``${ep}``, ``${module}``, …).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from lanterna import PLUGIN_API_VERSION, __version__
from lanterna.errors import UserError

#: Hook families ``--hooks`` accepts, in the order their code appears, with the hooks each implements.
FAMILIES: dict[str, tuple[str, ...]] = {
    "tenancy": ("tenant_from_request", "authorize"),
    "entitlements": ("active_plan",),
    "metering": ("check_quota", "record_usage", "usage_summary"),
    "audit": ("record_audit_event", "record_security_event"),
    "tools": ("register_mcp_tools",),
    "commands": ("register_commands",),
    "sources": ("register_code_sources",),
}
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SECTIONS = (
    "imports",
    "lanterna-imports",
    "typing-imports",
    "init",
    "methods",
    "module",
    "test-imports",
    "test-constants",
    "test-settings",
    "harness",
    "tests",
    "readme",
)

plugin_app = typer.Typer(name="plugin", help="Write a Lanterna plugin.", no_args_is_help=True)


@dataclass(frozen=True)
class Names:
    """Every name a project derives from the one the author gives."""

    ep: str  # entry point, config section, command prefix: "acme"
    dist: str  # distribution: "lanterna-acme"
    module: str  # import package: "lanterna_acme"
    prefix: str  # tool names and guard actions: "acme"
    cls: str  # plugin class: "AcmePlugin"

    @classmethod
    def of(cls, name: str) -> Names:
        if not NAME.match(name):
            raise UserError(
                f"'{name}' is not a plugin name; use lower-case letters, digits and single dashes, like 'acme-tickets'"
            )
        ep = name.removeprefix("lanterna-") or name
        prefix = ep.replace("-", "_")
        camel = "".join(part.capitalize() for part in ep.split("-"))
        return cls(ep=ep, dist=f"lanterna-{ep}", module=f"lanterna_{prefix}", prefix=prefix, cls=f"{camel}Plugin")


def parse_families(hooks: str) -> list[str]:
    """``"tools, metering"`` -> the families in code order; an unknown one is a UserError."""
    import difflib

    chosen = [h.strip().lower() for h in hooks.split(",") if h.strip()]
    if not chosen:
        raise UserError(f"--hooks is empty; choose from {', '.join(FAMILIES)}")
    for family in chosen:
        if family not in FAMILIES:
            close = difflib.get_close_matches(family, FAMILIES, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise UserError(f"unknown hook family '{family}'; {hint}choose from {', '.join(FAMILIES)}")
    return [f for f in FAMILIES if f in chosen]


def core_requirement(version: str = __version__) -> str:
    """The core releases a plugin made now works with: same minor for 0.x, same major after."""
    major, minor = (int(part) for part in version.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"lanterna>={major}.{minor},<{upper}"


def _template(*parts: str) -> str:
    from importlib import resources  # ~5 ms: only `lanterna plugin new` needs it, not every CLI start

    return resources.files("lanterna").joinpath("templates", "plugin", *parts).read_text(encoding="utf-8")


def _sections(family: str, values: dict[str, str]) -> dict[str, str]:
    text = Template(_template("hooks", f"{family}.tmpl")).substitute(values)
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("#@ "):
            current = line[3:].strip()
            if current not in SECTIONS:
                raise ValueError(f"templates/plugin/hooks/{family}.tmpl: unknown section {current!r}")
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return {name: "\n".join(lines) for name, lines in found.items()}


def _import_block(lines: list[str], body: str, first_party: str = "") -> str:
    """The imports ``body`` uses, merged by module and ordered as isort orders them."""
    plain: set[str] = set()
    names: dict[str, set[str]] = {}
    for line in filter(None, (line.strip() for chunk in lines for line in chunk.splitlines())):
        if line.startswith("import "):
            plain.add(line[len("import ") :])
        else:
            module, _, imported = line[len("from ") :].partition(" import ")
            names.setdefault(module, set()).update(n.strip() for n in imported.split(","))
    plain = {m for m in plain if re.search(rf"\b{re.escape(m)}\.", body)}
    names = {m: {n for n in ns if re.search(rf"\b{n}\b", body)} for m, ns in names.items()}
    names = {m: ns for m, ns in names.items() if ns}

    def group(module: str) -> int:
        top = module.split(".")[0]
        return 0 if top in sys.stdlib_module_names else 2 if top == first_party else 1

    def name_key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
        return kind, name

    blocks = []
    for number in range(3):
        rendered = [f"import {m}" for m in sorted(plain) if group(m) == number]
        rendered += [_from_import(m, sorted(names[m], key=name_key)) for m in sorted(names) if group(m) == number]
        if rendered:
            blocks.append("\n".join(rendered))
    return "\n\n".join(blocks)


def _from_import(module: str, names: list[str], width: int = 120) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= width:
        return line
    return f"from {module} import (\n" + "".join(f"    {name},\n" for name in names) + ")"


def _unique_lines(chunks: list[str]) -> str:
    seen: list[str] = []
    for chunk in chunks:
        for line in chunk.splitlines():
            if line.strip() and line not in seen:
                seen.append(line)
    return "\n".join(seen)


def render(name: str, families: list[str], directory: str) -> dict[str, str]:
    """The files of a new plugin project, by path relative to its folder."""
    names = Names.of(name)
    tenancy = "tenancy" in families
    values = {
        "ep": names.ep,
        "dist": names.dist,
        "module": names.module,
        "prefix": names.prefix,
        "cls": names.cls,
        "api": str(PLUGIN_API_VERSION),
        "requirement": core_requirement(),
        "families": ", ".join(families),
        "directory": directory,
        "tenant_block": _TOOL_CALL_WITH_TENANCY if tenancy else _TOOL_CALL_AS_TENANT,
    }
    values["tenant_block"] = Template(values["tenant_block"]).substitute(values)
    parts = [_sections(family, values) for family in families]

    def joined(section: str) -> list[str]:
        return [p[section] for p in parts if section in p]

    module_values = {
        "init": _unique_lines(joined("init")) + "\n",
        "methods": "\n".join(m.rstrip() + "\n" for m in joined("methods")),
        "module_code": "".join(chunk.rstrip() + "\n" for chunk in joined("module")),
    }
    body = _template("module.py.tmpl") + "\n".join(module_values.values())
    typing_imports = _import_block(["from lanterna.config import Config", *joined("typing-imports")], body)
    module_imports = _import_block(
        [
            "from typing import TYPE_CHECKING, Any",
            "from lanterna import hookimpl",
            *joined("imports"),
            *joined("lanterna-imports"),
        ],
        body + ("TYPE_CHECKING" if typing_imports else ""),
    )
    imports = module_imports
    if typing_imports:
        imports += "\n\nif TYPE_CHECKING:\n" + "\n".join(
            f"    {line}" if line else "" for line in typing_imports.splitlines()
        )
    module = Template(_template("module.py.tmpl")).substitute(values, imports=imports + "\n", **module_values)
    settings = _unique_lines(joined("test-settings"))
    hook_names = sorted(hook for family in families for hook in FAMILIES[family])
    test_values = {
        "constants": "".join(chunk.rstrip() + "\n\n\n" for chunk in joined("test-constants")),
        "settings": "{\n" + settings + "\n}" if settings else "{}",
        "harness": "".join(chunk.rstrip() + "\n" for chunk in joined("harness")),
        "tests": "".join(chunk.rstrip() + "\n" for chunk in joined("tests")),
        "hook_names": "\n" + "".join(f'        "{hook}",\n' for hook in hook_names) + "    ",
    }
    test_body = _template("tests.py.tmpl") + "\n".join(test_values.values())
    test_imports = _import_block(
        [
            "from collections.abc import Callable",
            "from typing import Any",
            "import pytest",
            "from lanterna.plugins import PluginHost",
            "from lanterna.testing import HostHarness",
            f"from {names.module} import {names.cls}",
            *joined("test-imports"),
        ],
        Template(test_body).safe_substitute(values),
        first_party=names.module,
    )
    tests = Template(_template("tests.py.tmpl")).substitute(values, imports=test_imports + "\n", **test_values)
    readme_settings = _unique_lines(joined("test-settings"))
    readme = Template(_template("README.md.tmpl")).substitute(
        values,
        readme="\n".join(joined("readme")) + "\n",
        readme_settings="".join(_readme_setting(line) for line in readme_settings.splitlines()),
    )
    return {
        "pyproject.toml": Template(_template("pyproject.toml.tmpl")).substitute(values),
        "README.md": readme,
        f"src/{names.module}/__init__.py": module.rstrip() + "\n",
        f"tests/test_{names.prefix}.py": tests.rstrip() + "\n",
    }


def _readme_setting(line: str) -> str:
    """A ``"key": value,`` line of the tests' SETTINGS as TOML, for the README (keys tables skipped)."""
    match = re.match(r'\s*"(\w+)": ("[^"]*"|\d+),$', line)
    if match is None:
        return ""
    value = '"<a long random string, kept out of version control>"' if "secret" in match[1] else match[2]
    return f"{match[1]} = {value}\n"


_TOOL_CALL_AS_TENANT = """\
    with lanterna_tenancy.as_tenant("acme-a"):  # in-process calls carry no headers
        call = lanterna_mcp.call_tool("${prefix}_greet", {"name": "Ada"})
    expected_tenant = "acme-a\""""

_TOOL_CALL_WITH_TENANCY = """\
    # in-process calls carry no API key: the plugin lets the core's local tenant answer
    call = lanterna_mcp.call_tool("${prefix}_greet", {"name": "Ada"})
    expected_tenant = "local\""""


def write_project(name: str, families: list[str], target: Path) -> list[Path]:
    """Write the project into ``target`` (which must not exist or be empty); returns the files."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(f"{target} already exists and is not empty; choose another name or --path")
    files = render(name, families, str(target))
    written = []
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


@plugin_app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="The plugin's name, e.g. acme: distribution lanterna-acme.")],
    hooks: Annotated[
        str, typer.Option("--hooks", help=f"Comma-separated hook families: {','.join(FAMILIES)}.")
    ] = "tools,commands",
    path: Annotated[Path | None, typer.Option("--path", help="Where to write the project (default: ./NAME).")] = None,
) -> None:
    """Write a ready plugin project: pyproject, a working hook per family, tests, a README."""
    from lanterna.console import fail

    target = path if path is not None else Path(name)
    try:
        families = parse_families(hooks)
        names = Names.of(name)
        write_project(name, families, target)
    except UserError as exc:
        raise fail(str(exc), 2) from None
    print(f"wrote {target}/: {names.dist}, entry point '{names.ep}', hooks: {', '.join(families)}")
    print("next:")
    print(f"  lanterna install -e {target}   # editable, into Lanterna's environment")
    print(f"  pytest {target}                # Lanterna's fixtures and conformance suites")
    print("  lanterna plugins && lanterna hooks")
