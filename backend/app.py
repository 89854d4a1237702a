"""The application: every route in one list, and the lifespan that owns the database."""

from __future__ import annotations

import contextlib
import html
import logging
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

import display_server.rotation
import display_server.routes
import scanner_pwa.routes
from backend import admin, api, events, health, me, metrics
from backend.admin.security import AuthError, auth_error_handler
from backend.checkin.endpoint import submit_checkin
from backend.checkin.fastpath import FastStarlette
from backend.db import CONFLICT_ERRORS, make_database
from backend.errors import (
    ApiError,
    error_response,
    retry_headers,
    storage_full,
    write_conflict_handler,
)
from backend.security_headers import SecurityHeadersMiddleware
from backend.settings import Settings, load_settings
from backend.state import AppState
from backend.templating import LanguageMiddleware

log = logging.getLogger("presensi")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        if code:
            return error_response(ApiError(code))
        return JSONResponse(
            {"error": {"code": "http_error", "message": exc.detail, "message_en": exc.detail}},
            status_code=exc.status_code,
        )
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


async def storage_error(request: Request, exc: Exception) -> Response:
    """A full disk is a 503 that passes once space is freed; any other error goes on up."""
    if not storage_full(exc):
        raise exc
    log.error("storage full: %s", exc)
    error = ApiError("storage_full")
    if request.url.path.startswith("/api/"):
        return error_response(error, retry_headers(error.code))
    message = error.body()["error"]["message"]
    return HTMLResponse(f"<p>{html.escape(message)}</p>", 503, headers=retry_headers(error.code))


api_routes = [
    Route("/time", api.server_time, methods=["GET"]),
    Route("/devices", api.enrol_device, methods=["POST"]),
    Route("/checkins", submit_checkin, methods=["POST"]),  # also in fast_routes below
    Route("/me/checkins", me.my_checkins, methods=["GET"]),
    Route("/openapi.json", api.openapi, methods=["GET"]),
]

# Answered before the middleware and routing (backend/checkin/fastpath.py): the rush's request.
# The same endpoints as in the routes above; each sets its own security headers and metrics.
fast_routes = {("POST", "/api/v1/checkins"): submit_checkin}


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    state = AppState(settings=settings, db=make_database(settings.database_url))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.db.connect()
        try:
            # The check-in writer, and the event bus across processes (PostgreSQL).
            async with state.hot.running(), events.bridged(state.events, settings.database_url):
                async with display_server.rotation.running(state):  # pushes the displays' tokens
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
            AuthError: auth_error_handler,  # require_role(): sign-in redirect, 403, CSRF
            sqlite3.OperationalError: storage_error,  # a full disk: 503 storage_full
            OSError: storage_error,
            asyncpg.DiskFullError: storage_error,
            # A race another request won and no code answered itself: 409, never 500.
            **dict.fromkeys(CONFLICT_ERRORS, write_conflict_handler),
        },
    )
    app.state.presensi = state
    return app
