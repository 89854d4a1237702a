from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from backend.schedules import DaySchedule, classify, pick_rule

WIB = ZoneInfo("Asia/Jakarta")
DAY = date(2026, 11, 23)
SCHEDULE = DaySchedule(
    datetime.combine(DAY, time(7, 30), WIB), datetime.combine(DAY, time(16, 0), WIB)
)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(DAY, time(hh, mm, ss), WIB)


@pytest.mark.parametrize(
    ("when", "kind", "minutes", "category"),
    [
        (at(6, 0), "in", 0, None),
        (at(7, 30, 59), "in", 0, None),  # the clock still shows 07:30
        (at(7, 31), "in", 1, "TL1"),
        (at(8, 0), "in", 30, "TL1"),
        (at(8, 1), "in", 31, "TL2"),
        (at(8, 30), "in", 60, "TL2"),
        (at(8, 31), "in", 61, "TL3"),
        (at(9, 0), "in", 90, "TL3"),
        (at(9, 1), "in", 91, "TL4"),
        (at(11, 44, 59), "in", 254, "TL4"),
        (at(11, 45), "out", 255, "PSW4"),  # the middle of 07:30–16:00
        (at(14, 30), "out", 90, "PSW3"),
        (at(14, 31), "out", 89, "PSW3"),
        (at(15, 0), "out", 60, "PSW2"),
        (at(15, 30), "out", 30, "PSW1"),
        (at(15, 59, 30), "out", 1, "PSW1"),
        (at(16, 0), "out", 0, None),
        (at(18, 0), "out", 0, None),
    ],
)
def test_in_out_and_categories(
    when: datetime, kind: str, minutes: int, category: str | None
) -> None:
    verdict = classify(when, SCHEDULE, scanned_before=False)
    assert (verdict.kind, verdict.late_minutes, verdict.category) == (kind, minutes, category)


def test_without_a_schedule_first_scan_is_in_then_out() -> None:
    assert classify(at(9, 0), None, scanned_before=False).kind == "in"
    assert classify(at(9, 5), None, scanned_before=True).kind == "out"
    assert classify(at(9, 5), None, scanned_before=True).category is None


def test_most_specific_rule_wins() -> None:
    base = {"unit_id": None, "agency_id": None, "valid_from": None, "valid_to": None}
    rows = [
        {**base, "id": 1},
        {**base, "id": 2, "agency_id": 7},
        {**base, "id": 3, "agency_id": 7, "unit_id": 5},
        {**base, "id": 4, "agency_id": 7, "unit_id": 5, "valid_from": date(2026, 2, 18), "valid_to": date(2026, 3, 19)},
    ]  # fmt: skip
    assert pick_rule(rows, 5, DAY)["id"] == 3
    assert pick_rule(rows, 5, date(2026, 3, 1))["id"] == 4  # Ramadan hours
    assert pick_rule(rows, 6, DAY)["id"] == 2
    assert pick_rule(rows[:1], 6, DAY)["id"] == 1
    assert pick_rule([], 6, DAY) is None
