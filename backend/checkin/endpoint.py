"""``POST /api/v1/checkins``: the morning rush's one request, as a plain ASGI app.

It is served ahead of the middleware stack (backend/checkin/fastpath.py), so it reads its body,
sets the security headers and records its metrics itself. Every answer is JSON: a database
that cannot be reached answers ``503 database_unavailable`` with ``Retry-After`` (the phone
keeps the scan queued), anything unexpected ``500 internal_error``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from backend import metrics
from backend.checkin.fastpath import header
from backend.checkin.flow import check_in, parse_request
from backend.checkin.records import DatabaseUnavailable, unreachable
from backend.errors import ApiError, retry_headers
from backend.logs import request_id
from backend.security_headers import RAW_HEADERS
from backend.state import AppState, forwarded_client

log = logging.getLogger("presensi.checkin")


async def receive_json(headers: Sequence[tuple[bytes, bytes]], receive: Receive, limit: int) -> Any:
    """Refuse wrong content types and oversized bodies before parsing anything (raises
    ``ClientDisconnect`` as Starlette does)."""
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


class CheckinEndpoint:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        state: AppState = scope["app"].state.presensi
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        extra: list[tuple[bytes, bytes]] = []
        try:
            status, body = await self.check_in(state, scope, headers, receive)
            result = metrics.RESULTS[status]
        except ClientDisconnect:
            return  # nothing was written: the body never arrived
        except ApiError as exc:  # a 5xx names the request, as every server error does
            status, result = exc.status, exc.code
            body = exc.body(request_id.get() if status >= 500 else None)
        except Exception as exc:
            # Never plain text: the phone keeps the scan queued on 503 and on any 5xx.
            if unreachable(exc):
                log.warning("check-in: the database is unreachable (%s)", type(exc).__name__)
                error: ApiError = DatabaseUnavailable()
                result = "database_unavailable"
            else:
                log.exception("check-in failed")
                error, result = ApiError("internal_error"), "server_error"
            status, body = error.status, error.body(request_id.get())
        extra.append((b"x-request-id", request_id.get().encode()))
        retry = retry_headers(body["error"]["code"]) if status >= 400 else None
        if retry:
            extra.append((b"retry-after", retry["Retry-After"].encode()))
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *extra,
                    *RAW_HEADERS[state.settings.https],
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        metrics.record(result, time.perf_counter() - start)

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
        if outcome.created:  # fraud patterns, after the answer (backend/fraud.py)
            state.fraud.seen(outcome.body["checkin_id"])
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
