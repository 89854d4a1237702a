"""The check-in: verify a signed scan of a display's QR and record it.

Checks run in the order DESIGN.md gives, each failure with its own code. A record is written
only after every check passes, and the caller answers only after the write is committed.

``check_in`` is four steps: the token (current, or a queued scan kept for review), the parties
(the display's office, the phone's owner, the working day; backend/checkin/reads.py), the
record's values, and the group commit (backend/checkin/records.py).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend import apel, geofence, tokens
from backend.checkin.planner import PendingCheckin
from backend.checkin.reads import HotPath, Scan
from backend.checkin.records import DatabaseUnavailable
from backend.db import as_utc, utcnow
from backend.devices import b64url_decode, raw_signature
from backend.errors import ApiError
from backend.passkeys import Assertion, parse_assertion, relying_party
from backend.schedules import DaySchedule, classify
from backend.settings import Settings

CONTEXT = "presensi/checkin/v1"
_DEVICE_ID = re.compile(r"^d_[A-Za-z0-9_-]{8,37}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{22}$")  # 16 random bytes, base64url without padding
# A queued scan may arrive late, but only if the phone signed it while the code was current
# (client_ts is the phone's estimate of server time; SKEW absorbs what that estimate misses).
CLIENT_SKEW = 5.0
PENDING_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class CheckinRequest:
    token: str
    device_id: str
    client_ts: int
    nonce: str
    signature: str
    # Where the phone said it was (optional, unsigned: a signal for reviewers, never proof).
    location: geofence.Location | None = None
    assertion: Any = None  # the owner's WebAuthn assertion (backend/passkeys.py), if sent

    def message(self) -> bytes:
        return f"{CONTEXT}|{self.token}|{self.device_id}|{self.client_ts}|{self.nonce}".encode()


def parse_request(data: Any) -> CheckinRequest:
    """Validate the JSON body's shape; everything else is checked against keys and records."""
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    fields = ("token", "device_id", "client_ts", "nonce", "signature")
    missing = [f for f in fields if f not in data]
    if missing:
        raise ApiError("invalid_request", detail=f"missing: {', '.join(missing)}")
    for name in ("token", "device_id", "nonce", "signature"):
        if not isinstance(data[name], str):
            raise ApiError("invalid_request", detail=f"{name} must be a string")
    client_ts = data["client_ts"]
    if isinstance(client_ts, bool) or not isinstance(client_ts, int) or not 0 < client_ts < 2**53:
        raise ApiError("invalid_request", detail="client_ts must be integer unix milliseconds")
    if not _NONCE.match(data["nonce"]):
        raise ApiError("invalid_request", detail="nonce must be 16 bytes, base64url")
    if len(data["signature"]) > 128:
        raise ApiError("invalid_request", detail="signature too long")
    return CheckinRequest(
        data["token"],
        data["device_id"],
        client_ts,
        data["nonce"],
        data["signature"],
        assertion=data.get("assertion"),
        location=geofence.parse_location(data.get("location")),
    )


def _signed_while_current(req: CheckinRequest, window: int, settings: Settings) -> bool:
    signed_at = req.client_ts / 1000
    opens = window * settings.qr_period - CLIENT_SKEW
    closes = (window + 1 + settings.qr_grace_windows) * settings.qr_period + CLIENT_SKEW
    return opens <= signed_at <= closes


