"""Routes answered ahead of Starlette's middleware and routing: the morning rush's one request.

A check-in costs one ECDSA verification (~70 µs here) plus what the server spends around it.
Starlette's generic layers (error and exception middleware, security headers, language, mounts
and routes, ``Request`` and ``Response`` objects) cost more than the verification itself at
thousands of requests per second, so the few endpoints listed in ``backend/app.py``'s
``fast_routes`` are plain ASGI apps dispatched on the exact method and path before all that.
They remain in the route list as well (the same objects), and they set the security headers and
count their own metrics themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send


class FastRoutes:
    """Dispatch ``(method, path)`` to an ASGI app; anything else goes to the full stack."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], ASGIApp]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.routes.get((scope["method"], scope["path"]))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
