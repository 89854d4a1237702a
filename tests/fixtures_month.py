"""The fixture month: December 2026 in a health centre (Puskesmas), WIB.

Five people. Ani and Bayu work weekday hours (Mon–Thu 07:30–16:00, Fri 07:30–16:30); Citra, Dedi
and Eka work a 3-shift roster, P 07:00–14:00, S 14:00–21:00 and M 21:00–07:00 (crossing midnight),
in the cycle P, S, M, off, each starting at a different point of it (and going on into January):

    day   1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    Citra P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M
    Dedi  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -
    Eka   M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P  S  M  -  P

Holidays from the `holidays` package: 24 December (cuti bersama Natal) and 25 December (Natal).
A rostered shift on a holiday is worked. On every scheduled day each person scans in 10 minutes
before the start and out 5 minutes after the end (a night shift's out is the next morning),
except for what EXCEPTIONS and ABSENCES say.

The expected recap and TPP table below are worked out by hand from this description, not by
running the code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import absences, holidays, review, rosters
from backend.db import agencies, checkins, devices, displays, employees, offices, units, utcnow

WIB = ZoneInfo("Asia/Jakarta")
YEAR, MONTH = 2026, 12
START, END = date(2026, 12, 1), date(2026, 12, 31)
NOW = datetime(2027, 1, 2, 12, 0, tzinfo=WIB)  # the month is over
SHIFTS = {
    "P": (time(7, 0), time(14, 0)),
    "S": (time(14, 0), time(21, 0)),
    "M": (time(21, 0), time(7, 0)),
}
CYCLE = ("P", "S", "M", None)
# name, NIP, roster offset (None: weekday hours)
STAFF = (
    ("Ani Lestari", "198001012005012001", None),
    ("Bayu Saputra", "198102022006011002", None),
    ("Citra Dewi", "198203032007012003", 0),
    ("Dedi Kurnia", "198304042008011004", 1),
    ("Eka Putri", "198405052009012005", 2),
)
NIPS = {name: nip for name, nip, _ in STAFF}
HOLIDAYS = {date(2026, 12, 24), date(2026, 12, 25)}
WEEKDAY_HOURS = {0: (time(7, 30), time(16, 0)), 1: (time(7, 30), time(16, 0)),
                 2: (time(7, 30), time(16, 0)), 3: (time(7, 30), time(16, 0)),
                 4: (time(7, 30), time(16, 30))}  # fmt: skip


def d(day: int) -> date:
    return date(YEAR, MONTH, day)


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), WIB)


# (name, kind, first day, last day, attachment)
ABSENCES = (
    ("Bayu Saputra", "cuti_tahunan", d(12), d(18), "ST/CT/0412/2026"),  # Sat 12 .. Fri 18
    ("Bayu Saputra", "dl", d(28), d(29), "SPT/090/1201/2026"),
    ("Dedi Kurnia", "sakit", d(8), d(9), "surat dokter"),
)

# (name, working day) -> the scans of that day instead of the usual two:
# (local time, status, in/out as stored at write time)
EXCEPTIONS: dict[tuple[str, date], list[tuple[datetime, str, str]]] = {
    # Ani: one late arrival of each category, a missing check-out, a forgotten check-out that an
    # admin corrects (see CORRECTIONS), and a day with two scans each way.
    ("Ani Lestari", d(2)): [(at(d(2), 7, 45), "accepted", "in"), (at(d(2), 16, 5), "accepted", "out")],  # TL1 15'
    ("Ani Lestari", d(3)): [(at(d(3), 8, 15), "accepted", "in"), (at(d(3), 16, 5), "accepted", "out")],  # TL2 45'
    ("Ani Lestari", d(7)): [(at(d(7), 8, 45), "accepted", "in"), (at(d(7), 16, 5), "accepted", "out")],  # TL3 75'
    ("Ani Lestari", d(8)): [(at(d(8), 9, 40), "accepted", "in"), (at(d(8), 16, 5), "accepted", "out")],  # TL4 130'
    ("Ani Lestari", d(9)): [(at(d(9), 7, 20), "accepted", "in")],  # no check-out
    ("Ani Lestari", d(10)): [(at(d(10), 7, 20), "accepted", "in")],  # out added by correction
    ("Ani Lestari", d(11)): [
        (at(d(11), 7, 20), "accepted", "in"), (at(d(11), 7, 35), "accepted", "in"),
        (at(d(11), 16, 40), "accepted", "out"), (at(d(11), 17, 10), "accepted", "out"),
    ],
    # Bayu: one early leave of each category, a day with no scan, and a pending (offline) check-in
    # that the reviewer rejects (see REVIEWS).
    ("Bayu Saputra", d(1)): [(at(d(1), 7, 20), "accepted", "in"), (at(d(1), 15, 45), "accepted", "out")],  # PSW1 15'
    ("Bayu Saputra", d(2)): [(at(d(2), 7, 20), "accepted", "in"), (at(d(2), 15, 15), "accepted", "out")],  # PSW2 45'
    ("Bayu Saputra", d(3)): [(at(d(3), 7, 20), "accepted", "in"), (at(d(3), 14, 50), "accepted", "out")],  # PSW3 70'
    ("Bayu Saputra", d(4)): [(at(d(4), 7, 20), "accepted", "in"), (at(d(4), 14, 0), "accepted", "out")],  # Fri: PSW4 150'
    ("Bayu Saputra", d(9)): [],  # absent without reason
    ("Bayu Saputra", d(30)): [(at(d(30), 7, 20), "pending_review", "in"), (at(d(30), 16, 10), "accepted", "out")],
    # Citra: late on a night shift, and a night shift without check-out.
    ("Citra Dewi", d(3)): [(at(d(3), 21, 45), "accepted", "in"), (at(d(4), 7, 5), "accepted", "out")],  # TL2 45'
    ("Citra Dewi", d(7)): [(at(d(7), 20, 50), "accepted", "in")],
    # Dedi: very late on a morning shift.
    ("Dedi Kurnia", d(12)): [(at(d(12), 8, 35), "accepted", "in"), (at(d(12), 14, 5), "accepted", "out")],  # TL4 95'
    # Eka: misses a night shift; an offline check-in on the 15th that the reviewer approves.
    ("Eka Putri", d(5)): [],
    ("Eka Putri", d(15)): [(at(d(15), 6, 50), "pending_review", "in"), (at(d(15), 14, 5), "accepted", "out")],
}  # fmt: skip

# (name, working day, local time of the pending scan, decision, reason)
REVIEWS = (
    ("Bayu Saputra", d(30), at(d(30), 7, 20), "rejected", "Dikirim dari luar kantor (foto QR)"),
    ("Eka Putri", d(15), at(d(15), 6, 50), "approved", "Sinyal hilang di ruang IGD"),
)
# (name, working day, kind, local time, reason)
CORRECTIONS = (
    ("Ani Lestari", d(10), "out", at(d(10), 16, 5), "Lupa pindai pulang; rapat sampai 16.00"),
)


def shift_code(name: str, day: date) -> str | None:
    offset = next(o for n, _, o in STAFF if n == name)
    assert offset is not None
    return CYCLE[((day - START).days + offset) % 4]


def normal_scans(name: str, day: date) -> list[tuple[datetime, str, str]]:
    """The usual two scans on a scheduled day, or none on a day off."""
    offset = next(o for n, _, o in STAFF if n == name)
    if offset is None:
        if day.weekday() > 4 or day in HOLIDAYS:
            return []
        start, end = WEEKDAY_HOURS[day.weekday()]
    else:
        code = shift_code(name, day)
        if code is None:
            return []
        start, end = SHIFTS[code]
    begin = datetime.combine(day, start, WIB)
    finish = datetime.combine(day + timedelta(days=end <= start), end, WIB)
    return [
        (begin - timedelta(minutes=10), "accepted", "in"),
        (finish + timedelta(minutes=5), "accepted", "out"),
    ]


def excused(name: str, day: date) -> bool:
    return any(n == name and first <= day <= last for n, _, first, last, _ in ABSENCES)


# --- what the recap must come to, by hand ---------------------------------------------------

COLUMNS = ("scheduled", "present", "TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4",
           "missing_in", "missing_out", "absent", "dl", "sakit", "cuti_tahunan", "holiday", "off")  # fmt: skip
EXPECTED_MONTH = {
    #               sch pre TL1-4       PSW1-4      mi mo ab dl sk ct hol off
    "Ani Lestari":  (21, 21, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 8),
    "Bayu Saputra": (21, 13, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 2, 0, 5, 2, 8),
    "Citra Dewi":   (24, 24, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 6),
    "Dedi Kurnia":  (23, 21, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 8),
    "Eka Putri":    (23, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 8),
}  # fmt: skip
# present / (present + absent)
EXPECTED_RATE = {"Ani Lestari": 1.0, "Bayu Saputra": 13 / 14, "Citra Dewi": 1.0,
                 "Dedi Kurnia": 1.0, "Eka Putri": 22 / 23}  # fmt: skip

# name -> [(day, code, basis points, local times of the entries behind it)]
EXPECTED_TPP: dict[str, list[tuple[date, str, int, tuple[str, ...]]]] = {
    "Ani Lestari": [
        (d(2), "TL1", 50, ("12-02 07:45",)),
        (d(3), "TL2", 100, ("12-03 08:15",)),
        (d(7), "TL3", 125, ("12-07 08:45",)),
        (d(8), "TL4", 150, ("12-08 09:40",)),
        (d(9), "missing_out", 150, ("12-09 07:20",)),
    ],
    "Bayu Saputra": [
        (d(1), "PSW1", 50, ("12-01 15:45",)),
        (d(2), "PSW2", 100, ("12-02 15:15",)),
        (d(3), "PSW3", 125, ("12-03 14:50",)),
        (d(4), "PSW4", 150, ("12-04 14:00",)),
        (d(9), "absent", 300, ()),
        (d(30), "missing_in", 150, ("12-30 16:10",)),  # the rejected 07:20 scan does not count
    ],
    "Citra Dewi": [
        (d(3), "TL2", 100, ("12-03 21:45",)),
        (d(7), "missing_out", 150, ("12-07 20:50",)),
    ],
    "Dedi Kurnia": [(d(12), "TL4", 150, ("12-12 08:35",))],
    "Eka Putri": [(d(5), "absent", 300, ())],
}
EXPECTED_TPP_TOTAL = {"Ani Lestari": 575, "Bayu Saputra": 875, "Citra Dewi": 250,
                      "Dedi Kurnia": 150, "Eka Putri": 300}  # fmt: skip

# day -> counts for the unit (keys not listed are 0), and the day's attendance rate
EXPECTED_DAILY: dict[date, tuple[dict[str, int], float]] = {
    d(3): ({"scheduled": 4, "present": 4, "TL2": 2, "PSW3": 1, "off": 1}, 1.0),
    d(5): ({"scheduled": 3, "present": 2, "absent": 1, "off": 2}, 2 / 3),
    d(9): ({"scheduled": 5, "present": 3, "absent": 1, "sakit": 1, "missing_out": 1}, 3 / 4),
    d(25): ({"scheduled": 3, "present": 3, "holiday": 2}, 1.0),
    d(30): ({"scheduled": 4, "present": 4, "missing_in": 1, "off": 1}, 1.0),
}


# --- loading it --------------------------------------------------------------------------------


async def load(db: Database) -> dict[str, Any]:
    """Create the month in an empty (freshly migrated) database through the engines' own entry
    points, except the scans, which are written as the check-in would have written them."""
    now = utcnow()
    agency_id = await db.fetch_val(
        agencies.insert()
        .values(code="FIX", name="Pemerintah Kabupaten Contoh", created_at=now)
        .returning(agencies.c.id)
    )
    unit_id = await db.fetch_val(
        units.insert()
        .values(agency_id=agency_id, code="PKM", name="Puskesmas Sukamaju", created_at=now)
        .returning(units.c.id)
    )
    office_id = await db.fetch_val(
        offices.insert()
        .values(
            agency_id=agency_id,
            unit_id=unit_id,
            name="Puskesmas Sukamaju",
            timezone="Asia/Jakarta",
            created_at=now,
        )
        .returning(offices.c.id)
    )
    display_id = await db.fetch_val(
        displays.insert()
        .values(office_id=office_id, name="Layar IGD", created_at=now)
        .returning(displays.c.id)
    )
    people: dict[str, int] = {}
    for name, nip, _ in STAFF:
        people[name] = await db.fetch_val(
            employees.insert()
            .values(nip=nip, name=name, unit_id=unit_id, office_id=office_id, created_at=now)
            .returning(employees.c.id)
        )
        await db.execute(
            devices.insert().values(
                id=f"d_fixture{NIPS[name]}",
                employee_id=people[name],
                public_key="{}",
                created_at=now,
            )
        )
    await holidays.seed(db, agency_id=agency_id, year=YEAR, actor="fixture")
    shift_ids = {
        code: await rosters.create_shift(
            db, agency_id=agency_id, unit_id=unit_id, code=code, name=f"Shift {code}",
            start=hours[0], end=hours[1], actor="fixture",
        )
        for code, hours in SHIFTS.items()
    }  # fmt: skip
    days = [START + timedelta(days=i) for i in range((END - START).days + 1)]
    for name, _, offset in STAFF:
        if offset is None:
            continue
        for code in (*SHIFTS, None):
            # The roster goes on into 1 January: without it the weekday hours of that day would
            # open its in window at 04:30 and close the 31st's night shift before its 07:05 out.
            mine = [
                day for day in (*days, END + timedelta(days=1)) if shift_code(name, day) == code
            ]
            await rosters.set_roster(
                db, employee_id=people[name], days=mine,
                shift_id=shift_ids[code] if code else None, actor="fixture",
            )  # fmt: skip
    for name, kind, first, last, attachment in ABSENCES:
        await absences.add(
            db, employee_id=people[name], kind=kind, start=first, end=last,
            attachment=attachment, actor="fixture",
        )  # fmt: skip

    rows = []
    window = 0
    for name, _, _ in STAFF:
        for day in days:
            if excused(name, day):
                continue
            scans = EXCEPTIONS.get((name, day), normal_scans(name, day))
            for local, status, kind in scans:
                window += 1
                rows.append(
                    {
                        "employee_id": people[name], "device_id": f"d_fixture{NIPS[name]}",
                        "display_id": display_id, "office_id": office_id, "window": window,
                        "at": local.astimezone(UTC), "local_date": day, "kind": kind,
                        "late_minutes": 0, "category": None, "status": status,
                        "client_ts": int(local.timestamp() * 1000), "nonce": f"{window:032x}",
                        "flags": "offline_submission" if status == "pending_review" else "",
                    }
                )  # fmt: skip
    await db.execute_many(checkins.insert(), rows)

    scan_ids = {}
    for row in await db.fetch_all(sa.select(checkins.c.id, checkins.c.employee_id, checkins.c.at)):
        scan_ids[(row["employee_id"], _as_wib(row["at"]))] = row["id"]
    for name, _, local, decision, reason in REVIEWS:
        await review.decide(
            db,
            checkin_id=scan_ids[(people[name], local)],
            decision=decision,
            reason=reason,
            actor="admin:1",
        )
    for name, day, kind, local, reason in CORRECTIONS:
        await review.correct(
            db,
            employee_id=people[name],
            day=day,
            kind=kind,
            at=local,
            reason=reason,
            actor="admin:1",
        )
    return {"agency_id": agency_id, "unit_id": unit_id, "office_id": office_id, "employees": people,
            "shifts": shift_ids, "display_id": display_id}  # fmt: skip


def _as_wib(value: datetime) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(WIB)


def local_label(value: datetime) -> str:
    """ "12-02 07:45" — how EXPECTED_TPP names an entry."""
    return value.astimezone(WIB).strftime("%m-%d %H:%M")