def _in_networks(ip: str, networks: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
        return any(
            address in ipaddress.ip_network(n.strip(), strict=False)
            for n in networks.split(",")
            if n.strip()
        )
    except ValueError:
        return False


@dataclass(frozen=True)
class Outcome:
    created: bool
    body: dict[str, Any]
    display_id: int
    first_name: str

    @property
    def status_code(self) -> int:
        if self.body["status"] == "pending_review":
            return 202
        return 201 if self.created else 200


def _body(row: dict[str, Any], tz: ZoneInfo, nip: str, name: str) -> dict[str, Any]:
    return {
        "status": row["status"],
        "checkin_id": row["id"],
        "kind": row["kind"],
        "at": as_utc(row["at"]).astimezone(tz).isoformat(timespec="seconds"),
        "late_minutes": row["late_minutes"],
        "category": row["category"],
        "employee": {"nip": nip, "name": name},
    }


async def check_in(
    hot: HotPath,
    settings: Settings,
    req: CheckinRequest,
    *,
    ip: str,
    user_agent: str,
    now: datetime | None = None,
) -> Outcome:
    now = now or utcnow()
    token, pending = _token(req, settings, now)
    assertion = None
    if req.assertion is not None:
        rp_id, origin = relying_party(settings.public_url)
        assertion = parse_assertion(
            req.assertion, message=req.message(), rp_id=rp_id, origin=origin
        )
    try:
        place, person, (day, schedule), checked = await _parties(
            hot, req, token.display_id, now, assertion=assertion
        )
    except DatabaseUnavailable:
        raise
    except ApiError:
        # Cached rows may be stale: a refusal is decided on fresh ones, in DESIGN's order.
        place, person, (day, schedule), checked = await _parties(
            hot, req, token.display_id, now, assertion=assertion, fresh=True
        )
    tz = ZoneInfo(place["timezone"])
    local = now.astimezone(tz)
    flags = _flags(place, person, ip=ip, now=now, settings=settings, pending=pending) + checked
    apel_id = None
    if token.session_id is not None:  # an apel token: does it attend its session?
        apel_id = await apel.attended(
            hot.apel,
            session_id=token.session_id,
            office_id=place["office_id"],
            unit_id=person["unit_id"],
            window=token.window,
            period=settings.qr_period,
        )
    flags += geofence.flags(place, req.location)
    if token.console:
        flags.append("console_token")
    values = _record(
        req,
        token,
        place,
        person,
        day=day,
        now=now,
        ip=ip,
        user_agent=user_agent,
        pending=pending,
        flags=flags,
    )
    values["apel_session_id"] = apel_id
    # Committed with the concurrent scans' records; returns once COMMIT has. The write
    # transaction re-checks revocation and the employee's status (backend/checkin/planner.py).
    try:
        written = await hot.writer.commit(
            PendingCheckin(
                values,
                classify=lambda before: classify(local, schedule, scanned_before=before),
                needs_history=schedule is None,
            )
        )
    except ApiError:
        hot.forget(display_id=token.display_id, device_id=req.device_id)
        raise
    body = _body(written.row, tz, person["nip"], person["name"])
    body["apel"] = apel_id is not None  # a repeat of the scan answers the same
    return Outcome(
        created=written.created,
        body=body,
        display_id=token.display_id,
        first_name=person["name"].split()[0] if person["name"].split() else "",
    )


def _token(req: CheckinRequest, settings: Settings, now: datetime) -> tuple[tokens.Token, bool]:
    """The scanned token, and whether the scan is a queued one kept for review (pending)."""
    try:
        token = tokens.verify(
            settings.qr_keys,
            req.token,
            period=settings.qr_period,
            grace_windows=settings.qr_grace_windows,
            now=now.timestamp(),
        )
    except ApiError as exc:
        # A scan queued on a phone without signal is kept for review, never accepted.
        if exc.code != "expired_token":
            raise
        _, display_id, window, session_id, _ = tokens.parse_any(req.token)
        too_old = now - datetime.fromtimestamp(window * settings.qr_period, UTC) > PENDING_MAX_AGE
        if too_old or not _signed_while_current(req, window, settings):
            raise
        console = tokens.is_console(settings.qr_keys, req.token)
        token = tokens.Token("", display_id, window, req.token, session_id, console=console)
        return token, True
    return token, False


def _record(
    req: CheckinRequest,
    token: tokens.Token,
    place: dict[str, Any],
    person: dict[str, Any],
    *,
    day: date,
    now: datetime,
    ip: str,
    user_agent: str,
    pending: bool,
    flags: list[str],
) -> dict[str, Any]:
    """The checkins row but its verdict (kind, late_minutes, category: the write decides)."""
    return {
        "employee_id": person["employee_id"],
        "device_id": req.device_id,
        "display_id": token.display_id,
        "office_id": place["office_id"],
        "window": token.window,
        "at": now,
        "local_date": day,
        "status": "pending_review" if pending else "accepted",
        "client_ts": req.client_ts,
        "nonce": b64url_decode(req.nonce).hex()[:32],
        "client_ip": ip[:64],
        "user_agent": user_agent[:400],
        "flags": ",".join(flags),
        **geofence.record_values(req.location),
    }


async def _parties(
    hot: HotPath,
    req: CheckinRequest,
    display_id: int,
    now: datetime,
    *,
    assertion: Assertion | None = None,
    fresh: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], tuple[date, DaySchedule | None], list[str]]:
    """The display's office and the phone's owner, checked in DESIGN's order, the working
    day the scan counts for (the roster's shift when there is one; a night shift's check-out
    counts for the day before), and the owner's verification's flags (backend/passkeys.py)."""
    place = await hot.display(display_id, fresh=fresh)
    if place is None:
        raise ApiError("unknown_display")
    if place["revoked_at"] is not None:
        raise ApiError("display_revoked")
    if not _DEVICE_ID.match(req.device_id):
        raise ApiError("unknown_device")
    # The owner, the day's schedule and the signature's verdict come from one batch with the
    # concurrent scans' (backend/checkin/reads.py).
    found = await hot.parties(
        Scan(
            req.device_id,
            now.astimezone(ZoneInfo(place["timezone"])),
            raw_signature(req.signature),
            req.message(),
            fresh,
            assertion,
        )
    )
    person, day = found.person, found.day
    if person is None:
        raise ApiError("unknown_device")
    if person["revoked"]:
        raise ApiError("device_revoked")
    if not found.signature_valid:
        raise ApiError("bad_signature")
    if not person["active"]:
        raise ApiError("employee_inactive")
    assert day is not None  # found with the person
    checked = await hot.user_verification.decide(
        person, req.device_id, assertion is not None, found.assertion, fresh
    )
    return place, person, day, checked


def _flags(
    place: dict[str, Any],
    person: dict[str, Any],
    *,
    ip: str,
    now: datetime,
    settings: Settings,
    pending: bool,
) -> list[str]:
    """Signals for admins to review; they never change the verdict on their own."""
    flags = []
    if pending:
        flags.append("offline_submission")
    if person["office_id"] is not None and person["office_id"] != place["office_id"]:
        flags.append("other_office")
    if place["allowed_networks"] and not _in_networks(ip, place["allowed_networks"]):
        flags.append("ip_outside_network")
    last_seen = place["last_seen_at"]
    if last_seen is None or now - as_utc(last_seen) > timedelta(seconds=3 * settings.qr_period):
        flags.append("display_offline")
    return flags
