"""Find secrets inside ordinary files and redact their values before anything is stored.

Files that exist to hold secrets (``.env``, key files) are skipped whole by the walker; this
module handles the rest: a source or config file that happens to contain a secret is kept,
with each secret value replaced by ``[REDACTED]``. Line breaks inside a redacted value are
kept, so line numbers of everything else stay right.

What counts as a secret:

- known token formats (AWS access key ids, GitHub, GitLab, Slack, Stripe, OpenAI, Google keys, JWTs);
- private key blocks (``-----BEGIN … PRIVATE KEY-----`` up to its ``END`` line);
- passwords in connection strings, in any file: ``postgres://user:PASSWORD@host``, the
  key=value forms ``Server=db;Password=PASSWORD;`` (ADO.NET, ODBC) and ``?user=app&password=PASSWORD``
  (JDBC and other URLs);
- literals assigned to secret-like names (``*SECRET*``, ``*PASSWORD*``, ``*_PASS``, ``*PWD*``,
  ``*TOKEN*``, ``*API_KEY*``…), plain, f-strings or on the next line in parentheses: any
  non-placeholder value for password names, a random-looking one for the others, and in
  configuration files (YAML, INI, ``.properties``…) and prose (notes, Markdown) unquoted values too;
- XML and .NET configuration: ``<add key="ApiKey" value="…"/>`` and ``<password>…</password>``.

A random-looking value is long with mixed characters and high entropy, or long letters only with
the case changing every few characters (``qwErtYuiOpAsDfGhJkLz``), which words and CamelCase names do not.
"""

from __future__ import annotations

