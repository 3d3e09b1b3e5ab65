"""The definitions of a source file (classes, functions, methods) with their line spans.

Parsed with tree-sitter when the language's grammar is installed (``tree-sitter-python`` ships
with Lanterna); ``outline`` returns None for other languages and the chunker falls back to
its line patterns. tree-sitter is imported on first use: only ingest needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Grammar:
    module: str  # the grammar wheel's module, exposing ``language()``
    definitions: frozenset[str]  # node types that define a named symbol
    containers: frozenset[str]  # of those, the ones whose body holds more definitions (classes)
    wrappers: frozenset[str] = frozenset()  # nodes around a definition (decorators)
    comment_prefixes: tuple[str, ...] = ("#",)


GRAMMARS = {
    "python": Grammar(
        module="tree_sitter_python",
        definitions=frozenset({"function_definition", "class_definition"}),
        containers=frozenset({"class_definition"}),
        wrappers=frozenset({"decorated_definition"}),
    ),
}


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
    return Parser(Language(module.language()))


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
            inner = node.child_by_field_name("definition") or node
        if inner.type not in grammar.definitions:
            if node.type != "comment":
                previous_end = node.end_point.row + 1
            continue
        name_node = inner.child_by_field_name("name")
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
