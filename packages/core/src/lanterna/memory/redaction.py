"""Find secrets inside ordinary files and redact their values before anything is stored.

Files that exist to hold secrets (``.env``, key files) are skipped whole by the walker; this
module handles the rest: a source or config file that happens to contain a secret is kept,
with each secret value replaced by ``[REDACTED]``. Line breaks inside a redacted value are
kept, so line numbers of everything else stay right.

What counts as a secret:

- known token formats (AWS access key ids, GitHub, GitLab, Slack, Stripe, OpenAI, Google keys, JWTs);
- private key blocks (``-----BEGIN … PRIVATE KEY-----`` up to its ``END`` line);
- passwords in connection strings (``postgres://user:PASSWORD@host``);
- literals assigned to secret-like names (``*SECRET*``, ``*PASSWORD*``, ``*TOKEN*``, ``*API_KEY*``…):
  any non-placeholder value for password names, a high-entropy one for the others, and in
  configuration files (YAML, INI, ``.properties``…) and prose (notes, Markdown) unquoted values too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

REDACTED = "[REDACTED]"

TOKEN_FORMATS = re.compile(
    r"\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}|\bxox[baprs]-[A-Za-z0-9-]{10,}|\bsk-[A-Za-z0-9_-]{32,}"
    r"|\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|\bAIza[0-9A-Za-z_-]{35}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"
)
PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----(?P<body>.*?)(?:-----END (?P=label)-----|\Z)",
    re.DOTALL,
)
#: ``scheme://user:password@host``: the password group is redacted.
CONNECTION_PASSWORD = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"`]*:(?P<value>[^\s@/'\"`]+)@")
SECRET_NAME = (
    r"[A-Za-z0-9_.-]*(?:secret|passw(?:or)?d|pwd|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|credential|auth[_-]?key)[A-Za-z0-9_.-]*"
)
PASSWORD_NAME = re.compile(r"passw(?:or)?d|pwd", re.IGNORECASE)
#: ``NAME = "value"``, ``"name": 'value'``, ``name := "value"``, ``name => "value"``, ``NAME: value``.
QUOTED_ASSIGNMENT = re.compile(
    rf"(?P<name>{SECRET_NAME})['\"]?\s*(?::=|=>|==|=|:)\s*(?:[rbuRBU]{{0,2}})(?P<quote>['\"`])(?P<value>[^'\"`\n]+)(?P=quote)",
    re.IGNORECASE,
)
UNQUOTED_ASSIGNMENT = re.compile(
    rf"(?<![\w.-])(?P<name>{SECRET_NAME})\s*[:=]\s*(?P<value>[^\s'\"#;,]+)",
    re.IGNORECASE,
)
CONFIG_SUFFIXES = (".yaml", ".yml", ".ini", ".cfg", ".conf", ".properties", ".toml", ".env", ".txt", ".md", ".sh")
WORDS = re.compile(r"[A-Za-z]+(?:[-_.:/][A-Za-z]+)*")
PLACEHOLDER = re.compile(
    r"^(?:\$\{?.*\}?|\{\{.*\}\}|<.*>|%\(?.*|\*+|x+|\.+|changeme|change[_-]?me|none|null|nil|true|false|"
    r"example|dummy|redacted|\[redacted\]|your[_-].*|placeholder|secret|password|token|test|todo|"
    r"os\.environ.*|env\(.*|getenv.*|.*(?:…|\.\.\.))$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Redacted:
    text: str
    count: int  # secret values replaced


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def looks_random(value: str) -> bool:
    """A key or token, not a word: long enough, mixed characters, high entropy."""
    if len(value) < 12 or " " in value or WORDS.fullmatch(value):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return classes >= 2 and entropy(value) >= 3.0


def _secret_value(name: str, value: str) -> bool:
    value = value.strip()
    if len(value) < 4 or PLACEHOLDER.match(value):
        return False
    if PASSWORD_NAME.search(name):
        return True
    return looks_random(value)


def redact(text: str, path: str = "") -> Redacted:
    """``text`` with every secret value replaced by ``[REDACTED]`` (line breaks kept)."""
    spans: list[tuple[int, int]] = []

    for match in PRIVATE_KEY.finditer(text):
        spans.append(match.span("body"))
    for match in TOKEN_FORMATS.finditer(text):
        spans.append(match.span())
    for match in CONNECTION_PASSWORD.finditer(text):
        if not PLACEHOLDER.match(match["value"]):
            spans.append(match.span("value"))
    for match in QUOTED_ASSIGNMENT.finditer(text):
        if _secret_value(match["name"], match["value"]):
            spans.append(match.span("value"))
    if path.lower().endswith(CONFIG_SUFFIXES) or "." not in path.rsplit("/", 1)[-1]:
        for match in UNQUOTED_ASSIGNMENT.finditer(text):
            if _secret_value(match["name"], match["value"]):
                spans.append(match.span("value"))
    if not spans:
        return Redacted(text, 0)
    merged: list[list[int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    parts, last = [], 0
    for begin, end in merged:
        parts.append(text[last:begin])
        parts.append(REDACTED + "\n" * text.count("\n", begin, end))
        last = end
    parts.append(text[last:])
    return Redacted("".join(parts), len(merged))


def has_secret(text: str, path: str = "") -> bool:
    return redact(text, path).count > 0
