"""Walk a source tree for ingest: honour .gitignore, skip binaries, big files and secret files.

Secret files are the ones that exist to hold secrets (``.env``, key stores, ``credentials.json``);
a source module merely named like one (``secrets.py``) is walked, and secrets inside
ordinary files are redacted at ingest (``lanterna.memory.redaction``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lanterna.memory.chunking import LANGUAGES

ALWAYS_SKIPPED_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "dist",
    "build",
    ".idea",
    ".vscode",
}

SECRET_NAMES = re.compile(
    r"(^\.env(\..*)?$|^\.envrc$|^\.netrc$|^\.pgpass$|^\.npmrc$|^\.pypirc$|^id_(rsa|dsa|ecdsa|ed25519)$"
    r"|\.(pem|key|p12|pfx|jks|keystore|kdbx|asc|gpg)$|^credentials(\.\w+)?$|^secrets?(\.\w+)?$"
    r"|^service[-_]account.*\.json$|^htpasswd$|\.htpasswd$)",
    re.IGNORECASE,
)


@dataclass
class Walked:
    files: list[Path] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    too_big: list[str] = field(default_factory=list)
    #: Files and folders left out by a .gitignore or as tool folders (.git, node_modules…).
    ignored: int = 0
    binary: list[str] = field(default_factory=list)


class _Ignore:
    """The .gitignore files met on the way down, each applied to paths below its folder."""

    def __init__(self) -> None:
        self.specs: list[tuple[str, object]] = []

    def add(self, folder_rel: str, gitignore: Path) -> None:
        import pathspec

        try:
            lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        self.specs.append((folder_rel, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        # As git: the deepest .gitignore that has an opinion (a match or a `!` negation) decides.
        for folder, spec in reversed(self.specs):
            if folder and not rel.startswith(folder + "/"):
                continue
            sub = rel[len(folder) + 1 :] if folder else rel
            # (ignored for mypy) pathspec's check_file() result has .include; its annotations predate it
            verdict = spec.check_file(sub + ("/" if is_dir else "")).include  # type: ignore[attr-defined]
            if verdict is not None:
                return verdict
        return False


def is_secret_name(name: str) -> bool:
    """A file that exists to hold secrets; source code (``secrets.py``) is not one."""
    suffix = Path(name).suffix.lower()
    return bool(SECRET_NAMES.search(name)) and suffix not in LANGUAGES


def walk(root: Path, max_bytes: int) -> Walked:
    """Files under ``root`` worth ingesting, sorted; what was skipped and why."""
    out = Walked()
    ignore = _Ignore()
    if root.is_file():
        _consider(root, root.name, max_bytes, out)
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        rel_folder = "" if folder == root else folder.relative_to(root).as_posix()
        if ".gitignore" in filenames:
            ignore.add(rel_folder, folder / ".gitignore")
        kept = []
        for name in sorted(dirnames):
            rel = f"{rel_folder}/{name}" if rel_folder else name
            if name in ALWAYS_SKIPPED_DIRS or ignore.ignored(rel, True) or (folder / name).is_symlink():
                out.ignored += 1
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = f"{rel_folder}/{name}" if rel_folder else name
            path = folder / name
            if ignore.ignored(rel, False) or path.is_symlink():
                out.ignored += 1
                continue
            _consider(path, rel, max_bytes, out)
    out.files.sort()
    return out


def _consider(path: Path, rel: str, max_bytes: int, out: Walked) -> None:
    if is_secret_name(path.name):
        out.secrets.append(rel)
        return
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size > max_bytes:
        out.too_big.append(rel)
        return
    out.files.append(path)


def read_text(path: Path) -> str | None:
    """The file as text, or None when it looks binary (a NUL byte, or not UTF-8)."""
    return decode_text(path.read_bytes())


def decode_text(data: bytes) -> str | None:
    """``data`` as text, or None when it looks binary (a NUL byte, or not UTF-8)."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
