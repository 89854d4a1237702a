"""Security headers on every HTTP response.

The Content-Security-Policy allows no inline script at all: pages load ES modules from their own
origin. ``'wasm-unsafe-eval'`` lets the scanner compile its WASM QR decoder (it does not allow
``eval``), ``worker-src 'self'`` its service worker and decoder worker, and ``connect-src 'self'``
the display's websocket (same origin, ws: or wss:). A response that sets a header itself keeps its
own value, so one page can tighten or loosen its policy deliberately.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The scanner needs the camera (and may ask for location); nothing else is used.
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()",
}


HSTS = ("Strict-Transport-Security", "max-age=31536000")


def security_headers(hsts: bool) -> dict[str, str]:
    return {**HEADERS, HSTS[0]: HSTS[1]} if hsts else dict(HEADERS)


# Ready for a raw ASGI "http.response.start" (backend/checkin/fastpath.py's routes), by HSTS.
RAW_HEADERS: dict[bool, list[tuple[bytes, bytes]]] = {
    hsts: [(k.lower().encode(), v.encode()) for k, v in security_headers(hsts).items()]
    for hsts in (False, True)
}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = security_headers(hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
