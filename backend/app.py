"""The application: every route in one list, and the lifespan that owns the database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import display_server.rotation
import display_server.routes
import scanner_pwa.routes
from backend import (
    admin,
    api,
    events,
    health,
    me,
    me_activities,
    metrics,
    requests,
    selfservice,
    webhooks,
)
from backend.admin.security import AuthError, auth_error_handler
from backend.checkin.endpoint import submit_checkin
from backend.checkin.fastpath import FastStarlette
from backend.db import CONFLICT_ERRORS, make_database, utcnow
from backend.errors import (
    ERRORS,
    ApiError,
    error_page,
    infrastructure_error,
    retry_headers,
    wants_page,
    write_conflict_handler,
)
from backend.logs import install_request_ids, request_id
from backend.security_headers import SecurityHeadersMiddleware, security_headers
from backend.settings import Settings, load_settings
from backend.state import AppState
from backend.templating import LanguageMiddleware

log = logging.getLogger("presensi")

# The error code each HTTP status raised as HTTPException is answered with.
STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = STATUS_CODES.get(exc.status_code)
    if wants_page(request):
        return error_page(request, exc.status_code, code, dict(exc.headers or {}))
    if code:
        return JSONResponse(ApiError(code).body(), exc.status_code, headers=exc.headers)
    return JSONResponse(
        {"error": {"code": "http_error", "message": exc.detail, "message_en": exc.detail}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """Anything unexpected: 500 ``internal_error``; 503 ``database_unavailable`` or
    ``storage_full`` with ``Retry-After`` when the database cannot be reached or its disk is
    full. Answered outside the middleware (by Starlette's ServerErrorMiddleware), so the
    security headers are set here; the traceback is logged with the request id by
    backend/checkin/fastpath.py."""
    code = infrastructure_error(exc) or "internal_error"
    status = ERRORS[code][0]
    hsts = AppState.of(request).settings.https
    headers = {**security_headers(hsts), "Cache-Control": "no-store", **(retry_headers(code) or {})}
    if wants_page(request):
        try:
            return error_page(request, status, code, headers)
        except Exception:  # the error page itself failed: say so in JSON rather than nothing
            log.exception("the error page could not be rendered")
    return JSONResponse(ApiError(code).body(request_id.get()), status, headers=headers)


api_routes = [
    Route("/time", api.server_time, methods=["GET"]),
    Route("/devices", api.enrol_device, methods=["POST"]),
    Route("/devices/passkey", api.register_passkey, methods=["POST"]),
    Route("/checkins", submit_checkin, methods=["POST"]),  # also in fast_routes below
    Route("/me", selfservice.profile, methods=["GET"]),
    Route("/me/checkins", me.my_checkins, methods=["GET"]),
    Route("/me/activities", me_activities.get_month, methods=["GET"]),
    Route("/me/activities/{date}", me_activities.put_day, methods=["PUT"]),
    Route("/me/attachments", selfservice.upload_attachment, methods=["POST"]),
    Route("/me/requests", selfservice.create_request, methods=["POST"]),
    Route("/me/requests", selfservice.list_requests, methods=["GET"]),
    Route("/me/requests/{request_id:id}/cancel", selfservice.cancel_request, methods=["POST"]),
    # Requests (integer ids) and diary days (activity-<n>) waiting for the signer's decision.
    Route("/me/approvals", selfservice.list_approvals, methods=["GET"]),
    Route("/me/approvals/{id}", selfservice.decide_approval, methods=["POST"]),
    Route("/me/inbox", selfservice.my_inbox, methods=["GET"]),
    Route("/openapi.json", api.openapi, methods=["GET"]),
]

# Answered before the middleware and routing (backend/checkin/fastpath.py): the rush's request.
# The same endpoints as in the routes above; each sets its own security headers and metrics.
fast_routes = {("POST", "/api/v1/checkins"): submit_checkin}


def clock(state: AppState) -> Any:
    """The current time's source; tests put a fake one in ``state.extras["clock"]``."""
    return state.extras.get("clock", utcnow)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    install_request_ids()
    state = AppState(settings=settings, db=make_database(settings.database_url))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.db.connect()
        try:
            # The check-in writer, and the event bus across processes (PostgreSQL).
            async with state.hot.running(), events.bridged(state.events, settings.database_url):
                async with (
                    display_server.rotation.running(state),  # pushes the displays' tokens
                    requests.escalating(state.db, settings.request_escalate_days),
                    state.fraud.running(),  # fraud patterns, off the hot path
                    webhooks.running(
                        state.db,
                        settings,
                        lambda: clock(state)(),
                        enabled=lambda: state.extras.get("webhook_worker", True),
                    ),
                ):
                    yield
        finally:
            await state.db.disconnect()

    routes = [
        Mount("/api/v1/admin", routes=admin.api_routes),
        Mount("/api/v1", routes=api_routes),
        Mount("/admin", routes=admin.routes),
        *display_server.routes.routes,  # /display, /display/pair, /display/ws
        *scanner_pwa.routes.routes,  # /s and the PWA's files
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
    ]
    app = FastStarlette(
        routes=routes,
        fast_routes=fast_routes,
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts=settings.https),
            Middleware(LanguageMiddleware),
        ],
        lifespan=lifespan,
        exception_handlers={
            ApiError: api.api_error_handler,
            HTTPException: http_error,
            # 500 internal_error / 503 database_unavailable or storage_full
            Exception: server_error,
            AuthError: auth_error_handler,  # require_role(): sign-in redirect, 403, CSRF
            # A race another request won and no code answered itself: 409, never 500.
            **dict.fromkeys(CONFLICT_ERRORS, write_conflict_handler),
        },
    )
    app.state.presensi = state
    return app
