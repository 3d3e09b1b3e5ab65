"""Where Lanterna keeps its files, and the configuration file that sets it up.

``LANTERNA_HOME`` puts config, data and state under one folder (handy for tests and
containers); otherwise the platform's usual places are used. ``LANTERNA_CONFIG`` points
at a config file anywhere.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(Exception):
    """The configuration file cannot be used; the message says how to fix it."""


def _home() -> Path | None:
    home = os.environ.get("LANTERNA_HOME")
    return Path(home).expanduser() if home else None


_XDG = {
    "config": ("XDG_CONFIG_HOME", "~/.config"),
    "data": ("XDG_DATA_HOME", "~/.local/share"),
    "state": ("XDG_STATE_HOME", "~/.local/state"),
}


def user_dir(kind: Literal["config", "data", "state"]) -> Path:
    """The per-user folder of ``kind``, as platformdirs names it.

    On Linux and the BSDs these are the XDG base directories, computed here: importing
    platformdirs costs more than a tenth of a CLI start. Elsewhere platformdirs decides.
    """
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        variable, default = _XDG[kind]
        return Path(os.environ.get(variable, "").strip() or default).expanduser() / "lanterna"
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")("lanterna"))


def config_path() -> Path:
    if explicit := os.environ.get("LANTERNA_CONFIG"):
        return Path(explicit).expanduser()
    if home := _home():
        return home / "config.toml"
    return user_dir("config") / "config.toml"


def data_dir() -> Path:
    if explicit := os.environ.get("LANTERNA_DATA_DIR"):
        return Path(explicit).expanduser()
    if home := _home():
        return home / "data"
    return user_dir("data")


def state_dir() -> Path:
    if home := _home():
        return home / "state"
    return user_dir("state")


@dataclass(frozen=True)
class Config:
    """The parsed config file (TOML). Sections are plain tables; plugins own their own."""

    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.section(section).get(key, default)


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=None)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}; fix its permissions") from None
    import tomllib

    try:
        return Config(path=path, data=tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML ({exc}); fix it or point LANTERNA_CONFIG elsewhere"
        ) from None


def env_list(name: str) -> list[str] | None:
    """A comma-separated environment variable as a list; None when unset, [] when empty."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    return raw.strip().lower() in {"1", "true", "yes", "on"}
