"""Lanterna's per-user folders are the ones platformdirs names, without importing it on every start."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from lanterna.config import user_dir


@pytest.mark.parametrize("kind", ["config", "data", "state"])
@pytest.mark.parametrize("xdg", [None, "/srv/xdg", "  "])
def test_user_dirs_match_platformdirs(kind: str, xdg: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    variable = {"config": "XDG_CONFIG_HOME", "data": "XDG_DATA_HOME", "state": "XDG_STATE_HOME"}[kind]
    if xdg is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, xdg)
    expected = Path(getattr(platformdirs, f"user_{kind}_dir")("lanterna"))
    assert user_dir(kind) == expected
