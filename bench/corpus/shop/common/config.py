import os
import tomllib


def load_settings(path: str) -> dict:
    """Read settings from a TOML file; environment variables SHOP_* override keys."""
    with open(path, "rb") as fh:
        settings = tomllib.load(fh)
    for key, value in os.environ.items():
        if key.startswith("SHOP_"):
            settings[key[5:].lower()] = value
    return settings
