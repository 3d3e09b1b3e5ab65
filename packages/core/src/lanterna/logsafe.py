"""What the server log may say about a failed tool: where it failed, never the caller's data.

An exception's text often repeats what it was given: a database driver's error carries the
SQL and its parameters (the query, the note being stored), a plugin's error may quote its
arguments. The log keeps the exception type, its message with those parts blanked, and the
stack (files, lines, functions), which is what a plugin author needs.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable
from typing import Any

# SQLAlchemy appends "[SQL: ...]" and "[parameters: ...]" on lines of their own; psycopg adds
# "DETAIL: Key (...)=(...)" with the offending values.
_SQL_PARTS = re.compile(r"\[(SQL|parameters): .*?\](?=\n|$)", re.DOTALL)
_DETAIL = re.compile(r"DETAIL: [^\n]*")
MIN_VALUE_CHARS = 4


def redacted(text: str, values: Iterable[Any] = ()) -> str:
    """``text`` without SQL/parameters and without any of ``values`` (the call's arguments)."""
    text = _DETAIL.sub("DETAIL: redacted", _SQL_PARTS.sub(lambda m: f"[{m.group(1)}: redacted]", text))
    for value in sorted({str(v) for v in _flatten(values)}, key=len, reverse=True):
        if len(value) >= MIN_VALUE_CHARS:
            text = text.replace(value, "<argument>")
    return text


def describe_failure(exc: BaseException, arguments: dict[str, Any]) -> str:
    """The exception chain (types and redacted messages) and its stack, for the server log."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines.append(f"{type(current).__name__}: {redacted(str(current), arguments.values())}")
        lines += [line.rstrip("\n") for line in traceback.format_tb(current.__traceback__)]
        current = current.__cause__ or current.__context__
        if current is not None:
            lines.append("caused by:")
    return "\n".join(lines)


def _flatten(values: Iterable[Any]) -> Iterable[Any]:
    for value in values:
        if isinstance(value, dict):
            yield from _flatten(value.values())
        elif isinstance(value, list | tuple | set):
            yield from _flatten(value)
        elif value is not None and not isinstance(value, bool):
            yield value
