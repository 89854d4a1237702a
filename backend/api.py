"""The phone-facing JSON API under ``/api/v1`` (the check-in itself: backend/checkin/)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend import devices, identifiers, passkeys
from backend.checkin.endpoint import receive_json
from backend.errors import ApiError, error_page, error_response, retry_headers, wants_page
from backend.openapi import openapi_document
from backend.ratelimit import client_key
from backend.state import AppState, client_ip


async def read_json(request: Request, limit: int) -> Any:
    """Refuse wrong content types and oversized bodies before parsing anything."""
    return await receive_json(request.scope["headers"], request.receive, limit)


async def server_time(request: Request) -> JSONResponse:
    state = AppState.of(request)
    return JSONResponse({"server_time": time.time(), "qr_period": state.settings.qr_period})


async def enrol_device(request: Request) -> Response:
    state = AppState.of(request)
    data = await read_json(request, state.settings.max_body_bytes)
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    raw_nip, code, jwk = data.get("nip"), data.get("code"), data.get("public_key")
    if not isinstance(raw_nip, str) or not isinstance(code, str) or not raw_nip or not code:
        raise ApiError("invalid_request", detail="nip and code must be non-empty strings")
    if len(raw_nip) > 64 or len(code) > 32:
        raise ApiError("invalid_request", detail="nip or code too long")
    # The limit below and the lookup in devices.enrol see the same spelling of the NIP, so a
    # padded NIP is the same NIP, not a fresh set of tries.
    nip = identifiers.nip(raw_nip)
    if not nip or len(nip) > 32:
        raise ApiError("invalid_request", detail="nip must be 1-32 letters or digits")
    try:
        devices.load_public_key(jwk)
        assert isinstance(jwk, dict)  # load_public_key accepts only a JWK object
    except ValueError as exc:
        raise ApiError("invalid_request", detail=str(exc)) from exc
    ip = client_ip(request, state.settings)
    # Both limits count every attempt, so guessing codes is slow for one NIP and from one place.
    if not await state.enrol_ip_limiter.hit(
        client_key(ip)
    ) or not await state.enrol_nip_limiter.hit(nip):
        raise ApiError("rate_limited")
    device = await devices.enrol(
        state.db,
        state.settings.secret_key,
        nip=nip,
        code=code,
        jwk=jwk,
        user_agent=request.headers.get("user-agent", ""),
        ip=ip,
    )
    # With the owner's verification on, the answer carries the passkey's creation options.
    offer = await passkeys.enrolment_offer(
        state.db,
        state.settings.secret_key,
        state.settings.public_url,
        device_id=device.device_id,
        employee_id=device.employee_id,
        nip=device.nip,
    )
    return JSONResponse(
        {
            "device_id": device.device_id,
            "employee": {"nip": device.nip, "name": device.name},
            **offer,
        },
        status_code=201,
    )


async def register_passkey(request: Request) -> Response:
    """The enrolled phone's platform passkey (backend/passkeys.py), right after enrolment."""
    state = AppState.of(request)
    data = await read_json(request, state.settings.max_body_bytes)
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    ip = client_ip(request, state.settings)
    if not await state.enrol_ip_limiter.hit(client_key(ip)):
        raise ApiError("rate_limited")
    credential_id = await passkeys.register(
        state.db,
        state.settings.secret_key,
        state.settings.public_url,
        device_id=data.get("device_id"),
        credential=data.get("credential"),
        ip=ip,
    )
    state.hot.user_verification.forget(device_id=str(data["device_id"]))
    return JSONResponse({"credential_id": credential_id}, status_code=201)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(AppState.of(request).settings))


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = retry_headers(exc.code)
    if wants_page(request) and "text/html" in request.headers.get("accept", ""):
        return error_page(request, exc.status, exc.code, headers, exc.detail)  # a browser
    return error_response(exc, headers)
