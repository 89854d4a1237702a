"""Rendering admin pages: the base layout's context, navigation, paging, local times, forms.

``render(request, "admin/x.html", {...})`` adds what ``templates/admin/base.html`` needs: the
signed-in admin (``me``), the CSRF token for forms, the navigation for the admin's role, and a
one-line notice from ``?done=<key>`` after a redirect. Templates extend ``admin/base.html`` and
put ``{{ csrf_field() }}`` in every form that posts.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from databases import Database
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from backend import versions
from backend.admin.fields import lenient_int
from backend.admin.security import ORG_ADMINS, READERS, SUPER, Principal
from backend.db import as_utc
from backend.employees import ValidationError
from backend.errors import ERRORS, ApiError
from backend.i18n import LazyText
from backend.i18n import gettext_lazy as _
from backend.state import AppState
from backend.templating import current_language, env, templates

PER_PAGE = 50

# (path under /admin, label, roles that see it in the menu)
NAV: tuple[tuple[str, LazyText, tuple[str, ...]], ...] = (
    ("/admin/", _("Overview"), READERS),
    ("/admin/monitor", _("Live monitor"), READERS),
    ("/admin/presence", _("Presence log"), READERS),
    ("/admin/fraud", _("Fraud indications"), ORG_ADMINS),
    ("/admin/recaps/monthly", _("Recaps"), READERS),
    ("/admin/absences", _("Absences"), READERS),
    ("/admin/activities", _("Activity diary"), READERS),
    ("/admin/apel", _("Apel"), READERS),
    ("/admin/requests", _("Requests"), READERS),
    ("/admin/schedules", _("Schedules"), READERS),
    ("/admin/holidays", _("Holidays"), READERS),
    ("/admin/tpp", _("TPP"), READERS),
    ("/admin/employees", _("Employees"), READERS),
    ("/admin/delegations", _("Acting supervisors"), READERS),
    ("/admin/discipline", _("Discipline"), READERS),
    ("/admin/displays", _("Displays"), READERS),
    ("/admin/offices", _("Offices"), READERS),
    ("/admin/units", _("Units"), READERS),
    ("/admin/agencies", _("Agencies"), (*ORG_ADMINS, "leader")),
    ("/admin/users", _("Admins"), ORG_ADMINS),
    ("/admin/tokens", _("API tokens"), ORG_ADMINS),
    ("/admin/webhooks", _("Webhooks"), ORG_ADMINS),
    ("/admin/audit", _("Audit log"), ORG_ADMINS),
    ("/admin/ledger", _("Tamper-evident record"), (*ORG_ADMINS, "leader")),
)

# Notices shown once after a redirect (?done=<key>).
NOTICES: dict[str, LazyText] = {
    "saved": _("Saved."),
    "created": _("Created."),
    "cancelled": _("Cancelled."),
    "revoked": _("Revoked."),
    "imported": _("Import finished."),
    "password": _("Password changed. Other sessions were signed out."),
    "language": _("Language changed."),
}

ROLE_LABELS: dict[str, LazyText] = {
    "super_admin": _("Super admin"),
    "agency_admin": _("Agency admin"),
    "unit_operator": _("Unit operator"),
    "leader": _("Leader (read-only)"),
}

# Indonesia's three time zones by their everyday names.
ZONE_NAMES = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}


def zone_label(zone: str) -> str:
    return ZONE_NAMES.get(zone, zone)


def local_time(value: datetime | None, zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp in an office's time zone, with WIB/WITA/WIT: ``2026-11-23 08:01 WIB``."""
    if value is None:
        return "—"
    zone = zone or "Asia/Jakarta"
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone, tz = "Asia/Jakarta", ZoneInfo("Asia/Jakarta")
    return f"{as_utc(value).astimezone(tz).strftime(fmt)} {zone_label(zone)}"


def role_label(role: str) -> str:
    label = ROLE_LABELS.get(role)
    return label.render(current_language.get()) if label else role


def translate(text: LazyText | str) -> str:
    return text.render(current_language.get()) if isinstance(text, LazyText) else text


env.filters["local_time"] = local_time
env.filters["role_label"] = role_label
env.filters["t"] = translate
env.globals["zone_label"] = zone_label


@dataclass(frozen=True)
class Pager:
    page: int
    per_page: int
    total: int
    base_query: dict[str, str]

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def url(self, page: int) -> str:
        return "?" + urlencode({**self.base_query, "page": str(page)})


def page_number(request: Request) -> int:
    return max(1, lenient_int(request.query_params.get("page"), maximum=999_999) or 1)


async def paginate(
    db: Database, request: Request, query: sa.Select[Any], per_page: int = PER_PAGE
) -> tuple[list[Any], Pager]:
    """One page of ``query`` (already filtered and ordered) and the pager for the template."""
    total = await db.fetch_val(sa.select(sa.func.count()).select_from(query.subquery()))
    params = {k: v for k, v in request.query_params.items() if k not in ("page", "done")}
    pager = Pager(page_number(request), per_page, int(total or 0), params)
    rows = await db.fetch_all(query.limit(per_page).offset(pager.offset))
    return list(rows), pager


def nav_for(me: Principal | None) -> list[tuple[str, str]]:
    if me is None:
        return []
    return [(href, translate(label)) for href, label, roles in NAV if me.role in roles]


