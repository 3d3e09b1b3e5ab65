"""Split text into chunks with line ranges and the symbol each chunk belongs to.

A chunk is at most ``max_lines`` lines and ``max_chars`` characters. Code whose language has
a parser (``lanterna.memory.outline``) follows its structure: a function or class that fits
is one chunk; a class that does not is cut into its header and its methods; a function that
does not is split at blank lines, each piece keeping the function's name as its symbol.
Small neighbours are packed together. Other code is cut where a line starts a definition at
the outermost indentation (``def``/``class``/``func``/``fn``/``function``/``impl``…), and
documents at Markdown headings; the comments, decorators and attributes right above a
definition go with it.

``embedding_text`` is what gets embedded: the chunk with its path and symbol on top
(``json/decoder.py › JSONDecoder.raw_decode``), so a question naming either finds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lanterna.memory.outline import Definition

CODE_BOUNDARY = re.compile(
    r"^(?:export\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:static\s+)?"
    r"(?:def|class|func|fn|function|impl|struct|enum|trait|interface|type|module|package|const|let|var|"
    r"public|private|protected)\b"
)
MARKDOWN_BOUNDARY = re.compile(r"^#{1,6}\s")

LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".scala": "scala",
    ".sh": "shell",
    ".sql": "sql",
}
DOC_SUFFIXES = {".md", ".markdown", ".rst", ".txt", ".adoc"}


#: Neighbouring definitions are packed into one chunk only while it stays this small (lines).
PACK_LINES = 12
SYMBOL_CHARS = 120
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_KEYWORDS = frozenset(
    {
        *("export", "pub", "async", "static", "def", "class", "func", "fn", "function", "impl", "struct", "enum"),
        *("trait", "interface", "type", "module", "package", "const", "let", "var", "public", "private"),
        *("protected", "final", "abstract", "unsafe", "extern", "mut"),
    }
)


@dataclass(frozen=True)
class Chunk:
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str
    symbol: str | None = None  # the definitions it holds or belongs to: ``JSONDecoder.raw_decode``


def embedding_text(path: str, symbol: str | None, text: str) -> str:
    """The text embedded for a chunk: its place (path › symbol) on the first line, then the chunk."""
    place = f"{path} › {symbol}" if symbol else path
    return f"{place}\n{text}" if place else text


def language_for(path: str) -> str | None:
    dot = path.rfind(".")
    return LANGUAGES.get(path[dot:].lower()) if dot >= 0 else None


def kind_for(path: str) -> str:
    """``doc`` for prose files, ``code`` for the rest."""
    lower = path.lower()
    return "doc" if any(lower.endswith(s) for s in DOC_SUFFIXES) else "code"


def _is_boundary(line: str, markdown: bool) -> bool:
    if markdown:
        return bool(MARKDOWN_BOUNDARY.match(line))
    return bool(line) and not line[0].isspace() and bool(CODE_BOUNDARY.match(line))


def chunk_text(text: str, path: str = "", *, max_lines: int = 40, max_chars: int = 1500) -> list[Chunk]:
    lines = text.splitlines()
    language = language_for(path)
    if language is not None:
        from lanterna.memory.outline import outline

        definitions = outline(text, language)
        if definitions is not None:
            units = _structured(lines, definitions, 0, len(lines), None, max_lines, max_chars)
            return _pack(lines, units, max_lines, max_chars)
    return _by_lines(lines, kind_for(path) == "doc", max_lines, max_chars)


@dataclass
class _Unit:
    begin: int  # 0-based, inclusive
    end: int  # exclusive
    symbols: list[str]


def _structured(
    lines: list[str],
    definitions: list[Definition],
    begin: int,
    end: int,
    owner: str | None,
    max_lines: int,
    max_chars: int,
) -> list[_Unit]:
    """Units covering ``lines[begin:end]``: whole definitions when they fit, else their parts."""
    units: list[_Unit] = []
    cursor = begin
    for definition in definitions:
        units += _plain(lines, cursor, definition.begin, owner, max_lines, max_chars)
        if _fits(lines, definition.begin, definition.end, max_lines, max_chars):
            units.append(_Unit(definition.begin, definition.end, [definition.name]))
        elif definition.children:
            units += _structured(
                lines, definition.children, definition.begin, definition.end, definition.name, max_lines, max_chars
            )
        else:
            units += _plain(lines, definition.begin, definition.end, definition.name, max_lines, max_chars)
        cursor = max(cursor, definition.end)
    units += _plain(lines, cursor, end, owner, max_lines, max_chars)
    return units


def _plain(lines: list[str], begin: int, end: int, symbol: str | None, max_lines: int, max_chars: int) -> list[_Unit]:
    while begin < end and not lines[begin].strip():
        begin += 1
    while end > begin and not lines[end - 1].strip():
        end -= 1
    if begin >= end:
        return []
    units = []
    for piece_begin, piece_end in _split(lines, begin, end, max_lines, max_chars):
        while piece_begin < piece_end - 1 and not lines[piece_begin].strip():
            piece_begin += 1
        units.append(_Unit(piece_begin, piece_end, [symbol] if symbol else []))
    return units


def _pack(lines: list[str], units: list[_Unit], max_lines: int, max_chars: int) -> list[Chunk]:
    """Join neighbours that fit together; two definitions only while the result stays small."""
    chunks: list[Chunk] = []
    pending: _Unit | None = None
    for unit in units:
        if pending is not None and _fits(lines, pending.begin, unit.end, max_lines, max_chars):
            both_named = bool(pending.symbols) and bool(unit.symbols)
            if not both_named or unit.end - pending.begin <= PACK_LINES:
                pending = _Unit(pending.begin, unit.end, pending.symbols + unit.symbols)
                continue
        if pending is not None:
            chunks.append(_make(lines, pending.begin, pending.end, _symbol(pending.symbols)))
        pending = unit
    if pending is not None:
        chunks.append(_make(lines, pending.begin, pending.end, _symbol(pending.symbols)))
    return [c for c in chunks if c.text.strip()]


def _symbol(names: list[str]) -> str | None:
    unique = list(dict.fromkeys(names))
    if not unique:
        return None
    text = ", ".join(unique)
    return text if len(text) <= SYMBOL_CHARS else text[: SYMBOL_CHARS - 1] + "…"


def _line_symbol(line: str, markdown: bool) -> str | None:
    """The name a boundary line defines: a Markdown heading's text, or the identifier after the keywords."""
    if markdown:
        return line.lstrip("#").strip()[:SYMBOL_CHARS] or None
    for name in _NAME.findall(line):
        if name not in _KEYWORDS:
            return name
    return None


