"""Each agency's holiday calendar: seeded from the `holidays` package for Indonesia (national
holidays, and cuti bersama where the package has them), then edited by the agency.

Seeding never undoes an edit: a day the agency switched off stays off, a renamed day keeps its
name. Nobody is absent on an active holiday (see ``backend.rosters`` for rostered shifts).
"""

from __future__ import annotations

from datetime import date

import holidays as holiday_package
import sqlalchemy as sa
from databases import Database

from backend import audit, versions
from backend.db import dialect_insert, holidays, insert_or_lock, utcnow
from backend.errors import ApiError

KINDS = ("national", "cuti_bersama", "local")


def from_package(year: int) -> list[tuple[date, str, str]]:
    """(day, Indonesian name, kind) for one year; cuti bersama is the package's "government"
    category."""
    found: dict[date, tuple[str, str]] = {}
    categories = holiday_package.Indonesia.supported_categories
    for category, kind in (("public", "national"), ("government", "cuti_bersama")):
        if category not in categories:
            continue
        calendar = holiday_package.Indonesia(years=year, categories=(category,), language="id")
        for day, name in calendar.items():
            found.setdefault(day, (name, kind))  # a national holiday wins over cuti bersama
    return sorted((day, name, kind) for day, (name, kind) in found.items())


async def seed(db: Database, *, agency_id: int, year: int, actor: str) -> int:
    """Add the package's days the agency does not have yet; returns how many were added."""
    now = utcnow()
    async with db.transaction():
        have = {
            r["day"]
            for r in await db.fetch_all(
                sa.select(holidays.c.day)
                .where(holidays.c.agency_id == agency_id)
                .where(holidays.c.day.between(date(year, 1, 1), date(year, 12, 31)))
            )
        }
        rows = [
            {
                "agency_id": agency_id,
                "day": day,
                "name": name[:200],
                "kind": kind,
                "source": "package",
                "updated_by": actor,
                "updated_at": now,
            }
            for day, name, kind in from_package(year)
            if day not in have
        ]
        if not rows:
            return 0
        # DO NOTHING: a day another admin added meanwhile (PostgreSQL) keeps that admin's edit.
        added = await db.fetch_all(
            dialect_insert(db, holidays)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["agency_id", "day"])
            .returning(holidays.c.id)
        )
        if added:
            await audit.record(
                db,
                actor=actor,
                action="holiday.seed",
                target=f"agency:{agency_id}",
                detail={"year": year, "added": len(added)},
            )
    return len(added)


async def put(
    db: Database, *, agency_id: int, day: date, name: str, kind: str = "local", actor: str
) -> None:
    """Add or rename a holiday (switching it back on if it was off)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ApiError("validation_failed", detail="name: 1–200 characters")
    if kind not in KINDS:
        raise ApiError("validation_failed", detail=f"kind: one of {', '.join(KINDS)}")
    now = utcnow()
    async with db.transaction():
        values = {
            "name": name,
            "kind": kind,
            "active": True,
            "updated_by": actor,
            "updated_at": now,
        }
        inserted, existing = await insert_or_lock(
            db, holidays, {"agency_id": agency_id, "day": day}, {"source": "manual", **values}
        )
        if not inserted:
            await db.execute(
                holidays.update().where(holidays.c.id == existing["id"]).values(**values)
            )
        await audit.record(
            db,
            actor=actor,
            action="holiday.put",
            target=f"agency:{agency_id}",
            detail={"day": day, "name": name, "kind": kind},
        )


async def set_active(
    db: Database,
    *,
    agency_id: int,
    day: date,
    active: bool,
    actor: str,
    expected: versions.Expected = None,
) -> None:
    """Switch a holiday off (a working day after all) or back on; with ``expected``, only
    from that version of the day (``versions.Conflict`` otherwise)."""
    async with db.transaction():
        if expected is not None:
            holiday_id = await db.fetch_val(
                sa.select(holidays.c.id)
                .where(holidays.c.agency_id == agency_id)
                .where(holidays.c.day == day)
            )
            if holiday_id is None:
                raise ApiError("not_found", detail="holiday")
            await versions.check(db, holidays, holiday_id, expected)
        changed = await db.fetch_val(
            holidays.update()
            .where(holidays.c.agency_id == agency_id)
            .where(holidays.c.day == day)
            .values(active=active, updated_by=actor, updated_at=utcnow())
            .returning(holidays.c.id)
        )
        if changed is None:
            raise ApiError("not_found", detail="holiday")
        await audit.record(
            db,
            actor=actor,
            action="holiday.activate" if active else "holiday.deactivate",
            target=f"agency:{agency_id}",
            detail={"day": day},
        )


async def listing(db: Database, *, agency_id: int, year: int) -> list[dict[str, object]]:
    rows = await db.fetch_all(
        holidays.select()
        .where(holidays.c.agency_id == agency_id)
        .where(holidays.c.day.between(date(year, 1, 1), date(year, 12, 31)))
        .order_by(holidays.c.day)
    )
    return [dict(r._mapping) for r in rows]
