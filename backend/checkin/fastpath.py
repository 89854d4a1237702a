"""Routes answered ahead of Starlette's middleware and routing: the morning rush's one request.

A check-in costs one ECDSA verification (~70 µs here) plus what the server spends around it.
Starlette's generic layers (error and exception middleware, security headers, language, mounts
and routes, ``Request`` and ``Response`` objects) cost more than the verification itself at
thousands of requests per second, so the few endpoints listed in ``backend/app.py``'s
``fast_routes`` are plain ASGI apps dispatched on the exact method and path before all that.
They remain in the route list as well (the same objects), and they set the security headers and
count their own metrics themselves.

This outermost layer also gives every HTTP request its id (``backend.logs.request_id``, sent back
as ``X-Request-ID``; the fast endpoints add the header themselves) and logs, with that id, any
exception that escaped the stack after its 500 or 503 was answered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import infrastructure_error
from backend.logs import new_request_id, request_id

log = logging.getLogger("presensi")


class FastRoutes:
    """Dispatch ``(method, path)`` to an ASGI app; anything else goes to the full stack."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], ASGIApp]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        token = request_id.set(rid)
        try:
            endpoint = self.routes.get((scope["method"], scope["path"]))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
            raw_id = rid.encode()

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), (b"x-request-id", raw_id)]
                await send(message)

            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Already answered (500 or 503) by the app's server_error handler or the endpoint;
            # logged here, with the request id, instead of by the server without it.
            code = infrastructure_error(exc)  # storage_full, database_unavailable: no bug
            if code is not None:
                log.warning("%s on %s %s: %r", code, scope["method"], scope["path"], exc)
            else:
                log.exception("internal error on %s %s", scope["method"], scope["path"])
        finally:
            request_id.reset(token)


class FastStarlette(Starlette):
    """Starlette with ``FastRoutes`` as its outermost layer (``scope["app"]`` is still set)."""

    def __init__(
        self, *args: Any, fast_routes: Mapping[tuple[str, str], ASGIApp], **kwargs: Any
    ) -> None:
        self.fast_routes = fast_routes
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return FastRoutes(super().build_middleware_stack(), self.fast_routes)


def header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of a header in an ASGI scope (names arrive lower-cased)."""
    for key, value in headers:
        if key == name:
            return value
    return None
