"""What a principal may see, as SQL filters.

A super admin sees everything; an agency admin, and a leader of an agency, one agency; a unit
operator, and a leader of a unit, one unit. Each function returns a boolean SQL expression to put
in a ``where`` (``db.fetch_all(employees.select().where(scope.employees(me)))``);
``fetch_in_scope`` fetches one row and raises 404 when it is out of scope, so the answer does not
reveal whether something exists in another agency.

The same holds for every id a form or API body carries, not only the one in the URL: an office,
unit or shift named in a body must be one the principal may use (``offices_to_place_in``,
``units``, ``shifts``), checked with ``require_usable``; a foreign one is refused like one that
does not exist.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from sqlalchemy.sql.elements import ColumnElement
from starlette.exceptions import HTTPException

from backend import db as t
from backend.admin.security import Principal
from backend.employees import ValidationError
from backend.i18n import LazyText


def agencies(p: Principal) -> ColumnElement[bool]:
    return sa.true() if p.is_super else t.agencies.c.id == p.agency_id


def units(p: Principal) -> ColumnElement[bool]:
    if p.is_super:
        return sa.true()
    if p.unit_id is not None:
        return t.units.c.id == p.unit_id
    return t.units.c.agency_id == p.agency_id


def unit_ids(p: Principal) -> sa.Select[Any]:
    return sa.select(t.units.c.id).where(units(p))


def offices(p: Principal) -> ColumnElement[bool]:
    if p.is_super:
        return sa.true()
    if p.unit_id is not None:
        return t.offices.c.unit_id == p.unit_id
    return t.offices.c.agency_id == p.agency_id


def offices_to_place_in(p: Principal) -> ColumnElement[bool]:
    """Offices a principal may put staff in: a unit's operator their unit's offices and the
    agency's shared ones (no unit), never another unit's."""
    if p.is_super:
        return sa.true()
    clause = t.offices.c.agency_id == p.agency_id
    if p.unit_id is not None:
        clause = sa.and_(
            clause, sa.or_(t.offices.c.unit_id.is_(None), t.offices.c.unit_id == p.unit_id)
        )
    return clause


def shifts(p: Principal) -> ColumnElement[bool]:
    """Shifts a principal sees and rosters onto: the agency's shared ones and their unit's."""
    if p.is_super:
        return sa.true()
    clause = t.shifts.c.agency_id == p.agency_id
    if p.unit_id is not None:
        clause = sa.and_(
            clause, sa.or_(t.shifts.c.unit_id.is_(None), t.shifts.c.unit_id == p.unit_id)
        )
    return clause


def work_schedules(p: Principal) -> ColumnElement[bool]:
    """Weekday-hour rules that apply to what a principal sees: national, agency-wide, and (for
    a unit's operator or leader) their own unit's."""
    ws = t.work_schedules.c
    if p.is_super:
        return sa.true()
    clause = sa.or_(ws.agency_id.is_(None), ws.agency_id == p.agency_id)
    if p.unit_id is not None:
        clause = sa.and_(clause, sa.or_(ws.unit_id.is_(None), ws.unit_id == p.unit_id))
    return clause


def employees(p: Principal) -> ColumnElement[bool]:
    if p.is_super:
        return sa.true()
    if p.unit_id is not None:
        return t.employees.c.unit_id == p.unit_id
    return t.employees.c.unit_id.in_(unit_ids(p))


def displays(p: Principal) -> ColumnElement[bool]:
    if p.is_super:
        return sa.true()
    return t.displays.c.office_id.in_(sa.select(t.offices.c.id).where(offices(p)))


def admin_users(p: Principal) -> ColumnElement[bool]:
    """Admins a principal may see: a super admin all, others those of their agency."""
    if p.is_super:
        return sa.true()
    return sa.or_(
        t.admin_users.c.agency_id == p.agency_id,
        t.admin_users.c.unit_id.in_(
            sa.select(t.units.c.id).where(t.units.c.agency_id == p.agency_id)
        ),
    )


def api_tokens(p: Principal) -> ColumnElement[bool]:
    if p.is_super:
        return sa.true()
    return sa.or_(
        t.api_tokens.c.agency_id == p.agency_id,
        t.api_tokens.c.unit_id.in_(
            sa.select(t.units.c.id).where(t.units.c.agency_id == p.agency_id)
        ),
    )


async def require_usable(
    db: Database, table: sa.Table, row_id: int | None, clause: Any, label: str | LazyText
) -> Any:
    """The row a body's foreign key names, if ``clause`` allows it; otherwise the same
    ValidationError as for an id that does not exist ("choose a unit")."""
    row = None
    if row_id is not None:
        row = await db.fetch_one(table.select().where(table.c.id == row_id).where(clause))
    if row is None:
        raise ValidationError("choose {what}", what=label)
    return row


async def fetch_in_scope(db: Database, table: sa.Table, row_id: Any, clause: Any) -> Any:
    """One row by id if ``clause`` allows it; 404 otherwise."""
    row = await db.fetch_one(table.select().where(table.c.id == row_id).where(clause))
    if row is None:
        raise HTTPException(404)
    return row
