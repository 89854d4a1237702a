"""The hot path's batched reads: the calendar a batch loads decides the working day exactly
as backend/rosters.py does for one scan."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.db import employees, units
from backend.rosters import create_shift, set_roster, working_day
from backend.settings import Settings
from tests.conftest import app_db, run
from tests.test_checkin_records import WIB, hot_of


def test_batched_working_day_matches_rosters(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    """reads.working_day_on mirrors rosters.working_day; a night shift makes the difference."""
    db = app_db(client)
    nip = world["employees"][0]["nip"]
    person = run(
        client,
        db.fetch_one,
        sa.select(employees.c.id, employees.c.unit_id, units.c.agency_id)
        .select_from(employees.join(units))
        .where(employees.c.nip == nip),
    )
    night = run(
        client,
        create_shift,
        db,
        agency_id=person["agency_id"],
        unit_id=None,
        code="MLM",
        name="Malam",
        start=time(21, 0),
        end=time(7, 0),
        actor="test",
    )
    monday = date(2026, 11, 23)
    run(client, set_roster, db, employee_id=person["id"], days=[monday], shift_id=night, actor="t")
    hot = hot_of(client)
    moments = [
        datetime.combine(monday, time(h, m), WIB) + timedelta(days=d)
        for d in (0, 1, 5)
        for h, m in ((3, 0), (6, 30), (7, 45), (12, 0), (20, 0), (23, 30))
    ]
    for local in moments:
        args = {
            "employee_id": person["id"],
            "agency_id": person["agency_id"],
            "unit_id": person["unit_id"],
            "local": local,
        }
        expected = run(client, working_day, db, **args)
        assert run(client, hot.working_day, **args) == expected, local
