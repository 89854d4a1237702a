"""Who is asking: admin sessions, CSRF, roles, and API tokens.

How other admin views use this module (the presence review and recap pages do the same)::

    from backend.admin import scope
    from backend.admin.security import READERS, WRITERS, require_role
    from backend.admin.pages import render

    async def my_page(request: Request) -> Response:
        me = await require_role(request, READERS)        # signed in, role allowed, CSRF checked
        rows = await db.fetch_all(query.where(scope.employees(me)))  # only what `me` may see
        return render(request, "admin/my_page.html", {"rows": rows})

- ``require_role(request, roles)`` returns the signed-in ``Principal``. Without a valid session it
  raises ``SignInRequired`` (answered with a redirect to ``/admin/login``, or 401 JSON for
  ``fetch``); with a role not in ``roles`` it raises ``Refused`` (a 403 page). For POST, PUT,
  PATCH and DELETE it also checks the CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``) and raises ``CsrfFailed``. It sets the request's language to the admin's own.
- ``backend.admin.scope`` turns a ``Principal`` into SQL filters (``scope.units(me)``,
  ``scope.offices(me)``, ``scope.employees(me)``, ``scope.displays(me)``, …).
- ``require_token(request, roles)`` is the same for the JSON admin API, with an
  ``Authorization: Bearer`` API token; failures are ``ApiError("unauthorized"/"forbidden")``.

Sessions: a random 256-bit id in a ``__Host-`` cookie on https (``HttpOnly``, ``Secure``,
``SameSite=Lax``); the database keeps only its SHA-256. A session ends after 30 idle minutes,
12 hours after sign-in, at sign-out, and when the admin's password changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from backend.db import admin_sessions, admin_users, api_tokens, as_utc, units, utcnow
from backend.errors import ApiError, error_response
from backend.ratelimit import Counter
from backend.settings import Settings
from backend.state import AppState, client_ip
from backend.templating import current_language

ROLES = ("super_admin", "agency_admin", "unit_operator", "leader")
# Role groups used by the views: who may look, who may change things, who runs an organisation.
READERS = ROLES
WRITERS = ("super_admin", "agency_admin", "unit_operator")
ORG_ADMINS = ("super_admin", "agency_admin")
SUPER = ("super_admin",)

SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX_AGE = timedelta(hours=12)
# Writing last_seen_at on every click would make every page view a database write.
TOUCH_EVERY = timedelta(seconds=60)
LOGIN_WINDOW = 15 * 60
LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_IP = 50
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_TOKEN_PREFIX = "pst_"  # noqa: S105 -- a public marker, not a secret


@dataclass(frozen=True)
class Principal:
    """A signed-in admin or an API token, with its role and scope.

    ``agency_id`` is None only for a super admin; ``unit_id`` is set for a unit operator and for
    a leader of one unit.
    """

    kind: str  # "admin", "token" or "cli" (the operator's command line)
    id: int
    name: str
    role: str
    agency_id: int | None
    unit_id: int | None
    language: str = "id"
    csrf_token: str = ""

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return "cli" if self.kind == "cli" else f"{self.kind}:{self.id}"

    @property
    def can_write(self) -> bool:
        return self.role in WRITERS

    @property
    def is_super(self) -> bool:
        return self.role == "super_admin"


class AuthError(Exception):
    pass


class SignInRequired(AuthError):
    pass


class Refused(AuthError):
    pass


class CsrfFailed(AuthError):
    pass


# -- sign-in throttling ---------------------------------------------------------------------


def login_throttles(state: AppState) -> tuple[Counter, Counter]:
    """(per account, per IP network): failures only, shared by the processes on PostgreSQL."""
    return (
        state.limits.counter("login_account", LOGIN_FAILURES_PER_ACCOUNT, LOGIN_WINDOW),
        state.limits.counter("login_ip", LOGIN_FAILURES_PER_IP, LOGIN_WINDOW),
    )


# -- sessions -------------------------------------------------------------------------------


def cookie_name(settings: Settings) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless it is Secure, host-only and
    # for path /, so a sibling subdomain cannot plant or read it. It needs https.
    return "__Host-presensi_session" if settings.https else "presensi_session"


def _hash_id(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def set_session_cookie(response: Response, settings: Settings, raw_id: str) -> None:
    response.set_cookie(
        cookie_name(settings),
        raw_id,
        max_age=int(SESSION_MAX_AGE.total_seconds()),
        path="/",
        secure=settings.https,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings), path="/", secure=settings.https, httponly=True, samesite="lax"
    )


async def start_session(
    db: Database, admin_id: int, *, ip: str, user_agent: str, replaces: str | None = None
) -> str:
    """A new session id (rotated at every sign-in); the session it replaces ends."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    async with db.transaction():
        if replaces:
            await end_session(db, replaces)
        await db.execute(
            admin_sessions.insert().values(
                id_hash=_hash_id(raw),
                admin_id=admin_id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                ip=ip[:64],
                user_agent=user_agent[:400],
            )
        )
    return raw


