"""The display page and its pairing form."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from backend.i18n import DEFAULT_LANGUAGE, LANGUAGES
from backend.i18n import gettext_lazy as _
from backend.ratelimit import Counter, client_key
from backend.state import AppState, client_ip
from backend.templating import current_language, templates
from display_server.pairing import (
    CREDENTIAL_COOKIE,
    CREDENTIAL_MAX_AGE,
    PairingRefused,
    authenticate,
    pair,
)

# Pairing is rare (once per monitor), so a few attempts per address are plenty; every attempt
# counts, so guessing 8-character codes is hopeless.
PAIR_LIMIT_PER_IP = 10
PAIR_LIMIT_WINDOW = 900

PAIR_ERRORS = {
    "invalid_code": (
        400,
        _("The pairing code is wrong, used or expired. Ask the admin for a new code."),
    ),
    "network_not_allowed": (
        403,
        _(
            "This network may not show this office's display. "
            "Ask the admin to check the allowed networks."
        ),
    ),
    "rate_limited": (429, _("Too many attempts. Wait a few minutes and try again.")),
    "bad_origin": (403, _("The form was sent from another site. Open /display and try again.")),
}

# (No Referrer-Policy of our own: with "no-referrer" Chromium sends "Origin: null" on the form.)
NO_STORE = {"Cache-Control": "no-store"}


def _limiter(state: AppState) -> Counter:
    return state.limits.counter("pair_ip", PAIR_LIMIT_PER_IP, PAIR_LIMIT_WINDOW)


def _set_credential(response: Response, state: AppState, credential: str) -> None:
    response.set_cookie(
        CREDENTIAL_COOKIE,
        credential,
        max_age=CREDENTIAL_MAX_AGE,
        path="/display",
        httponly=True,
        samesite="strict",
        secure=state.settings.https,
    )


@contextlib.contextmanager
def display_language(request: Request) -> Iterator[str]:
    """The office screen speaks Bahasa Indonesia whatever the TU computer's browser prefers;
    only an explicit choice (``?lang=en`` or the ``lang`` cookie) changes it."""
    chosen = request.query_params.get("lang") or request.cookies.get("lang")
    lang = chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
    token = current_language.set(lang)
    try:
        yield lang
    finally:
        current_language.reset(token)


def pair_form(request: Request, error: str | None = None) -> Response:
    status, message = PAIR_ERRORS[error] if error else (200, None)
    with display_language(request) as lang:
        return templates.TemplateResponse(
            request,
            "display_pair.html",
            {"error_code": error, "error": message.render(lang) if message else None},
            status_code=status,
            headers=NO_STORE,
        )


async def display_page(request: Request) -> Response:
    """The QR screen for a paired browser, the pairing form for any other."""
    state = AppState.of(request)
    credential = request.cookies.get(CREDENTIAL_COOKIE)
    display = await authenticate(state.db, state.settings.secret_key, credential)
    if display is None or credential is None:
        return pair_form(request)
    with display_language(request):
        response = templates.TemplateResponse(
            request,
            "display.html",
            {"display": display, "period": state.settings.qr_period},
            headers=NO_STORE,
        )
    _set_credential(response, state, credential)  # renewed on each visit: it never runs out
    return response


async def pair_display(request: Request) -> Response:
    state = AppState.of(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != state.settings.public_origin:
        return pair_form(request, "bad_origin")
    ip = client_ip(request, state.settings)
    if not await _limiter(state).hit(client_key(ip)):
        return pair_form(request, "rate_limited")
    async with request.form(max_files=0, max_fields=5) as form:
        code = form.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        return pair_form(request, "invalid_code")
    try:
        _display, credential = await pair(state.db, state.settings.secret_key, code, ip=ip)
    except PairingRefused as refused:
        return pair_form(request, refused.reason)
    response = RedirectResponse("/display", status_code=303, headers=NO_STORE)
    _set_credential(response, state, credential)
    return response
