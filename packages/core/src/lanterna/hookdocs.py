"""The hooks reference, generated from the hookspecs and ``lanterna.types`` (``docs/hooks.md``)."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
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


@dataclass(frozen=True)
class TypeDoc:
    """One public object of ``lanterna.types``: a dataclass (with its fields), a Protocol (with
    its call signature), an exception or a ``Literal`` alias."""

    name: str
    kind: str  # dataclass, protocol, exception, literal
    doc: str
    signature: str = ""
    fields: tuple[tuple[str, str, str], ...] = ()  # (name, type, default)


def _default(field: dataclasses.Field[typing.Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    factory = field.default_factory
    if factory is dataclasses.MISSING:
        return "required"
    name = getattr(factory, "__qualname__", repr(factory))
    module = getattr(factory, "__module__", "")
    prefix = "" if module in ("builtins", "lanterna.types") else f"{module}."
    return f"{prefix}{name}()"


def _signature(method: typing.Any) -> str:
    """A method's signature without ``self``, its (string) annotations unquoted."""
    text = str(inspect.signature(method)).replace("(self, ", "(")
    return re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)


def type_docs() -> list[TypeDoc]:
    """Every public object defined in ``lanterna.types``, in source order."""
    from lanterna import types

    docs = []
    for name, obj in vars(types).items():
        if name.startswith("_"):
            continue
        if typing.get_origin(obj) is typing.Literal:
            values = " | ".join(repr(v) for v in typing.get_args(obj))
            docs.append(TypeDoc(name, "literal", values))
            continue
        if not inspect.isclass(obj) or obj.__module__ != types.__name__:
            continue
        doc = inspect.getdoc(obj) or ""
        if dataclasses.is_dataclass(obj):
            fields = tuple((f.name, str(f.type), _default(f)) for f in dataclasses.fields(obj))
            docs.append(TypeDoc(name, "dataclass", doc, fields=fields))
        elif issubclass(obj, Exception):
            signature = _signature(obj.__init__).removesuffix(" -> None")
            docs.append(TypeDoc(name, "exception", doc, signature=signature))
        elif getattr(obj, "_is_protocol", False):
            docs.append(TypeDoc(name, "protocol", doc, signature=_signature(obj.__call__)))
    return docs


def undocumented_types() -> list[str]:
    """Public classes of ``lanterna.types`` without a docstring of their own."""
    return sorted(d.name for d in type_docs() if d.kind != "literal" and not d.doc.strip())


def _types_markdown() -> list[str]:
    lines = [
        "## Types",
        "",
        "The objects hooks receive and return, and the `register` callbacks, from `lanterna.types`.",
        "Dataclasses are frozen: build a changed copy with `dataclasses.replace()`.",
        "",
    ]
    literals = [d for d in type_docs() if d.kind == "literal"]
    lines += [f"- `{d.name}`: {d.doc}" for d in literals] + [""]
    for doc in type_docs():
        if doc.kind == "literal":
            continue
        lines += [f"### `{doc.name}{doc.signature}`" if doc.kind == "exception" else f"### `{doc.name}`", ""]
        lines += [doc.doc, ""]
        if doc.fields:
            lines += ["| field | type | default |", "|---|---|---|"]
            lines += [f"| `{n}` | `{t.replace('|', chr(92) + '|')}` | `{d}` |" for n, t, d in doc.fields]
            lines += [""]
        if doc.kind == "protocol":
            lines += ["```python", f"register{doc.signature}", "```", ""]
    return lines


def render_markdown() -> str:

    lines = [
        "# Hooks reference",
        "",
        "<!-- Generated from packages/core/src/lanterna/hookspecs.py and types.py by"
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
    lines += _types_markdown()
    return "\n".join(lines).rstrip() + "\n"
