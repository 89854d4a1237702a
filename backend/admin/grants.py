"""Which role and scope an admin may give to another admin or to an API token."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

from backend.accounts import AccountError, check_role
from backend.admin import fields
from backend.admin.security import ORG_ADMINS, Principal, Refused
from backend.db import agencies, units


async def checked_grant(db: Database, me: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """``{"role", "agency_id", "unit_id"}`` from a form or JSON body, or an error.

    A super admin may grant anything; an agency admin only roles inside their own agency.
    A unit's agency is filled in from the unit.
    """
    if me.role not in ORG_ADMINS:
        raise Refused()
    role = str(data.get("role") or "")
    agency_id = fields.int_or_none(data.get("agency_id"))
    unit_id = fields.int_or_none(data.get("unit_id"))
    if role == "super_admin":
        agency_id = unit_id = None
    elif role == "agency_admin":
        unit_id = None
    if role in ("unit_operator", "leader") and unit_id is not None:
        unit_agency = await db.fetch_val(sa.select(units.c.agency_id).where(units.c.id == unit_id))
        if unit_agency is None:
            raise AccountError("unknown unit")
        agency_id = unit_agency
    if role == "unit_operator" and unit_id is None:
        agency_id = None  # reported by check_role as a missing unit
    if agency_id is not None and (
        await db.fetch_val(sa.select(agencies.c.id).where(agencies.c.id == agency_id)) is None
    ):
        raise AccountError("unknown agency")
    check_role(role, agency_id, unit_id)
    if not me.is_super and (role == "super_admin" or agency_id != me.agency_id):
        raise Refused()
    return {"role": role, "agency_id": agency_id, "unit_id": unit_id}
