"""The phone-facing JSON API under ``/api/v1``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from backend import devices, metrics
from backend.checkins import check_in, parse_request
from backend.errors import (
    DATABASE_RETRY_AFTER,
    ApiError,
    database_unavailable,
    error_page,
    error_response,
    wants_page,
)
from backend.fastpath import header
from backend.logs import request_id
from backend.openapi import openapi_document
from backend.security_headers import RAW_HEADERS
from backend.state import AppState, client_ip, forwarded_client


async def read_json(request: Request, limit: int) -> Any:
    """Refuse wrong content types and oversized bodies before parsing anything."""
    return await receive_json(request.scope["headers"], request.receive, limit)


async def receive_json(headers: Sequence[tuple[bytes, bytes]], receive: Receive, limit: int) -> Any:
    """``read_json`` on a bare ASGI request (raises ``ClientDisconnect`` as Starlette does)."""
    content_type = header(headers, b"content-type") or b""
    if content_type.split(b";")[0].strip().lower() != b"application/json":
        raise ApiError("unsupported_media_type")
    declared = header(headers, b"content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError("payload_too_large")
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body += message.get("body", b"")
        if len(body) > limit:
            raise ApiError("payload_too_large")
        if not message.get("more_body", False):
            break
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:  # also digits beyond int's limit (4,300)
        raise ApiError("invalid_request", detail="body is not valid JSON") from exc
    except RecursionError as exc:  # nested deeper than the parser's stack
        raise ApiError("invalid_request", detail="JSON nested too deep") from exc
    if isinstance(data, dict | list) and too_deep(data):
        raise ApiError("invalid_request", detail="JSON nested too deep")
    return data


MAX_JSON_DEPTH = 20  # no request needs more; deeper values would overflow code that walks them


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether containers nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


async def server_time(request: Request) -> JSONResponse:
    state = AppState.of(request)
    return JSONResponse({"server_time": time.time(), "qr_period": state.settings.qr_period})


async def enrol_device(request: Request) -> Response:
    state = AppState.of(request)
    data = await read_json(request, state.settings.max_body_bytes)
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    nip, code, jwk = data.get("nip"), data.get("code"), data.get("public_key")
    if not isinstance(nip, str) or not isinstance(code, str) or not nip or not code:
        raise ApiError("invalid_request", detail="nip and code must be non-empty strings")
    if len(nip) > 32 or len(code) > 32:
        raise ApiError("invalid_request", detail="nip or code too long")
    try:
        devices.load_public_key(jwk)
        assert isinstance(jwk, dict)  # load_public_key accepts only a JWK object
    except ValueError as exc:
        raise ApiError("invalid_request", detail=str(exc)) from exc
    ip = client_ip(request, state.settings)
    # Both limits count every attempt, so guessing codes is slow for one NIP and from one place.
    if not state.enrol_ip_limiter.hit(ip) or not state.enrol_nip_limiter.hit(nip):
        raise ApiError("rate_limited")
    device = await devices.enrol(
        state.db,
        state.settings.secret_key,
        nip=nip.strip(),
        code=code,
        jwk=jwk,
        user_agent=request.headers.get("user-agent", ""),
        ip=ip,
    )
    return JSONResponse(
        {"device_id": device.device_id, "employee": {"nip": device.nip, "name": device.name}},
        status_code=201,
    )


RETRY = ((b"retry-after", str(DATABASE_RETRY_AFTER).encode()),)


class CheckinEndpoint:
    """``POST /api/v1/checkins``: a plain ASGI app, served ahead of the middleware stack
    (backend/fastpath.py), so it sets the security headers and records its metrics itself."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        state: AppState = scope["app"].state.presensi
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        try:
            status, body = await self.check_in(state, scope, headers, receive)
            result = metrics.RESULTS[status]
        except ClientDisconnect:
            return  # nothing was written: the body never arrived
        except ApiError as exc:
            status, body, result = exc.status, exc.body(), exc.code
        except Exception as exc:
            # Never plain text: the phone keeps the scan queued on 503 and on any 5xx.
            error = ApiError(
                "database_unavailable" if database_unavailable(exc) else "internal_error"
            )
            metrics.record("server_error", time.perf_counter() - start)
            await self.send(state, send, error.status, error.body(request_id.get()))
            raise  # logged with the request id by backend/fastpath.py
        await self.send(state, send, status, body)
        metrics.record(result, time.perf_counter() - start)

    @staticmethod
    async def send(
        state: AppState,
        send: Send,
        status: int,
        body: dict[str, Any],
    ) -> None:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_id.get().encode()),
                    *RAW_HEADERS[state.settings.https],
                    *(RETRY if status == 503 else ()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def check_in(
        state: AppState, scope: Scope, headers: list[tuple[bytes, bytes]], receive: Receive
    ) -> tuple[int, dict[str, Any]]:
        settings = state.settings
        req = parse_request(await receive_json(headers, receive, settings.max_body_bytes))
        peer = scope["client"][0] if scope.get("client") else ""
        if peer in settings.trusted_proxies:
            forwarded = header(headers, b"x-forwarded-for") or b""
            peer = forwarded_client(peer, forwarded.decode("latin-1"), settings)
        outcome = await check_in(
            state.hot,
            settings,
            req,
            ip=peer,
            user_agent=(header(headers, b"user-agent") or b"").decode("latin-1"),
        )
        if outcome.created and outcome.body["status"] == "accepted":
            state.events.publish(
                "checkin",
                {
                    "display_id": outcome.display_id,
                    "name": outcome.first_name,
                    "at": outcome.body["at"],
                    "kind": outcome.body["kind"],
                },
            )
        return outcome.status_code, outcome.body


submit_checkin = CheckinEndpoint()


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(AppState.of(request).settings))


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"Retry-After": "60"} if exc.code == "rate_limited" else None
    if exc.status == 503:
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
    if wants_page(request) and "text/html" in request.headers.get("accept", ""):
        return error_page(request, exc.status, exc.code, headers, exc.detail)  # a browser
    return error_response(exc, headers)