import itertools
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
    r"[A-Za-z0-9_.-]*(?:secret|passw(?:or)?d|pwd|[_.-]pass(?![A-Za-z0-9_])|token|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|credential|auth[_-]?key)[A-Za-z0-9_.-]*"
)
PASSWORD_NAME = re.compile(r"passw(?:or)?d|pwd", re.IGNORECASE)
#: ``DB_PASS``: a password, unless its value is a plain lower-case word (``FIRST_PASS = "inline"``).
PASS_NAME = re.compile(r"[_.-]pass(?![a-z0-9_])", re.IGNORECASE)
#: A quoted literal: the value runs to the same quote (the other quote kinds and escapes inside).
_QUOTED_VALUE = r"(?P<quote>['\"`])(?P<value>(?:\\.|(?!(?P=quote))[^\\\n])+)(?P=quote)"
#: ``NAME = "value"``, ``"name": 'value'``, ``name := "value"``, ``name => "value"``, ``NAME: value``,
#: ``NAME = f"value"``, ``NAME = (\n    "value"\n)``.
QUOTED_ASSIGNMENT = re.compile(
    rf"(?P<name>{SECRET_NAME})['\"]?\s*(?::=|=>|==|=(?:\s*\([ \t]*\n)?|:)\s*"
    rf"(?P<prefix>[rbufRBUF]{{0,2}}){_QUOTED_VALUE}",
    re.IGNORECASE,
)
#: ``Server=db;Password=value;``, ``?user=app&password=value``, ``"Pwd=value;…"``: a password key
#: right after ``;``, ``?``, ``&`` or a quote (one space allowed), ``=`` without spaces, so neither
#: a keyword argument (``connect(password=pw)``) nor a statement (``x = 1; password = pw``) is one;
#: nor is a call (``user='a' password=SecretStr('…')``, a repr).
CONNECTION_KEY_VALUE = re.compile(
    r"(?<=[;?&'\"]) ?(?P<name>passw(?:or)?d|pwd)=(?![A-Za-z_][\w.]*\()(?P<value>[^;&'\"\s<>]+)",
    re.IGNORECASE,
)
#: ``<add key="ApiKey" value="…"/>`` (.NET appSettings) and ``<password>…</password>``.
XML_KEY_VALUE = re.compile(
    rf"\bkey\s*=\s*(?P<q1>['\"])(?P<name>{SECRET_NAME})(?P=q1)\s+value\s*=\s*(?P<q2>['\"])(?P<value>[^'\"\n]+)(?P=q2)",
    re.IGNORECASE,
)
XML_ELEMENT = re.compile(rf"<(?P<name>{SECRET_NAME})>(?P<value>[^<\n]+)</(?P=name)>", re.IGNORECASE)
UNQUOTED_ASSIGNMENT = re.compile(
    rf"(?<![\w.-])(?P<name>{SECRET_NAME})\s*[:=]\s*(?P<value>[^\s'\"#;,]+)",
    re.IGNORECASE,
)
CONFIG_SUFFIXES = (".yaml", ".yml", ".ini", ".cfg", ".conf", ".properties", ".toml", ".env", ".txt", ".md", ".sh")
WORDS = re.compile(r"[A-Za-z]+(?:[-_.:/][A-Za-z]+)*")
PLACEHOLDER = re.compile(
    r"^(?:\$\{?.*\}?|\{\{.*\}\}|<.*>|%\(?.*|\*+|x+|\.+|changeme|change[_-]?me|none|null|nil|true|false|"
    r"example|dummy|redacted|\[redacted\]|your[_-].*|placeholder|secret|password|token|test|todo|"
    r"os\.environ.*|env\(.*|getenv.*|\{.*|.*(?:…|\.\.\.))$",
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
    if len(value) < 12 or " " in value:
        return False
    if WORDS.fullmatch(value):
        return _random_letters(value)
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return classes >= 2 and entropy(value) >= 3.0


def _random_letters(value: str) -> bool:
    """Letters only, at least 16, 30-70% upper case, the case changing every third letter or
    more often, and lone lower-case letters between capitals: ``qwErtYuiOpAsDfGhJkLz`` is a key;
    CamelCase names (``IsValidApiKeyForUser``, ``XMLHttpRequestToken``) and words are not."""
    if len(value) < 16 or not value.isascii() or not value.isalpha():
        return False
    upper = sum(c.isupper() for c in value) / len(value)
    runs = 1 + sum(a.isupper() != b.isupper() for a, b in itertools.pairwise(value))
    lone = sum(len(run) == 1 for run in re.findall(r"[a-z]+", value))
    return 0.3 <= upper <= 0.7 and runs * 3 >= len(value) and lone >= 2


def _secret_value(name: str, value: str) -> bool:
    value = value.strip()
    if len(value) < 4 or PLACEHOLDER.match(value):
        return False
    if PASSWORD_NAME.search(name):
        return True
    if PASS_NAME.search(name) and not re.fullmatch(r"[a-z_-]+", value):
        return True
    return looks_random(value)


def _template(match: re.Match[str]) -> bool:
    """An f-string that interpolates something: built at run time, not a literal secret."""
    prefix = match.groupdict().get("prefix") or ""
    return "f" in prefix.lower() and re.search(r"(?<!\{)\{(?!\{)", match["value"]) is not None


#: Literal parts that every match of ``TOKEN_FORMATS`` contains: texts without any skip it.
TOKEN_MARKERS = ("AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "sk-", "k_live_",
                 "k_test_", "AIza", "eyJ", "hooks.slack.com")  # fmt: skip
#: Lower-case literals that every secret-like name (``SECRET_NAME``) contains.
NAME_MARKERS = ("secret", "passw", "pwd", "pass", "token", "apikey", "api_key", "api-key", "access", "private",
                "credential", "auth")  # fmt: skip
#: Lines after a secret-like name that an assigned value may start on: ``NAME = (\n    "value"\n)``.
VALUE_LINES = 3


def _name_blocks(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` that may hold a secret-like name and its value: each line with a name
    marker and the ``VALUE_LINES`` after it, overlapping ones merged, each starting a line.

    The name-based patterns scan only these: on whole files their leading name part makes the
    regex engine retry at every character of every identifier (about 1 MB/s on code).
    """
    lower = text.lower()
    if len(lower) != len(text):  # a few characters lower-case to two: positions would not match
        return [(0, len(text))]
    starts: set[int] = set()
    for marker in NAME_MARKERS:
        at = lower.find(marker)
        while at >= 0:
            starts.add(text.rfind("\n", 0, at) + 1)
            at = lower.find(marker, text.find("\n", at) + 1 or len(text))
    blocks: list[tuple[int, int]] = []
    for start in sorted(starts):
        end = start
        for _ in range(VALUE_LINES + 1):
            end = text.find("\n", end) + 1 or len(text)
        if blocks and start <= blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], end))
        else:
            blocks.append((start, end))
    return blocks


def redact(text: str, path: str = "") -> Redacted:
    """``text`` with every secret value replaced by ``[REDACTED]`` (line breaks kept)."""
    spans: list[tuple[int, int]] = []

    if "PRIVATE KEY" in text:
        for match in PRIVATE_KEY.finditer(text):
            spans.append(match.span("body"))
    if any(marker in text for marker in TOKEN_MARKERS):
        for match in TOKEN_FORMATS.finditer(text):
            spans.append(match.span())
    if "://" in text:
        for match in CONNECTION_PASSWORD.finditer(text):
            if not PLACEHOLDER.match(match["value"]):
                spans.append(match.span("value"))
    unquoted = path.lower().endswith(CONFIG_SUFFIXES) or "." not in path.rsplit("/", 1)[-1]
    for begin, end in _name_blocks(text):
        block = text[begin:end]
        for pattern in (QUOTED_ASSIGNMENT, CONNECTION_KEY_VALUE, XML_KEY_VALUE, XML_ELEMENT):
            for match in pattern.finditer(block):
                if _template(match) or not _secret_value(match["name"], match["value"]):
                    continue
                spans.append((begin + match.start("value"), begin + match.end("value")))
        if unquoted:
            for match in UNQUOTED_ASSIGNMENT.finditer(block):
                if _secret_value(match["name"], match["value"]):
                    spans.append((begin + match.start("value"), begin + match.end("value")))
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
