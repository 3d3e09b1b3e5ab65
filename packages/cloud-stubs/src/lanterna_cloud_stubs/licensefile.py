"""License files: claims signed with Ed25519, the public key named by a key id so keys can rotate.

A license file is JSON::

    {"format": "lanterna-license/1", "key_id": "…", "claims": {…}, "signature": "<base64url>"}

The signature covers the canonical JSON of ``{"format", "key_id", "claims"}``. Claims:
``license_id``, ``tenant``, ``tier``, ``features``, ``limits``, ``issued_at``,
``not_before``, ``expires_at`` (ISO 8601, UTC) and ``grace_days``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT = "lanterna-license/1"

#: Public keys of the hosted license service, by key id (base64 of the raw 32-byte key).
#: None is published yet; deployments add theirs under ``[cloud.license] trusted_keys``.
PRODUCTION_KEYS: dict[str, str] = {}


class LicenseError(Exception):
    """A license cannot be used; the message is one line saying what to do."""


@dataclass(frozen=True)
class LicenseClaims:
    license_id: str
    tenant: str
    tier: str
    features: frozenset[str]
    limits: dict[str, int]
    issued_at: float
    not_before: float
    expires_at: float
    grace_days: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def grace_ends(self) -> float:
        return self.expires_at + self.grace_days * 86400


@dataclass(frozen=True)
class License:
    key_id: str
    claims: LicenseClaims
    document: dict[str, Any] = field(compare=False, repr=False)


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_bytes(key_id: str, claims: dict[str, Any]) -> bytes:
    body = {"format": FORMAT, "key_id": key_id, "claims": claims}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if not isinstance(value, str):
        raise LicenseError(f"license claim '{name}' is missing; ask for a new license file")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LicenseError(f"license claim '{name}' is not an ISO 8601 time; ask for a new license file") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_claims(claims: dict[str, Any]) -> LicenseClaims:
    try:
        features = claims.get("features", [])
        limits = claims.get("limits", {})
        if not isinstance(features, list) or not isinstance(limits, dict):
            raise TypeError
        return LicenseClaims(
            license_id=str(claims["license_id"]),
            tenant=str(claims["tenant"]),
            tier=str(claims["tier"]),
            features=frozenset(str(f) for f in features),
            limits={str(k): int(v) for k, v in limits.items()},
            issued_at=_time(claims, "issued_at"),
            not_before=_time(claims, "not_before"),
            expires_at=_time(claims, "expires_at"),
            grace_days=int(claims.get("grace_days", 0)),
            raw=claims,
        )
    except KeyError as exc:
        raise LicenseError(f"license claim {exc} is missing; ask for a new license file") from None
    except (TypeError, ValueError):
        raise LicenseError("license claims have the wrong types; ask for a new license file") from None


def load_license(text: str | bytes, trusted_keys: dict[str, str]) -> License:
    """Parse and verify a license document; raises ``LicenseError`` saying what is wrong."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise LicenseError("the license file is not valid JSON (corrupt or not a license); ask for a new one") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LicenseError(f"not a Lanterna license file (format is not '{FORMAT}'); check the file you passed")
    key_id, claims, signature = doc.get("key_id"), doc.get("claims"), doc.get("signature")
    if not isinstance(key_id, str) or not isinstance(claims, dict) or not isinstance(signature, str):
        raise LicenseError("the license file lacks key_id, claims or signature (corrupt); ask for a new one")
    keys = {**PRODUCTION_KEYS, **trusted_keys}
    if key_id not in keys:
        raise LicenseError(
            f"the license is signed with unknown key id '{key_id[:40]}'; upgrade lanterna-cloud-stubs"
            " or add that public key under [cloud.license] trusted_keys"
        )
    try:
        public = Ed25519PublicKey.from_public_bytes(b64decode(keys[key_id]))
        public.verify(b64decode(signature), signed_bytes(key_id, claims))
    except InvalidSignature:
        raise LicenseError(
            "the license signature is invalid (the file was altered or is forged); ask for a new one"
        ) from None
    except ValueError:
        raise LicenseError(
            f"the signature or trusted key '{key_id[:40]}' is malformed; check the file and config"
        ) from None
    return License(key_id=key_id, claims=parse_claims(claims), document=doc)
