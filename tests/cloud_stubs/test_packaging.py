"""The distribution: its own licence, its dependencies (and psycopg for PostgreSQL), one entry point, no key."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import lanterna_cloud_stubs


def test_metadata_declares_its_licence_dependencies_and_entry_point() -> None:
    dist = distribution("lanterna-cloud-stubs")
    assert dist.metadata["License-Expression"] == "Apache-2.0"
    name = lambda r: re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower()  # noqa: E731
    requires = {name(r) for r in dist.requires or [] if "extra ==" not in r}
    assert requires == {"lanterna", "cryptography", "typer"}
    extras = {name(r) for r in dist.requires or [] if "extra ==" in r and "postgres" in r}
    assert extras == {"psycopg"}  # for a PostgreSQL shared by several servers
    (ep,) = [e for e in dist.entry_points if e.group == "lanterna"]
    assert (ep.name, ep.value) == ("cloud", "lanterna_cloud_stubs.plugin:CloudStubs")


def test_no_private_key_ships_in_the_package() -> None:
    package = Path(lanterna_cloud_stubs.__file__).parent
    for path in package.rglob("*"):
        if path.is_file():
            assert path.suffix not in {".pem", ".key"}, path
            data = path.read_bytes()
            assert b"PRIVATE KEY-----" not in data, path


def test_loading_the_plugin_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys; from lanterna.plugins import PluginHost; h = PluginHost();"
        " assert h.pm.get_plugin('cloud') is not None, [p.as_dict() for p in h.plugins];"
        " print(sorted(m for m in ('cryptography', 'sqlite3', 'urllib.request', 'http.server') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LANTERNA_LOAD_PLUGINS": "cloud", "PATH": "/usr/bin:/bin", "LANTERNA_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_devsign_keygen_says_which_config_file_to_add_the_key_to(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "lanterna_cloud_stubs.devsign", "keygen", str(tmp_path / "keys"), "--key-id", "k1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LANTERNA_HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr
    assert f"add to the Lanterna config file, {home / 'config.toml'} (" in result.stdout
    assert '[cloud.license.trusted_keys]\n"k1" = "' in result.stdout
