"""Development signing helper: make a key pair and sign licenses, for tests and docs only.

No private key ships with this package: ``keygen`` creates one where you say (mode 0600).
Production licenses are signed by the hosted service, whose public keys are trusted by key id.

    python -m lanterna_cloud_stubs.devsign keygen DIR --key-id dev-1
    python -m lanterna_cloud_stubs.devsign sign DIR/dev-1.pem --key-id dev-1 --tenant acme --tier pro \\
        --feature memory.long_term --limit operations_per_day=1000 --days 365 --grace-days 14 -o acme.license
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from lanterna_cloud_stubs.licensefile import FORMAT, b64encode, iso, signed_bytes


def generate_keypair(directory: Path, key_id: str) -> tuple[Path, str]:
    """Write ``<directory>/<key_id>.pem`` (private, 0600); return its path and the public key (base64)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key_id}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return path, public_key_of(path)


def _private(path: Path) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(path.read_bytes(), password=None)


def public_key_of(path: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = _private(path).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64encode(raw)


def make_claims(
    tenant: str,
    tier: str = "pro",
    features: list[str] | tuple[str, ...] = (),
    limits: dict[str, int] | None = None,
    *,
    issued_at: float | None = None,
    not_before: float | None = None,
    expires_at: float | None = None,
    days: float = 365,
    grace_days: int = 14,
    license_id: str | None = None,
) -> dict[str, Any]:
    now = time.time() if issued_at is None else issued_at
    return {
        "license_id": license_id or f"lic_{uuid.uuid4().hex[:16]}",
        "tenant": tenant,
        "tier": tier,
        "features": sorted(features),
        "limits": dict(limits or {}),
        "issued_at": iso(now),
        "not_before": iso(now if not_before is None else not_before),
        "expires_at": iso(now + days * 86400 if expires_at is None else expires_at),
        "grace_days": grace_days,
    }


def sign(private_key: Path, key_id: str, claims: dict[str, Any]) -> dict[str, Any]:
    """A complete license document for ``claims``, signed with the key at ``private_key``."""
    signature = _private(private_key).sign(signed_bytes(key_id, claims))
    return {"format": FORMAT, "key_id": key_id, "claims": claims, "signature": b64encode(signature)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lanterna_cloud_stubs.devsign", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="create a development key pair")
    keygen.add_argument("directory", type=Path)
    keygen.add_argument("--key-id", default="dev-1")
    signer = sub.add_parser("sign", help="sign a license with a development key")
    signer.add_argument("key", type=Path)
    signer.add_argument("--key-id", required=True)
    signer.add_argument("--tenant", required=True)
    signer.add_argument("--tier", default="pro")
    signer.add_argument("--feature", action="append", default=[])
    signer.add_argument("--limit", action="append", default=[], help="NAME=INTEGER")
    signer.add_argument("--days", type=float, default=365)
    signer.add_argument("--grace-days", type=int, default=14)
    signer.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "keygen":
        path, public = generate_keypair(args.directory, args.key_id)
        print(f"private key (development only, keep out of wheels and repos): {path}")
        from lanterna.config import config_path

        print(f"add to the Lanterna config file, {config_path()} (`lanterna status` shows the one in use):")
        print(f'[cloud.license.trusted_keys]\n"{args.key_id}" = "{public}"')
        return 0
    try:
        limits = {name: int(value) for name, _, value in (item.partition("=") for item in args.limit)}
    except ValueError:
        print("devsign: --limit takes NAME=INTEGER, e.g. operations_per_day=1000", file=sys.stderr)
        return 2
    claims = make_claims(args.tenant, args.tier, args.feature, limits, days=args.days, grace_days=args.grace_days)
    args.output.write_text(json.dumps(sign(args.key, args.key_id, claims), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({claims['license_id']}, tenant {args.tenant}, expires {claims['expires_at']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
