"""The fixture month (tests/fixtures_month.py) with diaries, and the agency's threshold.

The agency sets ``activity_threshold`` to 20 % and ``activity_shortfall`` to 0.25 % per point.

- Ani: 1, 2, 3 December approved (the 1st with 420 of 450 claimed minutes, the others 450 each),
  the 4th returned, the 7th submitted and not decided yet, the 8th a draft: 5 days submitted,
  3 approved, 1,320 validated minutes.
- Bayu (eselon II.a): 1, 2, 3 December accepted automatically with 450 minutes each, the 7th
  rejected: 4 submitted, 3 approved, 1,350 minutes.
- Citra, Dedi and Eka write no diary.

Effective working minutes, by hand: the schedule's minutes of each due day (excused days, days
off and holidays out) minus 60 minutes of break, 90 on a Friday.

- Ani: 21 weekdays; Mon–Thu 07:30–16:00 is 510 - 60 = 450, Fri 07:30–16:30 is 540 - 90 = 450:
  21 x 450 = 9,450.
- Bayu: 21 weekdays, 7 excused (cuti 14–18, DL 28–29), the absent 9th is due: 14 x 450 = 6,300.
- Citra: P 1,5,...,29 (8 x 420), S 2,...,30 (8 x 420), M 3,...,31 (8 x 600): 11,520; Fridays 11,
  18, 25 worked: breaks 3 x 90 + 21 x 60 = 1,530: 9,990.
- Dedi: P 4,12,16,20,24,28 (the 8th excused), S 1,5,13,17,21,25,29 (the 9th excused), M 2,...,30:
  6 x 420 + 7 x 420 + 8 x 600 = 10,260; Fridays 4, 18, 25: breaks 270 + 18 x 60 = 1,350: 8,910.
- Eka: P 3,...,31 (8), S 4,...,28 (7), M 1,...,29 (8, the absent 5th is due): 11,100; Fridays 4,
  11, 25: breaks 270 + 20 x 60 = 1,470: 9,630.

Percentages: Ani 1,320 / 9,450 = 13.97 %, Bayu 1,350 / 6,300 = 21.43 %, the others 0 %.
Shortfall below 20 %: Ani 6.03 points, so 6 full points x 25 = 150 basis points; Bayu none;
Citra, Dedi and Eka 20 points x 25 = 500.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from databases import Database

from backend import tpp
from backend.db import activity_days, employees, utcnow
from tests import fixtures_month as fm

d = fm.d
# name -> [(day, status, claimed minutes, validated minutes)]
DIARY: dict[str, list[tuple[date, str, int, int | None]]] = {
    "Ani Lestari": [
        (d(1), "approved", 450, 420),
        (d(2), "approved", 450, 450),
        (d(3), "approved", 450, 450),
        (d(4), "returned", 400, None),
        (d(7), "submitted", 450, None),
        (d(8), "draft", 300, None),
    ],
    "Bayu Saputra": [
        (d(1), "accepted_auto", 450, 450),
        (d(2), "accepted_auto", 450, 450),
        (d(3), "accepted_auto", 450, 450),
        (d(7), "rejected", 450, 0),
    ],
}
THRESHOLD, PER_POINT = 2000, 25
# name -> (submitted days, approved days, validated minutes, effective minutes, percent)
EXPECTED = {
    "Ani Lestari": (5, 3, 1320, 9450, 13.97),
    "Bayu Saputra": (4, 3, 1350, 6300, 21.43),
    "Citra Dewi": (0, 0, 0, 9990, 0.0),
    "Dedi Kurnia": (0, 0, 0, 8910, 0.0),
    "Eka Putri": (0, 0, 0, 9630, 0.0),
}
EXPECTED_SHORTFALL = {"Ani Lestari": 150, "Citra Dewi": 500, "Dedi Kurnia": 500, "Eka Putri": 500}
EXPECTED_TPP_TOTAL = {
    name: total + EXPECTED_SHORTFALL.get(name, 0) for name, total in fm.EXPECTED_TPP_TOTAL.items()
}


async def load(db: Database) -> dict[str, Any]:
    info = await fm.load(db)
    now = utcnow()
    await db.execute(
        employees.update()
        .where(employees.c.id == info["employees"]["Bayu Saputra"])
        .values(echelon="II.a")
    )
    rows = [
        {
            "employee_id": info["employees"][name],
            "day": day,
            "status": status,
            "minutes": claimed,
            "approved_minutes": validated,
            "submitted_at": None if status == "draft" else now,
            "updated_at": now,
        }
        for name, days in DIARY.items()
        for day, status, claimed, validated in days
    ]
    await db.execute_many(activity_days.insert(), rows)
    agency = info["agency_id"]
    await tpp.set_rule(
        db, agency_id=agency, code="activity_threshold", basis_points=THRESHOLD, actor="test"
    )
    await tpp.set_rule(
        db, agency_id=agency, code="activity_shortfall", basis_points=PER_POINT, actor="test"
    )
    return info