async def end_session(db: Database, raw_id: str) -> None:
    await db.execute(
        admin_sessions.update()
        .where(admin_sessions.c.id_hash == _hash_id(raw_id))
        .where(admin_sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_sessions(db: Database, admin_id: int) -> None:
    """End every session of an admin (password changed, account deactivated)."""
    await db.execute(
        admin_sessions.update()
        .where(admin_sessions.c.admin_id == admin_id)
        .where(admin_sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def session_is_current(row: Any, now: datetime) -> bool:
    created = as_utc(row["created_at"])
    return (
        row["revoked_at"] is None
        and row["active"]
        and now - created < SESSION_MAX_AGE
        and now - as_utc(row["last_seen_at"]) < SESSION_IDLE
        # A password changed elsewhere (another session, the CLI) ends older sessions.
        and as_utc(row["password_changed_at"]) <= created
    )


async def load_session(db: Database, raw_id: str) -> Principal | None:
    now = utcnow()
    id_hash = _hash_id(raw_id)
    row = await db.fetch_one(
        sa.select(
            admin_sessions.c.csrf_token,
            admin_sessions.c.created_at,
            admin_sessions.c.last_seen_at,
            admin_sessions.c.revoked_at,
            admin_users.c.id,
            admin_users.c.username,
            admin_users.c.role,
            admin_users.c.agency_id,
            admin_users.c.unit_id,
            admin_users.c.language,
            admin_users.c.active,
            admin_users.c.password_changed_at,
            units.c.agency_id.label("unit_agency_id"),
        )
        .select_from(
            admin_sessions.join(admin_users).outerjoin(units, units.c.id == admin_users.c.unit_id)
        )
        .where(admin_sessions.c.id_hash == id_hash)
    )
    if row is None or not session_is_current(row, now):
        return None
    if now - as_utc(row["last_seen_at"]) >= TOUCH_EVERY:
        await db.execute(
            admin_sessions.update()
            .where(admin_sessions.c.id_hash == id_hash)
            .values(last_seen_at=now)
        )
    return Principal(
        kind="admin",
        id=row["id"],
        name=row["username"],
        role=row["role"],
        agency_id=row["agency_id"] or row["unit_agency_id"],
        unit_id=row["unit_id"],
        language=row["language"],
        csrf_token=row["csrf_token"],
    )


async def current_admin(request: Request) -> Principal | None:
    """The admin signed in on this request, or None (looked up once per request)."""
    if "admin" in request.scope.setdefault("state", {}):
        cached: Principal | None = request.scope["state"]["admin"]
        return cached
    state = AppState.of(request)
    raw = request.cookies.get(cookie_name(state.settings))
    principal = await load_session(state.db, raw) if raw and len(raw) <= 100 else None
    request.scope["state"]["admin"] = principal
    return principal


async def check_csrf(request: Request, principal: Principal) -> None:
    sent = request.headers.get("x-csrf-token")
    form = None
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
        if form is not None:
            await form.close()  # uploads of a refused post are dropped at once
        raise CsrfFailed()


async def require_role(request: Request, roles: tuple[str, ...] = READERS) -> Principal:
    """The signed-in admin if their role is in ``roles``; CSRF is checked on unsafe methods."""
    principal = await current_admin(request)
    if principal is None:
        raise SignInRequired()
    current_language.set(principal.language)
    if request.method in UNSAFE_METHODS:
        await check_csrf(request, principal)
    if principal.role not in roles:
        raise Refused()
    return principal


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.endswith(
        ".json"
    )


async def auth_error_handler(request: Request, exc: Exception) -> Response:
    """Registered on the app: turns the AuthError family into pages or JSON errors."""
    from backend.admin.pages import render

    if request.url.path.startswith("/api/") or wants_json(request):
        if isinstance(exc, SignInRequired):
            return error_response(ApiError("unauthorized"))
        return error_response(
            ApiError("csrf_failed" if isinstance(exc, CsrfFailed) else "forbidden")
        )
    if isinstance(exc, SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/admin/"
        return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, CsrfFailed):
        return render(request, "admin/error.html", {"error": "csrf_failed"}, status_code=403)
    return render(request, "admin/error.html", {"error": "forbidden"}, status_code=403)


# -- API tokens -----------------------------------------------------------------------------


def hash_api_token(secret_key: bytes, raw: str) -> str:
    return hmac.new(secret_key, f"presensi/api-token/v1|{raw}".encode(), "sha256").hexdigest()


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


async def load_api_token(db: Database, secret_key: bytes, raw: str) -> Principal | None:
    row = await db.fetch_one(
        sa.select(
            api_tokens.c.id,
            api_tokens.c.name,
            api_tokens.c.role,
            api_tokens.c.agency_id,
            api_tokens.c.unit_id,
            api_tokens.c.revoked_at,
            api_tokens.c.last_used_at,
            units.c.agency_id.label("unit_agency_id"),
        )
        .select_from(api_tokens.outerjoin(units, units.c.id == api_tokens.c.unit_id))
        .where(api_tokens.c.token_hash == hash_api_token(secret_key, raw))
    )
    if row is None or row["revoked_at"] is not None:
        return None
    now = utcnow()
    if row["last_used_at"] is None or now - as_utc(row["last_used_at"]) >= TOUCH_EVERY:
        await db.execute(
            api_tokens.update().where(api_tokens.c.id == row["id"]).values(last_used_at=now)
        )
    return Principal(
        kind="token",
        id=row["id"],
        name=row["name"],
        role=row["role"],
        agency_id=row["agency_id"] or row["unit_agency_id"],
        unit_id=row["unit_id"],
        language="id",
    )


async def require_token(request: Request, roles: tuple[str, ...] = READERS) -> Principal:
    """The API token's principal (or the signed-in admin's, without an Authorization header)
    if its role is in ``roles``; ApiError otherwise."""
    state = AppState.of(request)
    if "authorization" not in request.headers:
        # A console session works too (the console's own fetches), with its CSRF check.
        session = await current_admin(request)
        if session is not None:
            if request.method in UNSAFE_METHODS:
                sent = request.headers.get("x-csrf-token", "")
                if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                    raise ApiError("csrf_failed")
            if session.role not in roles:
                raise ApiError("forbidden")
            return session
    scheme, _sep, raw = request.headers.get("authorization", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw.startswith(API_TOKEN_PREFIX) or len(raw) > 100:
        raise ApiError("unauthorized")
    principal = await load_api_token(state.db, state.settings.secret_key, raw)
    if principal is None:
        raise ApiError("unauthorized")
    if principal.role not in roles:
        raise ApiError("forbidden")
    return principal


def request_ip(request: Request) -> str:
    return client_ip(request, AppState.of(request).settings)
