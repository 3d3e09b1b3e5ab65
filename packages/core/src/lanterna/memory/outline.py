"""The definitions of a source file (classes, functions, methods) with their line spans.

Parsed with tree-sitter when the language's grammar is installed (``tree-sitter-python``,
``-go`` and ``-typescript`` ship with Lanterna); ``outline`` returns None for other languages
and the chunker falls back to its line patterns. tree-sitter is imported on first use: only ingest needs it.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Grammar:
    module: str  # the grammar wheel's module, exposing ``language()``
    definitions: frozenset[str]  # node types that define a named symbol
    containers: frozenset[str]  # of those, the ones whose body holds more definitions (classes)
    wrappers: frozenset[str] = frozenset()  # nodes around a definition (decorators, ``export``)
    comment_prefixes: tuple[str, ...] = ("#",)
    function: str = "language"  # the module's function that returns the grammar
    wrapped: str = "definition"  # the wrapper's field holding the definition
    #: where a definition's name sits when not in its ``name`` field: node type -> child types to search
    named_by: tuple[tuple[str, tuple[str, ...]], ...] = ()


GRAMMARS = {
    "python": Grammar(
        module="tree_sitter_python",
        definitions=frozenset({"function_definition", "class_definition"}),
        containers=frozenset({"class_definition"}),
        wrappers=frozenset({"decorated_definition"}),
    ),
    "go": Grammar(
        module="tree_sitter_go",
        definitions=frozenset({"function_declaration", "method_declaration", "type_declaration"}),
        containers=frozenset(),
        comment_prefixes=("//", "/*", "*"),
        named_by=(("type_declaration", ("type_spec", "type_alias")),),
    ),
    "typescript": Grammar(
        module="tree_sitter_typescript",
        function="language_typescript",
        definitions=frozenset(
            {"function_declaration", "class_declaration", "abstract_class_declaration", "method_definition"}
            | {"interface_declaration", "type_alias_declaration", "enum_declaration"}
        ),
        containers=frozenset({"class_declaration", "abstract_class_declaration"}),
        wrappers=frozenset({"export_statement"}),
        wrapped="declaration",
        comment_prefixes=("//", "/*", "*"),
    ),
}
GRAMMARS["tsx"] = dataclasses.replace(GRAMMARS["typescript"], function="language_tsx")


@dataclass
class Definition:
    name: str  # qualified: ``JSONDecoder.raw_decode``
    begin: int  # 0-based first line, comments and decorators right above included
    end: int  # 0-based, exclusive
    children: list[Definition] = field(default_factory=list)


@cache
def _parser(language: str) -> Any | None:
    grammar = GRAMMARS.get(language)
    if grammar is None:
        return None
    try:
        from tree_sitter import Language, Parser

        module = importlib.import_module(grammar.module)
    except ImportError:
        return None
    return Parser(Language(getattr(module, grammar.function)()))


def outline(text: str, language: str) -> list[Definition] | None:
    """Top-level definitions of ``text`` (methods nested in their class), or None without a parser."""
    parser = _parser(language)
    if parser is None:
        return None
    tree = parser.parse(text.encode("utf-8"))
    lines = text.splitlines()
    return _definitions(tree.root_node.children, GRAMMARS[language], lines, "", 0)


def _definitions(nodes: list[Any], grammar: Grammar, lines: list[str], prefix: str, floor: int) -> list[Definition]:
    found: list[Definition] = []
    previous_end = floor
    for node in nodes:
        inner = node
        if node.type in grammar.wrappers:
            inner = node.child_by_field_name(grammar.wrapped) or node
        if inner.type not in grammar.definitions:
            if node.type != "comment":
                previous_end = node.end_point.row + 1
            continue
        name_node = _name_of(inner, grammar)
        if name_node is None:
            continue
        name = prefix + name_node.text.decode("utf-8", "replace")
        begin = node.start_point.row
        while begin - 1 >= previous_end and lines[begin - 1].lstrip().startswith(grammar.comment_prefixes):
            begin -= 1
        end = min(node.end_point.row + 1, len(lines))
        definition = Definition(name=name, begin=begin, end=end)
        if inner.type in grammar.containers:
            body = inner.child_by_field_name("body")
            if body is not None:
                definition.children = _definitions(body.children, grammar, lines, name + ".", body.start_point.row)
        found.append(definition)
        previous_end = end
    return found


def _name_of(node: Any, grammar: Grammar) -> Any | None:
    found = node.child_by_field_name("name")
    if found is not None:
        return found
    for node_type, child_types in grammar.named_by:
        if node.type == node_type:
            for child in node.children:
                if child.type in child_types:
                    return child.child_by_field_name("name")
    return None
