"""Holidays: seeded from the `holidays` package, then edited by each agency."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import holidays
from backend.db import agencies, units
from backend.errors import ApiError
from tests.conftest import app_db, run


@pytest.fixture
def agency_id(client: TestClient, world: dict[str, Any]) -> int:
    return int(run(client, app_db(client).fetch_val, sa.select(units.c.agency_id).limit(1)))


def test_package_has_national_holidays_and_cuti_bersama() -> None:
    days = {day: (name, kind) for day, name, kind in holidays.from_package(2026)}
    assert days[date(2026, 8, 17)][1] == "national"
    assert days[date(2026, 12, 25)] == ("Hari Raya Natal", "national")
    assert days[date(2026, 12, 24)][1] == "cuti_bersama"


def test_seed_then_edit_and_seeding_again_keeps_the_edits(
    client: TestClient, agency_id: int
) -> None:
    db = app_db(client)
    added = run(client, holidays.seed, db, agency_id=agency_id, year=2026, actor="t")
    assert added == len(holidays.from_package(2026)) > 10
    run(
        client,
        holidays.set_active,
        db,
        agency_id=agency_id,
        day=date(2026, 12, 24),
        active=False,
        actor="t",
    )
    run(
        client,
        holidays.put,
        db,
        agency_id=agency_id,
        day=date(2026, 12, 25),
        name="Natal",
        actor="t",
        kind="national",
    )
    run(
        client,
        holidays.put,
        db,
        agency_id=agency_id,
        day=date(2026, 10, 7),
        name="Hari Jadi Kota",
        actor="t",
    )
    assert run(client, holidays.seed, db, agency_id=agency_id, year=2026, actor="t") == 0
    rows = {r["day"]: r for r in run(client, holidays.listing, db, agency_id=agency_id, year=2026)}
    assert rows[date(2026, 12, 24)]["active"] is False
    assert rows[date(2026, 12, 25)]["name"] == "Natal"
    assert (rows[date(2026, 10, 7)]["kind"], rows[date(2026, 10, 7)]["source"]) == (
        "local",
        "manual",
    )


def test_each_agency_has_its_own_calendar(client: TestClient, agency_id: int) -> None:
    db = app_db(client)
    from backend.db import utcnow

    other = run(
        client,
        db.fetch_val,
        agencies.insert().values(code="B", name="B", created_at=utcnow()).returning(agencies.c.id),
    )
    run(
        client,
        holidays.put,
        db,
        agency_id=other,
        day=date(2026, 10, 7),
        name="Hari Jadi",
        actor="t",
    )
    assert run(client, holidays.listing, db, agency_id=agency_id, year=2026) == []


def test_bad_edits_are_refused(client: TestClient, agency_id: int) -> None:
    db = app_db(client)
    for kwargs in ({"name": ""}, {"name": "x", "kind": "weekly"}):
        with pytest.raises(ApiError) as exc:
            run(
                client,
                holidays.put,
                db,
                agency_id=agency_id,
                day=date(2026, 1, 2),
                actor="t",
                **{"name": "x", **kwargs},
            )
        assert exc.value.code == "validation_failed"
    with pytest.raises(ApiError) as exc:
        run(
            client,
            holidays.set_active,
            db,
            agency_id=agency_id,
            day=date(2026, 1, 2),
            active=False,
            actor="t",
        )
    assert exc.value.code == "not_found"
