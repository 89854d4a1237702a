"""Shifts and rosters: which schedule binds a day, and the check-in path using the roster."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import holidays, rosters, tokens
from backend.checkin.flow import check_in, parse_request
from backend.db import agencies, employees, roster_entries, units, utcnow
from backend.errors import ApiError
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, run
from tests.test_api import enrolled

WIB = rosters.ZoneInfo("Asia/Jakarta")
TUE = date(2026, 12, 1)
WED = date(2026, 12, 2)


def local(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), WIB)


@pytest.fixture
def place(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:
    db = app_db(client)
    row = run(
        client,
        db.fetch_one,
        sa.select(employees.c.id, employees.c.nip, units.c.agency_id, employees.c.unit_id)
        .select_from(employees.join(units))
        .order_by(employees.c.id),
    )
    night = run(
        client, rosters.create_shift, db, agency_id=row["agency_id"], unit_id=row["unit_id"],
        code="M", name="Malam", start=time(21), end=time(7), actor="test",
    )  # fmt: skip
    return {**dict(row._mapping), "night": night}


def working_day(client: TestClient, place: dict[str, Any], at: datetime) -> tuple[date, Any]:
    return run(
        client, rosters.working_day, app_db(client), employee_id=place["id"],
        agency_id=place["agency_id"], unit_id=place["unit_id"], local=at,
    )  # fmt: skip


def test_span_crosses_midnight() -> None:
    night = rosters.span(TUE, time(21), time(7), WIB)
    assert night.end == local(WED, 7, 0) and night.middle == local(WED, 2, 0)
    assert night.in_opens == local(TUE, 18, 0)
    assert rosters.out_closes(night) == local(WED, 18, 0)


def test_roster_shift_replaces_the_weekday_schedule(
    client: TestClient, place: dict[str, Any]
) -> None:
    db = app_db(client)
    day, schedule = working_day(client, place, local(TUE, 9, 0))
    assert day == TUE and schedule.start == local(TUE, 7, 30)  # weekday hours
    run(
        client,
        rosters.set_roster,
        db,
        employee_id=place["id"],
        days=[TUE],
        shift_id=place["night"],
        actor="t",
    )
    run(
        client,
        rosters.set_roster,
        db,
        employee_id=place["id"],
        days=[WED],
        shift_id=None,
        actor="t",
    )
    day, schedule = working_day(client, place, local(TUE, 20, 55))
    assert day == TUE and schedule.start == local(TUE, 21, 0)
    day, schedule = working_day(client, place, local(WED, 6, 59))
    assert day == TUE and schedule.end == local(WED, 7, 0)  # the night shift's check-out
    day, schedule = working_day(client, place, local(WED, 19, 0))
    assert (day, schedule) == (WED, None)  # rostered off, after the out window
    run(client, rosters.clear_roster, db, employee_id=place["id"], days=[TUE, WED], actor="t")
    assert working_day(client, place, local(WED, 6, 59))[0] == WED
    assert run(client, db.fetch_val, sa.select(sa.func.count()).select_from(roster_entries)) == 0


def test_holiday_is_off_for_weekday_staff_but_a_rostered_shift_is_worked(
    client: TestClient, place: dict[str, Any]
) -> None:
    db = app_db(client)
    christmas = date(2026, 12, 25)
    run(client, holidays.seed, db, agency_id=place["agency_id"], year=2026, actor="t")
    assert working_day(client, place, local(christmas, 8, 0)) == (christmas, None)
    run(
        client,
        rosters.set_roster,
        db,
        employee_id=place["id"],
        days=[christmas],
        shift_id=place["night"],
        actor="t",
    )
    day, schedule = working_day(client, place, local(christmas, 21, 5))
    assert day == christmas and schedule is not None


def test_set_roster_checks_the_employee_and_the_shift(
    client: TestClient, place: dict[str, Any]
) -> None:
    db = app_db(client)
    other = run(
        client,
        db.fetch_val,
        agencies.insert().values(code="X", name="X", created_at=utcnow()).returning(agencies.c.id),
    )
    foreign = run(
        client, rosters.create_shift, db, agency_id=other, unit_id=None, code="P", name="Pagi",
        start=time(7), end=time(14), actor="t",
    )  # fmt: skip
    for kwargs, detail in (
        ({"employee_id": 999999, "shift_id": None}, "employee"),
        ({"employee_id": place["id"], "shift_id": foreign}, "shift"),
    ):
        with pytest.raises(ApiError) as exc:
            run(client, rosters.set_roster, db, days=[TUE], actor="t", **kwargs)
        assert (exc.value.code, exc.value.detail) == ("not_found", detail)
    with pytest.raises(ApiError):
        run(
            client,
            rosters.create_shift,
            db,
            agency_id=other,
            unit_id=None,
            code="Z",
            name="Zero",
            start=time(7),
            end=time(7),
            actor="t",
        )
    with pytest.raises(ApiError):
        rosters.parse_hhmm("25:00", "start")
    assert rosters.parse_hhmm(" 21:00 ", "start") == time(21)


def scan_at(
    client: TestClient, settings: Settings, phone: Phone, display_id: int, at: datetime
) -> dict[str, Any]:
    now = at.astimezone(UTC)
    window = int(now.timestamp()) // settings.qr_period
    token = tokens.issue(settings.qr_keys, display_id, window)
    req = parse_request(phone.checkin_body(token, client_ts=int(now.timestamp() * 1000)))
    outcome = run(
        client,
        check_in,
        client.app.state.presensi.hot,
        settings,
        req,
        ip="127.0.0.1",
        user_agent="t",
        now=now,
    )
    return outcome.body


def test_check_in_uses_the_roster_shift(
    client: TestClient, settings: Settings, world: dict[str, Any], place: dict[str, Any]
) -> None:
    db = app_db(client)
    phone = enrolled(client, settings, place["nip"])
    display = world["display"]["id"]
    for days, shift in (([TUE], place["night"]), ([WED], None)):
        run(
            client,
            rosters.set_roster,
            db,
            employee_id=place["id"],
            days=days,
            shift_id=shift,
            actor="t",
        )
    late = scan_at(client, settings, phone, display, local(TUE, 21, 40))
    assert (late["kind"], late["late_minutes"], late["category"]) == ("in", 40, "TL2")
    out = scan_at(client, settings, phone, display, local(WED, 7, 3))
    assert (out["kind"], out["category"]) == ("out", None)
    stored = run(client, db.fetch_all, sa.text("SELECT local_date FROM checkins ORDER BY id"))
    assert [str(r[0])[:10] for r in stored] == ["2026-12-01", "2026-12-01"]
    # without a roster, the same morning scan is the weekday check-in of Wednesday
    other = enrolled(client, settings, world["employees"][1]["nip"])
    body = scan_at(client, settings, other, display, local(WED, 7, 3))
    assert (body["kind"], body["category"]) == ("in", None)
