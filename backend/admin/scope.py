"""What a principal may see, as SQL filters.

A super admin sees everything; an agency admin, and a leader of an agency, one agency; a unit
operator, and a leader of a unit, one unit. Each function returns a boolean SQL expression to put
in a ``where`` (``db.fetch_all(employees.select().where(scope.employees(me)))``);
``fetch_in_scope`` fetches one row and raises 404 when it is out of scope, so the answer does not
reveal whether something exists in another agency.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from sqlalchemy.sql.elements import ColumnElement
from starlette.exceptions import HTTPException

from backend import db as t
from backend.admin.security import Principal


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


async def fetch_in_scope(db: Database, table: sa.Table, row_id: Any, clause: Any) -> Any:
    """One row by id if ``clause`` allows it; 404 otherwise."""
    row = await db.fetch_one(table.select().where(table.c.id == row_id).where(clause))
    if row is None:
        raise HTTPException(404)
    return row
