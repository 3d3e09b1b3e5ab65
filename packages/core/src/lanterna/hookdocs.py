"""The hooks reference, generated from the hookspecs (``docs/hooks.md``)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from lanterna import hookspecs


@dataclass(frozen=True)
class HookDoc:
    name: str
    family: str
    firstresult: bool
    signature: str
    doc: str

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0] if self.doc else ""


def hook_docs() -> list[HookDoc]:
    """Every hookspec, in the order of ``hookspecs.FAMILIES``."""
    docs = []
    for name, family in hookspecs.FAMILIES.items():
        spec = getattr(hookspecs, name)
        opts = getattr(spec, "lanterna_spec", {})
        signature = str(inspect.signature(spec)).replace("'", "")
        docs.append(HookDoc(name, family, bool(opts.get("firstresult")), signature, inspect.getdoc(spec) or ""))
    return docs


def undocumented_hooks() -> list[str]:
    """Hookspecs that lack a docstring or a family: each must have both."""
    specs = {n for n, f in vars(hookspecs).items() if hasattr(f, "lanterna_spec")}
    missing_family = specs - set(hookspecs.FAMILIES)
    missing_doc = {d.name for d in hook_docs() if not d.doc.strip()}
    return sorted(missing_family | missing_doc)


def render_markdown() -> str:
    lines = [
        "# Hooks reference",
        "",
        "<!-- Generated from packages/core/src/lanterna/hookspecs.py by"
        " `lanterna hooks --markdown > docs/hooks.md`; a test fails when it is stale. -->",
        "",
        "Implement a hook with `@lanterna.hookimpl` on a function of the same name, in a module",
        "named by an entry point in the `lanterna` group. Arguments are passed by name: accept only",
        "those you need. *first result* hooks stop at the first implementation that returns",
        "something other than `None`.",
        "",
    ]
    family = None
    for doc in hook_docs():
        if doc.family != family:
            family = doc.family
            lines += [f"## {family}", ""]
        flag = " *(first result)*" if doc.firstresult else ""
        lines += [f"### `{doc.name}{doc.signature}`{flag}", "", doc.doc, ""]
    return "\n".join(lines).rstrip() + "\n"
