"""Stable error codes and how they are answered.

Each code has one HTTP status and one English message; the Indonesian text comes from the
translation catalogue (``backend/locale``), so phones and other systems can rely on the code while
people read a sentence in their language.
"""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
from collections.abc import Callable

import asyncpg
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from backend.i18n import LazyText
from backend.i18n import gettext_lazy as _
from backend.logs import request_id
from backend.templating import current_language, env, scope_language

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
    # The owner's verification (backend/passkeys.py)
    "user_verification_failed": (
        403,
        _(
            "Your fingerprint, face or screen-lock PIN was not confirmed, so this scan was not "
            "recorded. Scan again on your own phone and confirm with your fingerprint, face or PIN."
        ),
    ),
    "user_verification_unavailable": (
        403,
        _(
            "Your agency requires your fingerprint, face or PIN to check in, and this phone has "
            "none registered. Set a screen lock on the phone, then ask your admin for a new "
            "enrolment code."
        ),
    ),
    "invalid_assertion": (
        400,
        _("The fingerprint confirmation could not be read. Scan again and confirm once more."),
    ),
    "assertion_mismatch": (
        401,
        _("The fingerprint confirmation was made for another scan. Scan the display again."),
    ),
    "unknown_credential": (
        401,
        _(
            "This fingerprint or passkey is not the one registered for this phone. Ask your "
            "admin for a new enrolment code."
        ),
    ),
    "bad_assertion": (
        401,
        _(
            "The fingerprint confirmation does not match this phone's passkey. Ask your admin "
            "for a new enrolment code."
        ),
    ),
    "invalid_passkey": (
        400,
        _("The phone's passkey could not be registered. Enrol again with a new code."),
    ),
    "passkey_not_allowed": (
        409,
        _(
            "A passkey can be registered only right after enrolment, once. Ask your admin for a "
            "new enrolment code."
        ),
    ),
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
    "webhook_url_refused": (
        422,
        _("This webhook address is not allowed: use https and a public address."),
    ),
    "absence_overlaps": (
        409,
        _("This employee already has an absence entry on some of these days."),
    ),
    "replayed_request": (
        401,
        _("This request was already sent once. Try again from the app."),
    ),
    "supervisor_is_self": (422, _("An employee cannot be their own supervisor.")),
    "supervisor_cycle": (
        422,
        _("This supervisor would make the reporting line go round in a circle."),
    ),
    "unknown_supervisor": (422, _("There is no employee with the supervisor's NIP.")),
    "supervisor_other_agency": (
        422,
        _("The supervisor must work in the same agency as the employee."),
    ),
    "delegation_to_self": (422, _("A supervisor cannot delegate to themself.")),
    "activity_times_inverted": (
        422,
        _("An entry of the day ends before it starts: check its start and end times."),
    ),
    "activity_overlap": (
        422,
        _("Two entries of the day overlap: one must end before the next starts."),
    ),
    "activity_not_working_day": (
        422,
        _(
            "This day is a holiday or not a working day for you, and you have no rostered shift on it."
        ),
    ),
    "activity_future_day": (
        422,
        _("A diary can be written only for today or an earlier day."),
    ),
    "activity_description_length": (
        422,
        _("Each description must be 10 to 1,000 characters long."),
    ),
    "activity_quantity_invalid": (
        422,
        _("The output quantity must be a number greater than 0."),
    ),
    "activity_unit_invalid": (
        422,
        _("Give the output's unit (e.g. surat, laporan), at most 50 characters."),
    ),
    "activity_unknown_target": (
        422,
        _("This SKP target is not among your work targets for the year."),
    ),
    "activity_empty": (
        422,
        _("Add at least one activity before submitting the day."),
    ),
    "activity_locked": (
        409,
        _("This day has already been validated and can no longer be changed."),
    ),
    "activity_awaiting_validation": (
        409,
        _(
            "This day is waiting for your supervisor's decision; you can change it only after it is returned."
        ),
    ),
    "activity_deadline_passed": (
        422,
        _(
            "The deadline for this day has passed: a diary can be submitted only a few working days after the day."
        ),
    ),
    "activity_not_supervised": (
        403,
        _("You do not validate this employee's diary, so you cannot decide this day."),
    ),
    "activity_not_submitted": (
        409,
        _("This day is not waiting for a decision (it was already decided or changed)."),
    ),
    "activity_note_required": (
        422,
        _(
            "Write a note for the employee when returning or rejecting a day, or accepting fewer minutes."
        ),
    ),
    "activity_minutes_invalid": (
        422,
        _("The accepted minutes must be more than 0 and at most the minutes claimed."),
    ),
    "apel_overlaps": (
        409,
        _("This office already holds an apel at an overlapping time."),
    ),
    # Requests from the phone (backend/requests.py)
    "no_supervisor": (
        422,
        _(
            "You have no supervisor and your unit has no operator to decide this. Tell your HR staff."
        ),
    ),
    "insufficient_leave_balance": (
        422,
        _("Your annual leave balance is not enough for these days."),
    ),
    "overlapping_request": (
        409,
        _(
            "You already have a pending request for some of these days. Cancel it or wait for the decision."
        ),
    ),
    "request_not_pending": (409, _("This request has already been decided or cancelled.")),
    "not_your_approval": (403, _("This request is not yours to decide.")),
    "unsupported_attachment": (
        415,
        _("The attachment must be a photo (JPEG, PNG or WebP)."),
    ),
    "unknown_attachment": (422, _("The attachment was not found. Take the photo again.")),
    "attachment_required": (422, _("Attach a photo of the doctor's letter.")),
    "reference_required": (422, _("Enter the number of the assignment letter.")),
    "range_too_long": (422, _("A request covers at most 60 days.")),
    "not_a_working_day": (422, _("These dates are not your working days.")),
    "correction_in_future": (422, _("The time of a correction cannot be in the future.")),
    "scan_exists": (409, _("That day already has this scan; there is nothing to correct.")),
    "delegation_not_active": (409, _("This delegation has already been cancelled.")),
    "internal_error": (
        500,
        _(
            "Something went wrong on the server. Try again; if it keeps happening, give the "
            "request number to your administrator."
        ),
    ),
    "database_unavailable": (
        503,
        _("The server cannot reach its database right now. Try again in a moment."),
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
RETRY_AFTER: dict[str, int] = {"rate_limited": 60, "storage_full": 60, "database_unavailable": 5}
DATABASE_RETRY_AFTER = RETRY_AFTER["database_unavailable"]


class ApiError(Exception):
    """A failure with a stable code; rendered as ``{"error": {...}}`` with its status."""

    def __init__(self, code: str, *, detail: str | None = None) -> None:
        if code not in ERRORS:
            raise KeyError(f"unknown error code {code!r}; add it to backend.errors.ERRORS")
        super().__init__(code)
        self.code = code
        self.status = ERRORS[code][0]
        self.detail = detail

    def body(self, request_id: str | None = None) -> dict[str, dict[str, str]]:
        message = ERRORS[self.code][1]
        error = {
            "code": self.code,
            "message": message.render("id"),
            "message_en": message.render("en"),
        }
        if self.detail:
            error["detail"] = self.detail
        if request_id:
            error["request_id"] = request_id
        return {"error": error}


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def retry_headers(code: str) -> dict[str, str] | None:
    """The ``Retry-After`` header an error code is answered with, if it has one."""
    seconds = RETRY_AFTER.get(code)
    return None if seconds is None else {"Retry-After": str(seconds)}


PAGE_TITLES: dict[int, LazyText] = {
    404: _("Page not found"),
    500: _("Something went wrong"),
    503: _("Service unavailable"),
}
OTHER_TITLE = _("The request could not be completed")


def wants_page(request: Request) -> bool:
    """Browsers get an HTML error page; the APIs and fetch() calls for JSON get JSON."""
    if request.url.path.startswith("/api/") or request.url.path.endswith(".json"):
        return False
    return "application/json" not in request.headers.get("accept", "")


def error_page(
    request: Request,
    status: int,
    code: str | None,
    headers: dict[str, str] | None = None,
    detail: str | None = None,
) -> Response:
    """The friendly error page, in the admin's or the browser's language."""
    admin = request.scope.get("state", {}).get("admin")
    lang = getattr(admin, "language", None) or scope_language(request.scope)
    path = request.url.path
    home = "/admin/" if path.startswith("/admin") else "/display" if "display" in path else "/s"
    token = current_language.set(lang)
    try:
        message = ERRORS[code][1] if code in ERRORS else OTHER_TITLE
        html = env.get_template("error.html").render(
            status=status,
            title=PAGE_TITLES.get(status, OTHER_TITLE).render(lang),
            message=message.render(lang) + (f" ({detail})" if detail else ""),
            request_id=request_id.get(),
            home=home,
        )
    finally:
        current_language.reset(token)
    return HTMLResponse(html, status, headers={"Cache-Control": "no-store", **(headers or {})})


def infrastructure_error(exc: BaseException) -> str | None:
    """The code for a failure of what the server stands on rather than of the request:
    ``storage_full`` (nothing was stored; it passes once space is freed) or
    ``database_unavailable`` (it passes once the database is back); None for anything else."""
    if _caused_by(exc, _full):
        return "storage_full"
    if _caused_by(exc, _unavailable):
        return "database_unavailable"
    return None


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc``, or what it was raised from or while handling, means the database's
    disk is full: SQLite's SQLITE_FULL, ENOSPC (or EDQUOT) from the OS, PostgreSQL's 53100.
    (A failed ROLLBACK after SQLITE_FULL carries the full-disk error as its context.)"""
    return _caused_by(exc, _full)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the database cannot be reached or used now:
    a refused or dropped connection, a server shutting down or restarting, a pool that is
    closing, or SQLite unable to open or lock its file. Answered 503, not 500."""
    return infrastructure_error(exc) == "database_unavailable"


def _caused_by(exc: BaseException, test: Callable[[BaseException], bool]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if test(current):
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


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, ApiError):  # e.g. the check-in path's DatabaseUnavailable
        return exc.code == "database_unavailable"
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True  # refused, reset, aborted, timed out, host name unknown
    if isinstance(exc, OSError):  # not a full disk or a missing file: only the network
        return exc.errno in _NETWORK_ERRNOS or "connect call failed" in str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(s in text for s in ("unable to open", "locked", "disk i/o", "busy"))
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy's DBAPIError
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "pool is closing"; other interface errors are bugs: 500
        return "clos" in str(exc).lower()
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError  # class 08: connection failures
        | asyncpg.InvalidCatalogNameError,  # 3D000: the database is gone (dropped, renamed)
    ) or _unavailable_state(exc)


def _unavailable_state(exc: BaseException) -> bool:
    """PostgreSQL's SQLSTATEs for a server that cannot serve: connection exceptions (08),
    operator intervention (57: shutting down, terminated, starting up), too many connections;
    and a database closed to connections (``ALLOW_CONNECTIONS false``)."""
    state = getattr(exc, "sqlstate", None)
    if not isinstance(state, str):
        return False
    closed = state == "55000" and "not currently accepting connections" in str(exc)
    return state[:2] in ("08", "57") or state == "53300" or closed


_NETWORK_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}
)


async def write_conflict_handler(request: Request, exc: Exception) -> Response:
    """A unique violation, deadlock or serialization failure that escaped: another request won
    the race. 409 ``write_conflict`` (a page for the admin console), never a 500."""
    logging.getLogger("presensi.db").warning(
        "write conflict on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    if wants_page(request):
        return error_page(request, 409, "write_conflict")
    return error_response(ApiError("write_conflict"))
