"""Helpers for CLI commands, public for plugins: one-line errors and ``--json`` output.

Cheap to import (typer only), so a plugin's ``register_commands`` may import it at top level.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error on stderr; ``raise fail(...)`` ends the command."""
    print(f"lanterna: {message}", file=sys.stderr)
    return typer.Exit(code)


def print_json(data: Any) -> None:
    """Machine-readable output of every ``--json`` option."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
