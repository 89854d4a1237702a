"""The phone's diary routes and the supervisor's activity approvals (backend/activities.py).

Every request is signed by the phone's key like ``/api/v1/me/checkins`` (backend/me.py); the
body is bound to the signature by its SHA-256.

Approval ids are ``activity-<n>`` strings, so they never collide with the ids of other kinds of
approvals listed by the same ``/api/v1/me/approvals``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend import activities
from backend.checkin.endpoint import receive_json
from backend.errors import ApiError
from backend.me import CONTEXT, MAX_SKEW, SCHEME, authenticate, claim_nonce_in, verify
from backend.openapi import ERROR_RESPONSE, json_body, json_response, ref, register
from backend.state import AppState

_NO_STORE = {"Cache-Control": "no-store"}


async def _signed_json(
    request: Request, state: AppState, limit: int, *, claim_later: bool = False
) -> tuple[Any, Any, Any]:
    """The request's JSON, its signer, and (with ``claim_later``) the nonce claim for the
    caller's write transaction; the raw body is kept for the signature check."""
    chunks: list[bytes] = []

    async def receive() -> Any:
        message = await request.receive()
        chunks.append(message.get("body", b""))
        return message

    data = await receive_json(request.scope["headers"], receive, limit)
    if not claim_later:
        return data, await authenticate(request, state, b"".join(chunks)), None
    person, cred, now = await verify(request, state, b"".join(chunks))

    async def claim(conn: Any) -> None:
        await claim_nonce_in(conn, cred, now)

    return data, person, claim


async def put_day(request: Request) -> JSONResponse:
    state = AppState.of(request)
    try:  # a path that names no day is no resource: 404 before any signature work
        date.fromisoformat(request.path_params["date"])
    except ValueError as exc:
        raise ApiError("not_found") from exc
    data, person, claim = await _signed_json(
        request, state, activities.BODY_LIMIT, claim_later=True
    )
    day = activities.parse_day(request.path_params["date"])
    if not isinstance(data, dict) or set(data) - {"entries", "submit"}:
        raise ApiError("invalid_request", detail="expected {entries, submit}")
    submit = data.get("submit", False)
    if not isinstance(submit, bool):
        raise ApiError("invalid_request", detail="submit: true or false")
    entries = activities.parse_entries(data.get("entries"))
    saved = await activities.save_day(
        state.db,
        state.settings,
        employee_id=person["id"],
        day=day,
        entries=entries,
        submit=submit,
        claim=claim,
    )
    return JSONResponse(saved.as_json(), headers=_NO_STORE)


async def get_month(request: Request) -> JSONResponse:
    state = AppState.of(request)
    person = await authenticate(request, state)
    start, end = activities.parse_month(request.query_params.get("month"))
    days = await activities.month(state.db, person["id"], start, end)
    targets = sorted(await activities.target_ids(state.db, person["id"], start.year))
    return JSONResponse(
        {"month": start.strftime("%Y-%m"), "days": days, "target_ids": targets},
        headers=_NO_STORE,
    )


def _signed(method: str, path: str, body: bool) -> str:
    tail = "|<base64url(sha256(body))>" if body else ""
    return (
        f"Authorization: `{SCHEME} <device_id>.<ts>.<nonce>.<signature>` over "
        f"`{CONTEXT}|{method} {path}|<device_id>|<ts>|<nonce>{tail}` (±{MAX_SKEW} s)."
    )


_ERRORS = {code: ERROR_RESPONSE for code in ("400", "401", "403", "404", "409", "422")}
_ENTRY = {
    "type": "object",
    "required": ["start", "end", "description", "output_quantity", "output_unit"],
    "properties": {
        "start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
        "end": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
        "description": {"type": "string", "minLength": 10, "maxLength": 1000},
        "output_quantity": {"type": "number", "exclusiveMinimum": 0},
        "output_unit": {"type": "string", "minLength": 1, "maxLength": 50},
        "target_id": {"type": ["string", "null"]},
    },
}
_STATUS = {"type": "string", "enum": [s.value for s in activities.Status]}

register(
    "/api/v1/me/activities/{date}",
    {
        "put": {
            "summary": "Save the day's activity diary as a whole, as a draft or submitted",
            "description": _signed("PUT", "/api/v1/me/activities/<date>", True),
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["entries"],
                    "properties": {
                        "entries": {"type": "array", "items": ref("ActivityEntry")},
                        "submit": {"type": "boolean"},
                    },
                }
            ),
            "responses": {
                "200": json_response(
                    "The day's status and claimed minutes",
                    {
                        "type": "object",
                        "required": ["date", "status", "minutes"],
                        "properties": {
                            "date": {"type": "string", "format": "date"},
                            "status": _STATUS,
                            "minutes": {"type": "integer"},
                        },
                    },
                ),
                **_ERRORS,
            },
        }
    },
    {"ActivityEntry": _ENTRY},
)
register(
    "/api/v1/me/activities",
    {
        "get": {
            "summary": "The signing phone's owner: diary days of a month (?month=YYYY-MM)",
            "description": _signed("GET", "/api/v1/me/activities", False),
            "responses": {
                "200": json_response(
                    "The month's days with their entries, status and the supervisor's note",
                    {
                        "type": "object",
                        "required": ["month", "days", "target_ids"],
                        "properties": {
                            "month": {"type": "string"},
                            "days": {"type": "array", "items": ref("ActivityDay")},
                            "target_ids": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                ),
                **_ERRORS,
            },
        }
    },
    {
        "ActivityDay": {
            "type": "object",
            "required": ["date", "status", "minutes", "approved_minutes", "note", "entries"],
            "properties": {
                "date": {"type": "string", "format": "date"},
                "status": _STATUS,
                "minutes": {"type": "integer"},
                "approved_minutes": {"type": ["integer", "null"]},
                "note": {"type": "string"},
                "entries": {"type": "array", "items": ref("ActivityEntry")},
            },
        }
    },
)
register(
    "/api/v1/me/approvals",
    {
        "get": {
            "summary": "What the signing supervisor (or delegate) decides: requests and submitted "
            "diary days",
            "description": _signed("GET", "/api/v1/me/approvals", False)
            + " Request items have `type: request` and the request's id; activity items have "
            "`type: activity` and ids `activity-<n>`.",
            "responses": {
                "200": json_response(
                    "Items waiting for the supervisor's decision, oldest first",
                    {
                        "type": "object",
                        "required": ["approvals"],
                        "properties": {"approvals": {"type": "array", "items": {"type": "object"}}},
                    },
                ),
                **_ERRORS,
            },
        }
    },
)
register(
    "/api/v1/me/approvals/{id}",
    {
        "post": {
            "summary": "Decide a request (integer id: approve or reject, note?) or a submitted "
            "diary day (activity-<n>: approve, optionally fewer minutes, return or reject, note)",
            "description": _signed("POST", "/api/v1/me/approvals/<id>", True),
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["decision"],
                    "properties": {
                        "decision": {"type": "string", "enum": list(activities.DECISIONS)},
                        "note": {"type": "string", "maxLength": 1000},
                        "minutes": {"type": "integer", "minimum": 1},
                    },
                }
            ),
            "responses": {
                "200": json_response(
                    "A diary day: its new status and validated minutes ({id, type, date, "
                    "status, minutes}); a request: the decided request",
                    {"type": "object"},
                ),
                **_ERRORS,
            },
        }
    },
)
