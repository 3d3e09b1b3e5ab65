"""Which plan a tenant is on: its activated license, judged by date, online check and clock.

States: ``valid`` → ``grace`` (past expiry, within the grace days: paid features on, with a
warning) → ``expired`` (paid features off; the free core keeps working, no data touched).

With a validator configured, a successful online check is trusted for 24 hours; when the
validator cannot be reached the license keeps working for 7 days after the last successful
check (offline grace), then paid features go off until it answers again. A failed attempt
is retried at most every 5 minutes, so an outage does not slow every operation.

The newest time seen (local clock or the validator's) is kept as the last trusted time. A
clock set more than 5 minutes before it is reported, and license dates are then judged at
the last trusted time, so setting the clock back cannot revive a license. Deleting the state
does not reset it: the time of the newest audit event is a floor (and deleting the audit log
fails ``lanterna audit verify``); a reset is reported as a ``license.state_reset`` event.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanterna.types import Plan
from lanterna_cloud_stubs.database import SCHEMA, Database
from lanterna_cloud_stubs.licensefile import License, LicenseError, iso, load_license
from lanterna_cloud_stubs.settings import Settings

CACHE_SECONDS = 24 * 3600
OFFLINE_GRACE_SECONDS = 7 * 86400
RETRY_SECONDS = 300
ROLLBACK_TOLERANCE = 300
TRUSTED_TIME_STEP = 60
STATE_REREAD_SECONDS = 1.0


class PgLicenseState:
    """The license state in the shared PostgreSQL: one row, the same JSON as the state file."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self) -> dict[str, Any]:
        with self.db.connection() as conn:
            row = conn.execute(f"SELECT value FROM {SCHEMA}.license_state WHERE name = 'state'").fetchone()
        return dict(json.loads(row[0])) if row else {}

    def save(self, state: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.license_state VALUES ('state', %s)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (json.dumps(state, sort_keys=True),),
            )


@dataclass
class Evaluation:
    tenant: str
    state: str  # none, valid, grace, expired
    plan: Plan
    license: License | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    online: str = "no validator configured"

    def as_dict(self) -> dict[str, Any]:
        claims = self.license.claims if self.license else None
        return {
            "tenant": self.tenant,
            "state": self.state,
            "tier": self.plan.tier,
            "features": sorted(self.plan.features),
            "limits": dict(self.plan.limits),
            "license_id": claims.license_id if claims else None,
            "key_id": self.license.key_id if self.license else None,
            "expires_at": iso(claims.expires_at) if claims else None,
            "grace_ends": iso(claims.grace_ends) if claims else None,
            "online": self.online,
            "reasons": self.reasons,
            "warnings": self.warnings,
        }


