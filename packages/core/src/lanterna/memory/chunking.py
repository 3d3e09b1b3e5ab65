"""Split text into chunks with line ranges, cutting code at top-level definitions.

A chunk is at most ``max_lines`` lines and ``max_chars`` characters. Code is cut where a
line starts a definition at the outermost indentation (``def``/``class``/``func``/``fn``/
``function``/``impl``…, or a Markdown heading for documents); the comments, decorators and
attributes right above a definition go with it. A chunk holds whole definitions when they
fit; longer ones are split at blank lines, then anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    ".tsx": "typescript",
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


@dataclass(frozen=True)
class Chunk:
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str


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
    markdown = kind_for(path) == "doc"
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
    chunks: list[Chunk] = []
    pending: tuple[int, int] | None = None
    for begin, end in sections:
        for part in _split(lines, begin, end, max_lines, max_chars):
            if pending and _fits(lines, pending[0], part[1], max_lines, max_chars):
                pending = (pending[0], part[1])
                continue
            if pending:
                chunks.append(_make(lines, *pending))
            pending = part
    if pending:
        chunks.append(_make(lines, *pending))
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


def _make(lines: list[str], begin: int, end: int) -> Chunk:
    text = "\n".join(lines[begin:end])
    if len(text) > 4 * 1500:
        text = text[: 4 * 1500]
    return Chunk(start_line=begin + 1, end_line=end, text=text)
