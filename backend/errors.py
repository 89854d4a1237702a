"""Stable error codes and how they are answered.

Each code has one HTTP status and one English message; the Indonesian text comes from the
translation catalogue (``backend/locale``), so phones and other systems can rely on the code while
people read a sentence in their language.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.i18n import LazyText
from backend.i18n import gettext_lazy as _

ERRORS: dict[str, tuple[int, LazyText]] = {
    "invalid_request": (400, _("The request is not valid.")),
    "payload_too_large": (413, _("The request is too large.")),
    "unsupported_media_type": (415, _("The request must be sent as JSON.")),
    "malformed_token": (
        400,
        _("This is not a Presensi QR code. Scan the code on the office display."),
    ),
    "unknown_key": (
        400,
        _(
            "This QR code was signed with a key the server no longer uses. Scan the code on the display again."
        ),
    ),
    "bad_mac": (400, _("This QR code is not genuine. Scan the code on the office display.")),
    "expired_token": (400, _("This QR code has expired. Scan the code on the display again.")),
    "future_token": (
        400,
        _(
            "This QR code is not valid yet. Check that it comes from the office display and scan again."
        ),
    ),
    "unknown_display": (
        400,
        _("This display is not registered. Tell the office administration (TU)."),
    ),
    "display_revoked": (
        400,
        _("This display has been switched off by an admin. Scan another display or tell the TU."),
    ),
    "unknown_device": (
        401,
        _("This phone is not registered. Enrol it with a new code from your admin."),
    ),
    "device_revoked": (
        401,
        _("This phone is no longer registered for you. Ask your admin for a new enrolment code."),
    ),
    "bad_signature": (
        401,
        _(
            "This phone's key does not match its registration. Ask your admin for a new enrolment code."
        ),
    ),
    "employee_inactive": (403, _("Your account is not active. Contact your HR staff.")),
    "stale_signature": (
        401,
        _("This request was signed too long ago. Check the phone's date and time and try again."),
    ),
    "invalid_code": (
        400,
        _(
            "The NIP or enrolment code is wrong, used or expired. Check it, or ask your admin for a new code."
        ),
    ),
    "rate_limited": (429, _("Too many attempts. Wait a few minutes and try again.")),
    "not_found": (404, _("Not found.")),
    "method_not_allowed": (405, _("Method not allowed.")),
    "unauthorized": (401, _("Sign in first, or send a valid API token.")),
    "forbidden": (403, _("Your role or scope does not allow this.")),
    "csrf_failed": (
        403,
        _("This form has expired or did not come from this site. Reload the page and try again."),
    ),
    "validation_failed": (422, _("Some of the data is not valid.")),
    "not_pending_review": (409, _("Only a scan waiting for review can be approved or rejected.")),
    "already_reviewed": (409, _("This scan has already been reviewed.")),
    "already_corrected": (409, _("This scan has already been replaced by a correction.")),
    "absence_overlaps": (
        409,
        _("This employee already has an absence entry on some of these days."),
    ),
    "internal_error": (500, _("Something went wrong on the server. Try again in a moment.")),
    "database_unavailable": (
        503,
        _("The server cannot reach its database right now. Your scan is kept; try again soon."),
    ),
    "storage_full": (
        503,
        _("The server's storage is full, so nothing was saved. Try again in a few minutes."),
    ),
    # A race lost to another transaction that no code answered itself (backend.db.CONFLICT_ERRORS)
    "write_conflict": (
        409,
        _("Someone else changed this at the same moment. Reload the page and try again."),
    ),
    "edit_conflict": (
        409,
        _(
            "Another admin changed this while you were editing it. Check their changes and save again."
        ),
    ),
    "precondition_failed": (
        412,
        _("This object changed since you read it (If-Match). Read it again and repeat the change."),
    ),
}

# Seconds a client is asked to wait (``Retry-After``) for errors that pass by themselves.
RETRY_AFTER: dict[str, int] = {"rate_limited": 60, "storage_full": 60}


class ApiError(Exception):
    """A failure with a stable code; rendered as ``{"error": {...}}`` with its status."""

    def __init__(self, code: str, *, detail: str | None = None) -> None:
        if code not in ERRORS:
            raise KeyError(f"unknown error code {code!r}; add it to backend.errors.ERRORS")
        super().__init__(code)
        self.code = code
        self.status = ERRORS[code][0]
        self.detail = detail

    def body(self) -> dict[str, dict[str, str]]:
        message = ERRORS[self.code][1]
        error = {
            "code": self.code,
            "message": message.render("id"),
            "message_en": message.render("en"),
        }
        if self.detail:
            error["detail"] = self.detail
        return {"error": error}


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def retry_headers(code: str) -> dict[str, str] | None:
    """The ``Retry-After`` header an error code is answered with, if it has one."""
    seconds = RETRY_AFTER.get(code)
    return None if seconds is None else {"Retry-After": str(seconds)}


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc``, or what it was raised from or while handling, means the database's
    disk is full: SQLite's SQLITE_FULL, ENOSPC (or EDQUOT) from the OS, PostgreSQL's 53100.
    Nothing was stored then, and the server serves again once space is freed: 503, not 500.
    (A failed ROLLBACK after SQLITE_FULL carries the full-disk error as its context.)"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _full(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
            "database or disk is full" in str(exc)
        )
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return getattr(exc, "sqlstate", None) == "53100"  # asyncpg's DiskFullError


async def write_conflict_handler(request: Request, exc: Exception) -> Response:
    """A unique violation, deadlock or serialization failure that escaped: another request won
    the race. 409 ``write_conflict`` (a page for the admin console), never a 500."""
    logging.getLogger("presensi.db").warning(
        "write conflict on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    if request.url.path.startswith("/admin/") and "application/json" not in request.headers.get(
        "accept", ""
    ):
        from backend.admin.pages import render

        return render(request, "admin/error.html", {"error": "write_conflict"}, status_code=409)
    return error_response(ApiError("write_conflict"))
