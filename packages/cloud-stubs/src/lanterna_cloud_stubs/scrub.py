"""Scrubbing of audit values: secrets are redacted, CR/LF and other control characters removed."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"

_SECRET = re.compile(
    r"(?i)\bbearer\s+[^\s,;]+"
    r"|\blnt_[A-Za-z0-9_\-]{8,}"
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bglpat-[A-Za-z0-9_\-]{16,}"
    r"|\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|\b(?:api[_-]?key|token|secret|password|passwd|license[_-]?key)\b\s*[=:]\s*[^\s,;]+"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def scrub_text(value: str) -> str:
    return _CONTROL.sub(" ", _SECRET.sub(REDACTED, value))


def scrub(value: Any) -> Any:
    """A copy of ``value`` with every string scrubbed, keys of mappings included."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
