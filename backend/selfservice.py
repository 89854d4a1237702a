"""The phone's self-service API under ``/api/v1/me``: profile and leave, requests, approvals,
inbox. Every call is signed by the phone's enrolled key (backend/me.py); a body is bound to the
signature by its SHA-256, so it is read (bounded) before the signature is checked."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from backend import activities, attachments, inbox, leave, organisation, requests
from backend.db import employees, units
from backend.errors import ApiError
from backend.me import authenticate
from backend.state import AppState

MAX_ID = 2**31 - 1  # the bound of the {x:id} path convertor

MAX_JSON = 16 * 1024
NO_STORE = {"Cache-Control": "no-store"}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError("payload_too_large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError("payload_too_large")
    return body


async def signed_json(request: Request) -> tuple[Any, Any]:
    """The signing employee and the JSON body they signed."""
    state = AppState.of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError("unsupported_media_type")
    body = await read_body(request, MAX_JSON)
    person = await authenticate(request, state, body)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError("invalid_request", detail="body is not valid JSON") from exc
    return person, data


def _ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def _id(request: Request) -> int:
    value: int = request.path_params["request_id"]
    return value


async def profile(request: Request) -> JSONResponse:
    state = AppState.of(request)
    person = await authenticate(request, state)
    db = state.db
    sup = sa.alias(employees, "sup")
    row = await db.fetch_one(
        sa.select(
            employees.c.position,
            units.c.name.label("unit"),
            sup.c.nip.label("sup_nip"),
            sup.c.name.label("sup_name"),
        )
        .select_from(employees.join(units).outerjoin(sup, sup.c.id == employees.c.supervisor_id))
        .where(employees.c.id == person["id"])
    )
    if row is None:
        raise ApiError("not_found", detail="employee")
    today = await requests.today_of(db, person["id"])
    balance = await leave.annual_balance(db, person["id"], today.year)
    supervisor = (
        {"nip": row["sup_nip"], "name": row["sup_name"]} if row["sup_nip"] is not None else None
    )
    return _ok(
        {
            "employee": {
                "nip": person["nip"],
                "name": person["name"],
                "unit": row["unit"],
                "position": row["position"],
                "supervisor": supervisor,
            },
            "leave": {leave.ANNUAL: balance.as_json()},
            "supervises": await organisation.subordinate_count(db, person["id"], today),
        }
    )


async def upload_attachment(request: Request) -> JSONResponse:
    state = AppState.of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in attachments.TYPES:
        raise ApiError("unsupported_attachment")
    body = await read_body(request, attachments.MAX_BYTES)
    person = await authenticate(request, state, body)
    attachment_id = await attachments.store(state.db, person["id"], body, content_type)
    return _ok({"attachment_id": attachment_id}, 201)


async def create_request(request: Request) -> JSONResponse:
    person, data = await signed_json(request)
    return _ok(await requests.submit(AppState.of(request).db, person["id"], data), 201)


async def list_requests(request: Request) -> JSONResponse:
    state = AppState.of(request)
    person = await authenticate(request, state)
    return _ok({"requests": await requests.mine(state.db, person["id"])})


async def cancel_request(request: Request) -> JSONResponse:
    state = AppState.of(request)
    body = await read_body(request, MAX_JSON)
    person = await authenticate(request, state, body)
    return _ok(await requests.cancel(state.db, person["id"], _id(request)))


async def list_approvals(request: Request) -> JSONResponse:
    """Requests (``"type": "request"``, integer ids) and submitted diary days
    (``"type": "activity"``, ids ``activity-<n>``) waiting for the signer's decision."""
    state = AppState.of(request)
    person = await authenticate(request, state)
    waiting: list[dict[str, Any]] = [
        {"type": "request", "id": str(item["request_id"]), **item}
        for item in await requests.awaiting(state.db, person["id"])
    ]
    who = await activities.person(state.db, person["id"])
    waiting += await activities.list_activity_approvals(state.db, person["id"], who.today())
    return _ok({"approvals": waiting})