def _by_lines(lines: list[str], markdown: bool, max_lines: int, max_chars: int) -> list[Chunk]:
    # sections: runs of lines starting at a boundary (leading comments/decorators stay with what follows)
    sections: list[tuple[int, int]] = []
    start = 0
    for i, line in enumerate(lines):
        if i > start and _is_boundary(line, markdown):
            cut = i
            while cut - 1 > start and lines[cut - 1].lstrip().startswith(("#", "//", "@", "/*", "*")) and not markdown:
                cut -= 1
            sections.append((start, cut))
            start = cut
    if start < len(lines):
        sections.append((start, len(lines)))
    units: list[_Unit] = []
    for begin, end in sections:
        head = next((line for line in lines[begin:end] if _is_boundary(line, markdown)), None)
        name = _line_symbol(head, markdown) if head is not None else None
        units += [_Unit(b, e, [name] if name else []) for b, e in _split(lines, begin, end, max_lines, max_chars)]
    chunks: list[Chunk] = []
    pending: _Unit | None = None
    for unit in units:
        if pending and _fits(lines, pending.begin, unit.end, max_lines, max_chars):
            pending = _Unit(pending.begin, unit.end, pending.symbols + unit.symbols)
            continue
        if pending:
            chunks.append(_make(lines, pending.begin, pending.end, _symbol(pending.symbols)))
        pending = unit
    if pending:
        chunks.append(_make(lines, pending.begin, pending.end, _symbol(pending.symbols)))
    return [c for c in chunks if c.text.strip()]


def _fits(lines: list[str], begin: int, end: int, max_lines: int, max_chars: int) -> bool:
    return end - begin <= max_lines and sum(len(x) + 1 for x in lines[begin:end]) <= max_chars


def _split(lines: list[str], begin: int, end: int, max_lines: int, max_chars: int) -> list[tuple[int, int]]:
    """Split ``lines[begin:end]`` into pieces that fit, preferring blank lines as cuts."""
    if _fits(lines, begin, end, max_lines, max_chars):
        return [(begin, end)]
    pieces = []
    while begin < end:
        stop, size = begin, 0
        while stop < end and stop - begin < max_lines and size + len(lines[stop]) + 1 <= max_chars:
            size += len(lines[stop]) + 1
            stop += 1
        if stop == begin:  # one line longer than max_chars: take it alone
            stop = begin + 1
        elif stop < end:
            blank = max((i for i in range(begin + 1, stop) if not lines[i].strip()), default=None)
            if blank is not None and blank - begin >= (stop - begin) // 2:
                stop = blank
        pieces.append((begin, stop))
        begin = stop
    return pieces


def _make(lines: list[str], begin: int, end: int, symbol: str | None = None) -> Chunk:
    text = "\n".join(lines[begin:end])
    if len(text) > 4 * 1500:
        text = text[: 4 * 1500]
    return Chunk(start_line=begin + 1, end_line=end, text=text, symbol=symbol)
