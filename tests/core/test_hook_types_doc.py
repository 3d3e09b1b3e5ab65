"""The hooks reference documents the types hooks receive and return, field by field, from types.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lanterna import types
from lanterna.hookdocs import render_markdown, type_docs, undocumented_types

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_type_has_a_docstring() -> None:
    assert undocumented_types() == []


def test_every_dataclass_field_is_in_the_reference() -> None:
    text = render_markdown()
    documented = {d.name for d in type_docs()}
    for name in ("RequestContext", "Identity", "Plan", "UsageEvent", "UsageSummary", "AuditEvent", "SecurityEvent"):
        assert name in documented
        section = text[text.index(f"### `{name}`") :]
        section = section[: section.index("\n### ", 1)]
        for field in dataclasses.fields(getattr(types, name)):
            assert f"| `{field.name}` |" in section, f"{name}.{field.name} is missing from the hooks reference"
    assert "| `tenant` | `str \\| None` | `None` |" in text  # a union type survives the table
    assert "### `RegisterTool`" in text and "resource: str | Callable[[dict[str, Any]], str] | None = None" in text


def test_the_committed_reference_has_the_types() -> None:
    committed = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    assert "## Types" in committed
    assert committed == render_markdown(), "docs/hooks.md is stale: run `lanterna hooks --markdown > docs/hooks.md`"