class Entitlements:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        on_security: Callable[[str, str, str, str | None], None] | None = None,
        floor: Callable[[], float] | None = None,
        state_store: PgLicenseState | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_security = on_security or (lambda kind, severity, message, tenant: None)
        self.floor = floor or (lambda: 0.0)
        self.state_store = state_store
        self._state_read_at = float("-inf")
        self._lock = threading.RLock()
        self._licenses: dict[str, tuple[tuple[int, int] | None, License | None, str]] = {}
        self._state: dict[str, Any] = {}
        self._state_stamp: tuple[int, int] | bool | None = False

    # -- licenses on disk -------------------------------------------------------------

    def license_path(self, tenant: str) -> Path:
        name = tenant if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", tenant) else _digest(tenant)
        return self.settings.license_dir / f"{name}.license"

    def activate(self, path: Path) -> Evaluation:
        """Verify the license at ``path`` and install it for its tenant; raises ``LicenseError``."""
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise LicenseError(f"cannot read {path} ({exc.strerror or type(exc).__name__}); check the path") from None
        lic = load_license(text, self.settings.trusted_keys)
        claims = lic.claims
        now = self._trusted_now()[0]
        if now > claims.grace_ends:
            raise LicenseError(f"license {claims.license_id} expired on {iso(claims.expires_at)}; ask for a renewal")
        with self._lock:
            state = self._load_state()
            if self.settings.validator_url:
                from lanterna_cloud_stubs.validator import ValidatorUnreachable, validate_online

                try:
                    answer = validate_online(self.settings.validator_url, claims.license_id)
                except ValidatorUnreachable:
                    answer = None
                if answer is not None and answer.status != "active":
                    raise LicenseError(
                        f"license {claims.license_id} is {answer.status} at the license service; ask for a new one"
                    )
                record = state.setdefault("validations", {}).setdefault(claims.license_id, {})
                record.update({"activated_at": now, "attempted_at": now})
                if answer is not None:
                    record.update({"ok_at": now, "status": "active"})
                self._save_state(state)
            target = self.license_path(claims.tenant)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(text)
            os.replace(tmp, target)
            self._licenses.pop(claims.tenant, None)
        return self.evaluate(claims.tenant)

    def _license(self, tenant: str) -> tuple[License | None, str]:
        path = self.license_path(tenant)
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        cached = self._licenses.get(tenant)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        lic, error = None, ""
        if stamp is not None:
            try:
                lic = load_license(path.read_bytes(), self.settings.trusted_keys)
                if lic.claims.tenant != tenant:
                    lic, error = None, f"the installed license is for another tenant; activate {tenant}'s license"
            except (LicenseError, OSError) as exc:
                error = f"the installed license {path.name} is not usable: {exc}"
            if error:
                self.on_security("license.invalid", "error", error, tenant)
        self._licenses[tenant] = (stamp, lic, error)
        return lic, error

    # -- evaluation --------------------------------------------------------------------

    def evaluate(self, tenant: str) -> Evaluation:
        with self._lock:
            return self._evaluate(tenant)

    def _evaluate(self, tenant: str) -> Evaluation:
        now, rollback = self._trusted_now()
        lic, error = self._license(tenant)
        free = Plan(tier="free", limits=dict(self.settings.free_limits), source="cloud-stubs free plan")
        if lic is None:
            ev = Evaluation(tenant, "expired" if error else "none", free, reasons=[error] if error else [])
            if rollback:
                ev.warnings.append(rollback)
            return ev
        claims = lic.claims
        reasons: list[str] = []
        warnings: list[str] = [rollback] if rollback else []
        state = "valid"
        if now < claims.not_before:
            state = "expired"
            reasons.append(f"license {claims.license_id} is not valid before {iso(claims.not_before)}")
        elif now > claims.grace_ends:
            state = "expired"
            reasons.append(f"license {claims.license_id} expired on {iso(claims.expires_at)}; renew it")
        elif now > claims.expires_at:
            state = "grace"
            warnings.append(
                f"license {claims.license_id} expired on {iso(claims.expires_at)}; paid features stay on until"
                f" {iso(claims.grace_ends)}: renew it"
            )
        online, online_reason, online_warning = self._online(claims.license_id, now)
        if online_reason:
            state = "expired"
            reasons.append(online_reason)
        if online_warning:
            warnings.append(online_warning)
        source = f"license {claims.license_id}"
        if state == "expired":
            plan = Plan(claims.tier, claims.features, dict(self.settings.free_limits), "expired", source)
        else:
            # (ignored for mypy) state is 'valid' or 'grace' here ('expired' is handled above); mypy sees str
            plan = Plan(claims.tier, claims.features, dict(claims.limits), state, source)  # type: ignore[arg-type]
        return Evaluation(tenant, state, plan, lic, reasons, warnings, online)

    def _online(self, license_id: str, now: float) -> tuple[str, str, str]:
        """(description, reason to turn paid features off, warning) from the online check."""
        url = self.settings.validator_url
        if not url:
            return "no validator configured", "", ""
        state = self._load_state()
        record = state.setdefault("validations", {}).setdefault(license_id, {})
        ok_at = record.get("ok_at")
        fresh = ok_at is not None and now - ok_at < CACHE_SECONDS
        if not fresh and now - record.get("attempted_at", float("-inf")) >= RETRY_SECONDS:
            from lanterna_cloud_stubs.validator import ValidatorUnreachable, validate_online

            record["attempted_at"] = now
            try:
                answer = validate_online(url, license_id)
            except ValidatorUnreachable as exc:
                record["last_error"] = str(exc)
            else:
                record.update({"ok_at": now, "status": answer.status, "last_error": ""})
                if answer.server_time is not None and answer.server_time > state.get("last_trusted_time", 0):
                    state["last_trusted_time"] = answer.server_time
                ok_at = now
            self._save_state(state)
        status = record.get("status")
        if status in ("revoked", "unknown"):
            return f"{status} at the license service", f"license {license_id} is {status} at the license service", ""
        since = ok_at if ok_at is not None else record.get("activated_at")
        if since is None:
            since = now
            record["activated_at"] = now
            self._save_state(state)
        age = now - since
        described = f"validated {_ago(age)} ago" if ok_at is not None else "never validated online"
        if age < CACHE_SECONDS:
            return described, "", ""
        deadline = since + OFFLINE_GRACE_SECONDS
        if now <= deadline:
            return (
                described,
                "",
                (
                    f"license service unreachable ({record.get('last_error') or 'no answer'}); paid features stay on"
                    f" until {iso(deadline)} (offline grace)"
                ),
            )
        return (
            described,
            (
                f"license {license_id} could not be validated online for more than 7 days;"
                f" let Lanterna reach {url} (then it recovers by itself)"
            ),
            "",
        )

    # -- time --------------------------------------------------------------------------

    def _trusted_now(self) -> tuple[float, str]:
        """The time to judge licenses at, and a warning when the clock was set back."""
        now = self.clock()
        with self._lock:
            state = self._load_state()
            if "last_trusted_time" not in state and (floor := self.floor()) > 0:
                # The state was deleted or reset, but the audit log shows time has passed.
                state["last_trusted_time"] = floor
                self._save_state(state)
                self.on_security(
                    "license.state_reset",
                    "critical",
                    f"the license state was missing or reset; the last trusted time ({iso(floor)}) was restored"
                    " from the audit log",
                    None,
                )
            last = float(state.get("last_trusted_time", 0.0))
            if now + ROLLBACK_TOLERANCE < last:
                message = (
                    f"the system clock ({iso(now)}) is behind the last trusted time ({iso(last)});"
                    " licenses are judged at the last trusted time: fix the clock"
                )
                if not state.get("rollback"):
                    state["rollback"] = {"clock": now, "last_trusted_time": last}
                    self._save_state(state)
                    self.on_security("clock.rollback", "critical", message, None)
                return last, message
            if now - last >= TRUSTED_TIME_STEP or state.get("rollback"):
                state["last_trusted_time"] = max(now, last)
                state.pop("rollback", None)
                self._save_state(state)
        return now, ""

    def _load_state(self) -> dict[str, Any]:
        if self.state_store is not None:
            if time.monotonic() - self._state_read_at > STATE_REREAD_SECONDS:
                self._state, self._state_read_at = self.state_store.load(), time.monotonic()
            return self._state
        path = self.settings.license_state
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._state_stamp:
            try:
                self._state = json.loads(path.read_text(encoding="utf-8")) if stamp else {}
            except (OSError, ValueError):
                self._state = {}  # a damaged cache only costs an online check
                self.on_security("license.state_damaged", "warning", f"{path.name} was unreadable; reset", None)
            self._state_stamp = stamp
        return self._state

    def _save_state(self, state: dict[str, Any]) -> None:
        if self.state_store is not None:
            self.state_store.save(state)
            self._state, self._state_read_at = state, time.monotonic()
            return
        path = self.settings.license_state
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
        st = path.stat()
        self._state, self._state_stamp = state, (st.st_mtime_ns, st.st_size)


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