async def decide_approval(request: Request) -> JSONResponse:
    """``activity-<n>`` is a diary day (approve/return/reject); an integer is a request."""
    state = AppState.of(request)
    raw = str(request.path_params["id"])
    day_id = activities.parse_approval_id(raw)
    if day_id is None and not (raw.isdigit() and 0 < int(raw) <= MAX_ID):
        raise ApiError("not_found")
    person, data = await signed_json(request)
    if day_id is not None:
        result = await activities.decide_activity(
            state.db,
            state.settings,
            day_id=day_id,
            decision=activities.parse_decision(data),
            actor=f"employee:{person['nip']}",
            approver_employee_id=person["id"],
        )
        return _ok(result)
    decider = requests.Decider(actor=f"employee:{person['nip']}", employee_id=person["id"])
    return _ok(await requests.decide(state.db, int(raw), data, decider))


async def my_inbox(request: Request) -> JSONResponse:
    state = AppState.of(request)
    person = await authenticate(request, state)
    return _ok({"items": await inbox.items(state.db, person["id"])})


# -- OpenAPI ---------------------------------------------------------------------------------


def _register_openapi() -> None:
    from backend.me import CONTEXT, SCHEME
    from backend.openapi import ERROR_RESPONSE, json_body, json_response, register

    signed = (
        f"Authorization: `{SCHEME} <device_id>.<ts>.<nonce>.<signature>` over "
        f"`{CONTEXT}|<METHOD> <path>|<device_id>|<ts>|<nonce>`, followed by "
        "`|<base64url(sha256(body))>` for a request with a body (see /api/v1/me/checkins)."
    )
    errors = {code: ERROR_RESPONSE for code in ("400", "401", "403", "404", "409", "422")}
    obj = {"type": "object"}
    request_id = [
        {
            "name": "request_id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    ]
    operations: dict[str, dict[str, Any]] = {
        "/api/v1/me": {
            "get": {
                "summary": "The signing phone's owner: position, supervisor, annual leave "
                "balance, how many staff they decide for",
                "responses": {"200": json_response("Profile", obj)},
            }
        },
        "/api/v1/me/attachments": {
            "post": {
                "summary": "A photo for a request (image/jpeg, image/png or image/webp, at "
                "most 2 MiB), re-encoded without EXIF or GPS; answers {attachment_id}",
                "requestBody": {
                    "required": True,
                    "content": {
                        t: {"schema": {"type": "string", "format": "binary"}}
                        for t in attachments.TYPES
                    },
                },
                "responses": {"201": json_response("Stored", obj), "413": ERROR_RESPONSE},
            }
        },
        "/api/v1/me/requests": {
            "get": {
                "summary": "My requests, newest first, with who holds each and its history",
                "responses": {"200": json_response("Requests", obj)},
            },
            "post": {
                "summary": 'A request: {"kind": "correction", "date", "scan": "in"|"out", '
                '"at", "reason"} or {"kind": "absence", "absence", "start_date", "end_date", '
                '"reason", "reference"?, "attachment_id"?}; answers {request_id, status, '
                "approver}",
                "requestBody": json_body(obj),
                "responses": {"201": json_response("Pending", obj)},
            },
        },
        "/api/v1/me/requests/{request_id}/cancel": {
            "post": {
                "summary": "Cancel my request while it is pending",
                "parameters": request_id,
                "responses": {"200": json_response("Cancelled", obj)},
            }
        },
        "/api/v1/me/inbox": {
            "get": {
                "summary": "My inbox: requests to decide, decisions on mine, escalations",
                "responses": {"200": json_response("Items", obj)},
            }
        },
    }
    for path, ops in operations.items():
        for op in ops.values():
            op["description"] = signed
            op["tags"] = ["phone"]
            op["responses"] |= errors
        register(path, ops)


_register_openapi()