def csrf_field(me: Principal | None) -> Markup:
    token = me.csrf_token if me else ""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(token))


def version_field(version: str | None) -> Markup:
    """The version of the object a form edits (``backend.versions``); empty: not checked."""
    return Markup('<input type="hidden" name="version" value="{}">').format(version or "")


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    me: Principal | None = request.scope.get("state", {}).get("admin")
    notice = NOTICES.get(request.query_params.get("done", ""))
    ctx = {
        "me": me,
        "nav": nav_for(me),
        "path": request.url.path,
        "notice": translate(notice) if notice else None,
        "csrf_field": lambda: csrf_field(me),
        "csrf_token": me.csrf_token if me else "",
        "SUPER": SUPER,
        "default_zone": AppState.of(request).settings.default_timezone,
        **(context or {}),
    }
    ctx["version_field"] = lambda: version_field(ctx.get("version"))
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    # Admin pages hold personal data: no shared caches, no back-button copies after sign-out.
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str, done: str | None = None) -> RedirectResponse:
    if done:
        url += ("&" if "?" in url else "?") + f"done={done}"
    return RedirectResponse(url, status_code=303)


async def form_data(request: Request) -> dict[str, str]:
    """The posted form's text fields, stripped (file fields are left out)."""
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


@dataclass(frozen=True)
class Field:
    """A form field as an edit conflict shows it: its label, and for a choice the context key of
    the rows (with ``id`` and ``name``) that name its values."""

    name: str
    label: LazyText
    choices: str | None = None
    boolean: bool = False
    parse: Callable[[str], Any] | None = None  # the sent text as it is stored (shown)
    yes: LazyText | None = None  # a boolean's labels (default: active, inactive)
    no: LazyText | None = None

    def posted(self, data: Mapping[str, str]) -> Any:
        """The sent text as the stored type, so the form can be filled with it again."""
        text = data.get(self.name, "")
        if self.parse:
            return self.parse(text)
        if self.boolean:
            return text.lower() in ("1", "on", "true", "yes")
        if self.choices:
            return int(text) if text.isdigit() and len(text) < 10 else None
        return text

    def shown(self, value: Any, context: Mapping[str, Any]) -> str:
        if self.boolean:
            return translate((self.yes or _("Active")) if value else (self.no or _("Inactive")))
        if value is None or value == "":
            return "—"
        for choice in context.get(self.choices or "", ()):
            if choice["id"] == value:
                return str(choice["name"])
        return str(value)


def error_text(exc: ApiError) -> str:
    message = translate(ERRORS[exc.code][1])
    return f"{message} ({exc.detail})" if exc.detail else message


def conflict_context(
    exc: versions.Conflict,
    data: Mapping[str, str],
    fields: Sequence[Field],
    context: dict[str, Any],
    refill: bool = True,
) -> dict[str, Any]:
    """What a refused save shows: the other admin's values next to the sent ones, the form
    filled with the sent values (``refill``) and carrying the stored version (saving again
    applies them)."""
    yours = {f.name: f.posted(data) for f in fields}
    names = versions.changed(exc.current, yours, [f.name for f in fields])
    rows = [
        (
            translate(f.label),
            f.shown(exc.current.get(f.name), context),
            f.shown(yours[f.name], context),
        )
        for f in fields
        if f.name in names
    ]
    if not refill:  # a button (activate, revoke): the page shows what is stored now
        return {"conflict": rows, "version": exc.version}
    row: Any = context.get("row") or {}
    stored = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    return {"conflict": rows, "row": stored | yours, "version": exc.version}


async def form_page(
    request: Request,
    *,
    save: Callable[[dict[str, str]], Awaitable[object]],
    done_url: str,
    done: str,
    template: str,
    context: Callable[[], Awaitable[dict[str, Any]]],
    version: Callable[[], Awaitable[str]] | None = None,
    fields: Sequence[Field] = (),
    refill: bool = True,
) -> Response:
    """The console's form pattern: a POST that saves redirects (303) to ``done_url``; one that
    fails validation shows the page again with the message and status 400; a GET shows it.

    With ``version`` (the edited object's current version) the form carries it, and a save
    refused because someone else saved first (``versions.Conflict``) shows the page with 409:
    the changed ``fields`` with their values and the sent ones, the form filled with the sent
    values (unless not ``refill``)."""
    form_error, status = None, 200
    data: dict[str, str] = {}
    conflict: versions.Conflict | None = None
    if request.method == "POST":
        data = await form_data(request)
        try:
            await save(data)
            return redirect(done_url, done)
        except ValidationError as exc:
            form_error, status = exc.render(current_language.get()), 400
        except ApiError as exc:
            form_error, status = error_text(exc), 400
        except versions.Conflict as exc:
            form_error, status, conflict = translate(ERRORS["edit_conflict"][1]), 409, exc
    ctx = await context()
    if conflict is not None:
        ctx |= conflict_context(conflict, data, fields, ctx, refill)
    elif version is not None:
        ctx["version"] = await version()
    return render(request, template, {**ctx, "form_error": form_error}, status_code=status)


def optional_int(value: str | None) -> int | None:
    return lenient_int(value)
