"""Signing in and out, and the admin's own account (password, language)."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from backend import accounts, audit, identifiers
from backend.admin.pages import form_data, redirect, render
from backend.admin.security import (
    clear_session_cookie,
    cookie_name,
    login_throttles,
    request_ip,
    require_role,
    set_session_cookie,
    start_session,
)
from backend.employees import ValidationError
from backend.i18n import LANGUAGES
from backend.ratelimit import client_key
from backend.settings import Settings
from backend.state import AppState
from backend.templating import current_language


def login_cookie(settings: Settings) -> str:
    # Before sign-in there is no session to hold a CSRF token: the login form double-submits a
    # random value that is also in this cookie, so another site cannot post a login.
    return "__Host-presensi_login" if settings.https else "presensi_login"


def safe_next(target: str | None) -> str:
    """Only paths inside the admin console: never an open redirect."""
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return "/admin/"


def _login_page(
    request: Request, settings: Settings, error: str | None = None, status: int = 200
) -> Response:
    token = request.cookies.get(login_cookie(settings)) or secrets.token_urlsafe(24)
    response = render(
        request,
        "admin/login.html",
        {
            "login_token": token,
            "error": error,
            "next": safe_next(request.query_params.get("next")),
            "username": request.scope.get("state", {}).get("login_username", ""),
        },
        status_code=status,
    )
    response.set_cookie(
        login_cookie(settings),
        token,
        max_age=3600,
        path="/",
        secure=settings.https,
        httponly=True,
        samesite="strict",
    )
    return response


async def login(request: Request) -> Response:
    state = AppState.of(request)
    settings = state.settings
    if request.method == "GET":
        return _login_page(request, settings)
    form = await form_data(request)
    cookie = request.cookies.get(login_cookie(settings), "")
    sent = form.get("login_token", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return _login_page(request, settings, "csrf_failed", 403)
    username = form.get("username", "")[:64]
    request.scope.setdefault("state", {})["login_username"] = username
    ip = request_ip(request)
    per_account, per_ip = login_throttles(state)
    account_key = identifiers.username_key(username)
    network = client_key(ip)
    # The account's attempt is counted before the password is checked (hit() counts and refuses
    # in one step), so concurrent guesses cannot all pass a check made before any is counted;
    # a success forgives it below.
    if await per_ip.blocked(network) or not await per_account.hit(account_key):
        await audit.record(
            state.db, actor="anonymous", action="admin.login_throttled", target=username, ip=ip
        )
        return _login_page(request, settings, "rate_limited", 429)
    row = await accounts.authenticate(state.db, username, form.get("password", ""))
    if row is None:
        await per_ip.add(network)
        await audit.record(
            state.db, actor="anonymous", action="admin.login_failed", target=username, ip=ip
        )
        return _login_page(request, settings, "bad_login", 401)
    await per_account.clear(account_key)
    raw = await start_session(
        state.db,
        row["id"],
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
        replaces=request.cookies.get(cookie_name(settings)),
    )
    await audit.record(state.db, actor=f"admin:{row['id']}", action="admin.login", ip=ip)
    response = redirect(safe_next(form.get("next")))
    set_session_cookie(response, settings, raw)
    response.delete_cookie(login_cookie(settings), path="/", secure=settings.https)
    response.set_cookie("lang", row["language"], max_age=365 * 86400, samesite="lax")
    return response


async def logout(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request)
    raw = request.cookies.get(cookie_name(state.settings), "")
    from backend.admin.security import end_session

    await end_session(state.db, raw)
    await audit.record(state.db, actor=me.actor, action="admin.logout", ip=request_ip(request))
    response = redirect("/admin/login")
    clear_session_cookie(response, state.settings)
    return response


async def account(request: Request) -> Response:
    await require_role(request)
    return render(request, "admin/account.html", {"languages": LANGUAGES})


async def change_password(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request)
    form = await form_data(request)
    row = await accounts.authenticate(state.db, me.name, form.get("current", ""))
    error: str | None = None
    if row is None:
        error = "bad_password"
    elif form.get("new", "") != form.get("repeat", ""):
        error = "mismatch"
    else:
        try:
            await accounts.set_password(
                state.db, me.id, form["new"], actor=me.actor, ip=request_ip(request)
            )
        except ValidationError as exc:
            error = exc.render(current_language.get())
    if error:
        context = {"languages": LANGUAGES, "password_error": error}
        return render(request, "admin/account.html", context, status_code=400)
    # Every session ended with the password; this browser gets a fresh one.
    ip = request_ip(request)
    raw = await start_session(
        state.db, me.id, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    response = redirect("/admin/account", "password")
    set_session_cookie(response, state.settings, raw)
    return response


async def change_language(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request)
    language = (await form_data(request)).get("language", "")
    try:
        await accounts.set_language(state.db, me.id, language)
    except ValidationError:
        return redirect("/admin/account")
    response = redirect("/admin/account", "language")
    response.set_cookie("lang", language, max_age=365 * 86400, samesite="lax")
    return response
