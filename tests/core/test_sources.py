"""Code sources in the core: parsing ``scheme:REPO@REF``, lookup by scheme, the install hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lanterna.plugins import get_host
from lanterna.sources import SourceError, SourceSpec, find_source
from tests.helpers import subprocess_env


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("github:pallets/flask", SourceSpec("github", "pallets/flask")),
        ("github:pallets/flask@2.3.x", SourceSpec("github", "pallets/flask", "2.3.x")),
        ("gitlab:group/sub/project@v1.0", SourceSpec("gitlab", "group/sub/project", "v1.0")),
        ("docs", None),
        ("./github:x", None),
        ("/abs/path", None),
        ("C:\\code\\repo", None),
        ("github:", None),
    ],
)
def test_spec_parsing(text, expected):
    assert SourceSpec.parse(text) == expected


@pytest.mark.parametrize(
    ("scheme", "hint"),
    [
        ("github", "install it with `lanterna install lanterna-github-pat`"),
        ("gitlab", "install it with `lanterna install lanterna-gitlab-pat`"),
        ("gitea", "install a plugin that provides it (`lanterna plugins` lists what is installed)"),
    ],
)
def test_an_unknown_scheme_says_which_plugin_to_install(scheme, hint):
    with pytest.raises(SourceError) as caught:
        find_source(get_host(), scheme)
    assert str(caught.value) == f"no code source for '{scheme}:' is installed (installed: none); {hint}"


def test_cli_ingest_of_an_unknown_scheme_is_one_line(lanterna_home):
    lanterna = str(Path(sys.executable).with_name("lanterna"))
    result = subprocess.run(
        [lanterna, "ingest", "gitlab:acme/app", "--service", "app"],
        capture_output=True,
        text=True,
        env=subprocess_env(lanterna_home, LANTERNA_LOAD_PLUGINS=""),
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "lanterna: no code source for 'gitlab:' is installed (installed: none);"
        " install it with `lanterna install lanterna-gitlab-pat`\n"
    )
