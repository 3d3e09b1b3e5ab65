"""Chunking and tree walking: pure functions, no store."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanterna.memory.chunking import chunk_text, embedding_text
from lanterna.memory.walker import is_secret_name, walk

from .helpers import write_tree

PY = """import os


def first(a):
    return a


@decorator
def second(b):
    # comment
    return b


class Third:
    def method(self):
        return 3
"""


def test_python_is_cut_at_definitions_with_line_ranges_and_symbols() -> None:
    chunks = chunk_text(PY, "m.py", max_lines=6)
    assert [(c.start_line, c.end_line, c.symbol) for c in chunks] == [
        (1, 5, "first"),  # the imports above go with the first definition
        (8, 11, "second"),
        (14, 16, "Third"),
    ]
    assert chunks[1].text.startswith("@decorator\ndef second")  # decorators stay with their function
    lines = PY.splitlines()
    for c in chunks:
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line])


def test_small_definitions_are_packed_together_while_small() -> None:
    chunks = chunk_text(PY, "m.py", max_lines=40)
    assert [(c.start_line, c.end_line, c.symbol) for c in chunks] == [(1, 11, "first, second"), (14, 16, "Third")]


CLASS = (
    "# the decoder\n"
    "class Decoder:\n"
    '    """Decode things."""\n'
    "\n"
    "    LIMIT = 10\n"
    "\n"
    "    def decode(self, s):\n" + "".join(f"        x{i} = {i}\n" for i in range(8)) + "\n"
    "    # raw\n"
    "    def raw_decode(self, s, idx=0):\n" + "".join(f"        y{i} = {i}\n" for i in range(8)) + "\n"
    "def helper():\n"
    "    return Decoder()\n"
)


def test_a_class_too_big_for_one_chunk_is_cut_into_its_methods() -> None:
    chunks = chunk_text(CLASS, "pkg/decoder.py", max_lines=12)
    assert [(c.symbol, c.start_line) for c in chunks] == [
        ("Decoder", 1),
        ("Decoder.decode", 7),
        ("Decoder.raw_decode", 17),  # the comment above the method goes with it
        ("helper", 28),
    ]
    assert chunks[2].text.startswith("    # raw\n    def raw_decode")


def test_a_long_function_keeps_its_name_on_every_piece() -> None:
    body = "def long():\n" + "".join(f"    x{i} = {i}\n" + ("\n" if i % 7 == 6 else "") for i in range(60))
    chunks = chunk_text(body, "long.py", max_lines=20, max_chars=400)
    assert len(chunks) > 2 and {c.symbol for c in chunks} == {"long"}


def test_embedding_text_carries_path_and_symbol() -> None:
    chunk = chunk_text(CLASS, "json/decoder.py", max_lines=12)[2]
    assert embedding_text("json/decoder.py", chunk.symbol, chunk.text).startswith(
        "json/decoder.py › Decoder.raw_decode\n    # raw"
    )


def test_languages_without_a_parser_are_cut_by_lines_and_named() -> None:
    rust = "const LIMIT: u32 = 3;\n\npub fn refund(id: &str) -> bool {\n    true\n}\n"
    rust += "\nstruct Order {\n    id: String,\n}\n"
    chunks = chunk_text(rust, "main.rs", max_lines=4)
    assert [c.symbol for c in chunks] == ["LIMIT", "refund", "Order"]
    markdown = chunk_text("# Deploy\n" + "a\n" * 10 + "## Roll back\n" + "b\n" * 10, "ops.md", max_lines=12)
    assert [c.symbol for c in markdown] == ["Deploy", "Roll back"]


GO = """package cart

import "fmt"

// Cart holds items.
type Cart struct {
	items []int
}

// Total sums the items.
func (c *Cart) Total() int {
	t := 0
	for _, i := range c.items {
		t += i
	}
	return t
}

func New() *Cart { return &Cart{} }
"""


def test_go_is_cut_at_functions_methods_and_types() -> None:
    chunks = chunk_text(GO, "cart/cart.go", max_lines=8)
    assert [(c.start_line, c.end_line, c.symbol) for c in chunks] == [
        (1, 8, "Cart"),  # the package clause goes with the first type; its comment too
        (10, 17, "Total"),  # the method, named by tree-sitter (the line pattern would name it 'c')
        (19, 19, "New"),
    ]


TS = """import { x } from "./x";

/** An item. */
export interface Item {
  id: string;
}

export class Cart {
  items: Item[] = [];
  total(): number {
    return this.items.length;
  }
}

export function add(a: number, b: number): number {
  return a + b;
}
"""


def test_typescript_classes_too_big_are_cut_into_methods() -> None:
    chunks = chunk_text(TS, "src/cart.ts", max_lines=5)
    assert [(c.start_line, c.end_line, c.symbol) for c in chunks] == [
        (1, 1, None),
        (3, 6, "Item"),  # the doc comment goes with the interface
        (8, 12, "Cart, Cart.total"),  # the class header with its first method, named in the class
        (13, 17, "Cart, add"),
    ]
    component = "export function Badge(props: Props) {\n  return <span>{props.label}</span>;\n}\n"
    assert [c.symbol for c in chunk_text(component, "src/badge.tsx")] == ["Badge"]


def test_long_functions_are_split_within_limits() -> None:
    body = "def long():\n" + "".join(f"    x{i} = {i}\n" + ("\n" if i % 7 == 6 else "") for i in range(100))
    chunks = chunk_text(body, "long.py", max_lines=20, max_chars=400)
    assert len(chunks) > 1
    assert all(c.end_line - c.start_line + 1 <= 20 and len(c.text) <= 400 for c in chunks)
    covered = [n for c in chunks for n in range(c.start_line, c.end_line + 1)]
    assert covered == sorted(set(covered))  # no overlap, in order


def test_markdown_is_cut_at_headings() -> None:
    text = "# A\n" + "a\n" * 10 + "## B\n" + "b\n" * 10
    chunks = chunk_text(text, "doc.md", max_lines=12)
    assert [c.text.splitlines()[0] for c in chunks] == ["# A", "## B"]


def test_walk_honours_nested_gitignores_and_skips(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            ".gitignore": "*.tmp\n",
            "a.py": "x",
            "a.tmp": "x",
            "sub/.gitignore": "local/\n!keep.tmp\n",
            "sub/keep.tmp": "x",
            "sub/local/x.py": "x",
            "sub/b.py": "x",
            "node_modules/m.js": "x",
            ".git/config": "x",
            "big.py": "x" * 2000,
        },
    )
    walked = walk(root, max_bytes=1000)
    rel = sorted(p.relative_to(root).as_posix() for p in walked.files)
    assert rel == [".gitignore", "a.py", "sub/.gitignore", "sub/b.py", "sub/keep.tmp"]
    assert walked.too_big == ["big.py"]


@pytest.mark.parametrize(
    "name",
    [
        ".env",
        ".env.production",
        "id_rsa",
        "id_ed25519",
        "server.pem",
        "tls.key",
        "credentials.json",
        "secrets.yaml",
        ".netrc",
        ".pgpass",
        "service-account-prod.json",
    ],
)
def test_secret_file_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["env.py", "keys.py", "README.md", "secretary.py", "monkey.py", "secrets.py", "credentials.go"]
)
def test_ordinary_file_names(name: str) -> None:
    assert not is_secret_name(name)
