"""``GET /api/v1/me/checkins``: a phone reads its owner's last 30 days of check-ins.

There is no cookie or session: each request carries a fresh signature by the phone's enrolled
key, so copying a header out of the phone gives at most ``MAX_SKEW`` seconds of read access.

    Authorization: Presensi-Device <device_id>.<ts>.<nonce>.<signature>

``signature`` is the base64url P1363 ECDSA-P256-SHA256 signature over
``presensi/me/v1|GET /api/v1/me/checkins|<device_id>|<ts>|<nonce>``, where ``ts`` is the phone's
estimate of the server's time in unix milliseconds. Its own context string keeps a check-in
signature from ever being accepted here and the other way round.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.db import as_utc, checkins, devices, employees, offices, utcnow
from backend.devices import load_public_key, verify_signature
from backend.errors import ApiError
from backend.openapi import ERROR_RESPONSE, json_response, ref, register
from backend.state import AppState

CONTEXT = "presensi/me/v1"
SCHEME = "Presensi-Device"
MAX_SKEW = 120  # seconds between the phone's signed time and the server's clock
HISTORY_DAYS = 30
_LIMIT = 200  # two scans a day for 30 days, with room for repeats and shifts
_CREDENTIAL = re.compile(
    r"^(?P<device_id>d_[A-Za-z0-9_-]{8,37})\.(?P<ts>[1-9][0-9]{0,15})"
    r"\.(?P<nonce>[A-Za-z0-9_-]{22})\.(?P<signature>[A-Za-z0-9_-]{43,128})$"
)


@dataclass(frozen=True)
class DeviceCredential:
    device_id: str
    ts: int
    nonce: str
    signature: str

    def message(self, method: str, path: str) -> bytes:
        return f"{CONTEXT}|{method} {path}|{self.device_id}|{self.ts}|{self.nonce}".encode()


def parse_authorization(header: str | None) -> DeviceCredential:
    scheme, _sep, value = (header or "").strip().partition(" ")
    if scheme != SCHEME:
        raise ApiError("invalid_request", detail=f"expected an Authorization: {SCHEME} header")
    match = _CREDENTIAL.match(value.strip())
    if match is None:
        raise ApiError(
            "invalid_request", detail="expected <device_id>.<ts>.<nonce>.<signature> credentials"
        )
    return DeviceCredential(
        match["device_id"], int(match["ts"]), match["nonce"], match["signature"]
    )


async def authenticate(request: Request, state: AppState) -> Any:
    """The employee whose enrolled, active phone signed this request; ApiError otherwise."""
    cred = parse_authorization(request.headers.get("authorization"))
    person = await state.db.fetch_one(
        sa.select(
            devices.c.public_key,
            devices.c.revoked_at,
            employees.c.id,
            employees.c.nip,
            employees.c.name,
            employees.c.active,
        )
        .select_from(devices.join(employees))
        .where(devices.c.id == cred.device_id)
    )
    if person is None:
        raise ApiError("unknown_device")
    if person["revoked_at"] is not None:
        raise ApiError("device_revoked")
    key = load_public_key(json.loads(person["public_key"]))
    if not verify_signature(key, cred.signature, cred.message("GET", request.url.path)):
        raise ApiError("bad_signature")
    # Checked after the signature, so the answer does not tell strangers a device id exists.
    if abs(time.time() - cred.ts / 1000) > MAX_SKEW:
        raise ApiError("stale_signature")
    if not person["active"]:
        raise ApiError("employee_inactive")
    return person


async def my_checkins(request: Request) -> JSONResponse:
    state = AppState.of(request)
    person = await authenticate(request, state)
    since = utcnow() - timedelta(days=HISTORY_DAYS)
    rows = await state.db.fetch_all(
        sa.select(
            checkins.c.at,
            checkins.c.local_date,
            checkins.c.kind,
            checkins.c.status,
            checkins.c.late_minutes,
            checkins.c.category,
            offices.c.name.label("office"),
            offices.c.timezone,
        )
        .select_from(checkins.join(offices))
        .where(checkins.c.employee_id == person["id"])
        .where(checkins.c.at >= since)
        .order_by(checkins.c.at.desc(), checkins.c.id.desc())
        .limit(_LIMIT)
    )
    return JSONResponse(
        {
            "employee": {"nip": person["nip"], "name": person["name"]},
            "days": HISTORY_DAYS,
            "checkins": [
                {
                    "at": as_utc(r["at"])
                    .astimezone(ZoneInfo(r["timezone"]))
                    .isoformat(timespec="seconds"),
                    "date": r["local_date"].isoformat(),
                    "kind": r["kind"],
                    "status": r["status"],
                    "late_minutes": r["late_minutes"],
                    "category": r["category"],
                    "office": r["office"],
                }
                for r in rows
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


register(
    "/api/v1/me/checkins",
    {
        "get": {
            "summary": "The signing phone's owner: check-ins of the last 30 days, newest first",
            "description": (
                f"Authorization: `{SCHEME} <device_id>.<ts>.<nonce>.<signature>`; signature: "
                "base64url of the raw P1363 ECDSA-P256-SHA256 signature over "
                f"`{CONTEXT}|GET /api/v1/me/checkins|<device_id>|<ts>|<nonce>`, ts in unix "
                f"milliseconds of server time (±{MAX_SKEW} s), nonce 16 random bytes, base64url."
            ),
            "responses": {
                "200": json_response(
                    "The employee's recent check-ins",
                    {
                        "type": "object",
                        "required": ["employee", "days", "checkins"],
                        "properties": {
                            "employee": ref("Employee"),
                            "days": {"type": "integer"},
                            "checkins": {"type": "array", "items": ref("MyCheckin")},
                        },
                    },
                ),
                "400": ERROR_RESPONSE,
                "401": ERROR_RESPONSE,
                "403": ERROR_RESPONSE,
            },
        }
    },
    {
        "MyCheckin": {
            "type": "object",
            "required": ["at", "date", "kind", "status", "late_minutes", "category", "office"],
            "properties": {
                "at": {"type": "string", "format": "date-time"},
                "date": {"type": "string", "format": "date"},
                "kind": {"type": "string", "enum": ["in", "out"]},
                "status": {"type": "string"},
                "late_minutes": {"type": "integer"},
                "category": {"type": ["string", "null"]},
                "office": {"type": "string"},
            },
        }
    },
)
