"""``GET /api/v1/me/checkins``: a phone reads its owner's last 30 days of check-ins.

There is no cookie or session: each request carries a fresh signature by the phone's enrolled
key, so copying a header out of the phone gives at most ``MAX_SKEW`` seconds of read access.

    Authorization: Presensi-Device <device_id>.<ts>.<nonce>.<signature>

``signature`` is the base64url P1363 ECDSA-P256-SHA256 signature over
``presensi/me/v1|<METHOD> <path>|<device_id>|<ts>|<nonce>`` for a request without a body, and
``presensi/me/v1|<METHOD> <path>|<device_id>|<ts>|<nonce>|<base64url(sha256(body))>`` for one
with a body (``<path>`` without the query string), where ``ts`` is the phone's estimate of the
server's time in unix milliseconds (within ``MAX_SKEW``). Each nonce is accepted once
(``replayed_request``). Its own context string keeps a check-in signature from ever being
accepted here and the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from backend import clock
from backend.db import (
    CONFLICT_ERRORS,
    as_utc,
    checkins,
    devices,
    employees,
    is_unique_violation,
    me_nonces,
    offices,
    utcnow,
)
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

    def message(self, method: str, path: str, body: bytes = b"") -> bytes:
        text = f"{CONTEXT}|{method} {path}|{self.device_id}|{self.ts}|{self.nonce}"
        if body:
            text += "|" + b64url(hashlib.sha256(body).digest())
        return text.encode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


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


async def authenticate(request: Request, state: AppState, body: bytes | None = None) -> Any:
    """The employee whose enrolled, active phone signed this request; ApiError otherwise.

    ``body`` is the request's body when the caller has read it already (otherwise it is read
    here); a non-empty body is bound to the signature by its SHA-256.
    """
    person, cred, now = await verify(request, state, body)
    await claim_nonce(state, cred, now)
    return person


async def verify(
    request: Request, state: AppState, body: bytes | None = None
) -> tuple[Any, DeviceCredential, float]:
    """``authenticate`` without claiming the nonce: the caller claims it with
    ``claim_nonce_in`` inside its own write transaction (one commit instead of two)."""
    cred = parse_authorization(request.headers.get("authorization"))
    if body is None:
        body = b"" if request.method in ("GET", "HEAD") else await request.body()
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
    message = cred.message(request.method, request.url.path, body)
    if not verify_signature(key, cred.signature, message):
        raise ApiError("bad_signature")
    # Checked after the signature, so the answer does not tell strangers a device id exists.
    now = clock.timestamp()
    if abs(now - cred.ts / 1000) > MAX_SKEW:
        raise ApiError("stale_signature")
    if not person["active"]:
        raise ApiError("employee_inactive")
    return person, cred, now


async def claim_nonce(state: AppState, cred: DeviceCredential, now: float) -> None:
    """Accept each nonce once while its signature could still be fresh (``replayed_request``)."""
    async with state.db.transaction():
        await claim_nonce_in(state.db, cred, now)


async def claim_nonce_in(conn: Any, cred: DeviceCredential, now: float) -> None:
    """``claim_nonce`` inside the caller's write transaction; a replay raises
    ``replayed_request`` and so rolls the whole transaction back."""
    try:
        await conn.execute(me_nonces.delete().where(me_nonces.c.expires_at < int(now)))
        await conn.execute(
            me_nonces.insert().values(
                nonce=cred.nonce,
                device_id=cred.device_id,
                expires_at=int(now) + 2 * MAX_SKEW + 1,
            )
        )
    except CONFLICT_ERRORS as exc:
        if is_unique_violation(exc):
            raise ApiError("replayed_request") from exc
        raise


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
