"""The recap engine on the fixture month (tests/fixtures_month.py), and its day rules alone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from backend import recaps
from backend.recaps import Entry, evaluate_day
from backend.rosters import span
from tests import fixtures_month as fm
from tests.conftest import app_db, run

DAY = date(2026, 12, 1)
WEEKDAY = span(DAY, time(7, 30), time(16, 0), fm.WIB)
NIGHT = span(DAY, time(21, 0), time(7, 0), fm.WIB)


def scan(ref: str, day: date, hh: int, mm: int, kind: str | None = None) -> Entry:
    return Entry(ref, datetime.combine(day, time(hh, mm), fm.WIB), kind)


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    return run(client, fm.load, app_db(client))


@pytest.fixture
def recap(client: TestClient, month: dict[str, Any]) -> recaps.Recap:
    return run(
        client,
        recaps.compute,
        app_db(client),
        agency_id=month["agency_id"],
        unit_id=month["unit_id"],
        start=fm.START,
        end=fm.END,
        now=fm.NOW,
    )


def by_name(recap: recaps.Recap) -> dict[str, recaps.EmployeeRecap]:
    return {e.name: e for e in recap.employees}


def test_monthly_recap_matches_the_hand_computed_table(recap: recaps.Recap) -> None:
    people = by_name(recap)
    assert sorted(people) == sorted(fm.EXPECTED_MONTH)
    for name, expected in fm.EXPECTED_MONTH.items():
        counts = people[name].counts()
        assert tuple(counts[c] for c in fm.COLUMNS) == expected, name
        assert people[name].rate() == pytest.approx(fm.EXPECTED_RATE[name]), name
        assert (
            sum(
                counts[k]
                for k in (
                    "dd",
                    "cuti_sakit",
                    "cuti_alasan_penting",
                    "cuti_besar",
                    "izin",
                    "upcoming",
                )
            )
            == 0
        )


def test_daily_recap_per_unit(recap: recaps.Recap, month: dict[str, Any]) -> None:
    for day, (expected, rate) in fm.EXPECTED_DAILY.items():
        counts = recap.daily(day)[month["unit_id"]]
        assert {k: v for k, v in counts.items() if v} == expected, day
        assert recaps.daily_rate(counts) == pytest.approx(rate), day


def test_night_shift_out_the_next_morning_counts_for_the_day_it_started(
    recap: recaps.Recap,
) -> None:
    citra = by_name(recap)["Citra Dewi"]
    dec31 = citra.days[-1]  # M on the 31st ends on 1 January
    assert dec31.status == "present" and dec31.last_out is not None
    assert dec31.last_out.at == datetime(2027, 1, 1, 7, 5, tzinfo=fm.WIB)
    dec3 = citra.days[2]
    assert (dec3.late, dec3.late_minutes, dec3.early) == ("TL2", 45, None)


def test_earliest_in_and_latest_out_of_several_scans(recap: recaps.Recap) -> None:
    day = by_name(recap)["Ani Lestari"].days[10]  # 11 December
    assert day.first_in is not None and day.last_out is not None
    assert day.in_at and day.out_at
    assert (day.in_at.time(), day.out_at.time()) == (time(7, 20), time(17, 10))


def test_correction_and_reviews_decide_what_counts(recap: recaps.Recap) -> None:
    people = by_name(recap)
    ani = people["Ani Lestari"].days[9]  # 10 December: out added by an admin
    assert ani.last_out is not None and ani.last_out.ref.startswith("correction:")
    assert not ani.missing_out
    bayu = people["Bayu Saputra"].days[29]  # rejected offline check-in
    assert bayu.first_in is None and bayu.missing_in
    eka = people["Eka Putri"].days[14]  # approved offline check-in
    assert eka.in_at is not None and eka.in_at.time() == time(6, 50)


def test_employee_scope_gives_the_same_days(
    client: TestClient, month: dict[str, Any], recap: recaps.Recap
) -> None:
    one = run(
        client, recaps.compute, app_db(client), agency_id=month["agency_id"],
        employee_id=month["employees"]["Citra Dewi"], start=fm.START, end=fm.END, now=fm.NOW,
    )  # fmt: skip
    assert [e.name for e in one.employees] == ["Citra Dewi"]
    assert one.employees[0].days == by_name(recap)["Citra Dewi"].days


def test_day_still_running_is_not_absent_yet() -> None:
    before = datetime.combine(DAY, time(10, 0), fm.WIB)
    assert evaluate_day(DAY, WEEKDAY, [], now=before).status == "upcoming"
    day = evaluate_day(DAY, WEEKDAY, [scan("scan:1", DAY, 7, 0)], now=before)
    assert day.status == "present" and not day.missing_out
    later = datetime.combine(DAY + timedelta(days=1), time(5, 0), fm.WIB)
    assert evaluate_day(DAY, WEEKDAY, [scan("scan:1", DAY, 7, 0)], now=later).missing_out
    assert evaluate_day(DAY, WEEKDAY, [], now=later).status == "absent"


def test_scans_outside_the_windows_are_ignored() -> None:
    later = datetime(2026, 12, 5, tzinfo=fm.WIB)
    too_early = scan("scan:1", DAY, 4, 29)  # more than 3 h before 07:30
    day = evaluate_day(DAY, WEEKDAY, [too_early, scan("scan:2", DAY, 16, 0)], now=later)
    assert day.first_in is None and day.missing_in and day.last_out is not None
    # the night shift's window: in from 18:00, out until 18:00 the next day
    entries = [scan("scan:3", DAY, 18, 0), scan("scan:4", DAY + timedelta(days=1), 17, 59)]
    night = evaluate_day(DAY, NIGHT, entries, now=later)
    assert night.late is None and night.early is None
    assert night.first_in and night.first_in.ref == "scan:3"
    assert night.last_out and night.last_out.ref == "scan:4"


def test_next_days_in_window_closes_the_out_window() -> None:
    later = datetime(2026, 12, 5, tzinfo=fm.WIB)
    morning_after = span(DAY + timedelta(days=1), time(7, 0), time(14, 0), fm.WIB)
    entries = [scan("scan:1", DAY, 20, 50), scan("scan:2", DAY + timedelta(days=1), 4, 30)]
    day = evaluate_day(DAY, NIGHT, entries, now=later, next_schedule=morning_after)
    assert day.last_out is None and day.missing_out  # 04:30 belongs to the morning shift


def test_absence_and_holiday_excuse_the_day() -> None:
    later = datetime(2026, 12, 5, tzinfo=fm.WIB)
    assert evaluate_day(DAY, WEEKDAY, [], now=later, absence=("dl", 7)).status == "dl"
    assert evaluate_day(DAY, WEEKDAY, [], now=later, absence=("dl", 7)).events() == []
    assert evaluate_day(DAY, None, [], now=later, holiday="Natal").status == "holiday"
    assert evaluate_day(DAY, None, [], now=later).status == "off"


def test_month_bounds() -> None:
    assert recaps.month_bounds(2026, 12) == (date(2026, 12, 1), date(2026, 12, 31))
    assert recaps.month_bounds(2028, 2) == (date(2028, 2, 1), date(2028, 2, 29))
