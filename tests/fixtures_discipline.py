"""The discipline fixture: January to April 2026 in one office (WIB), weekday hours
(Mon–Thu 07:30–16:00, Fri 07:30–16:30), the `holidays` package's days for 2026.

Holidays that matter here: Thu 1 Jan, Fri 16 Jan, Mon 16 + Tue 17 Feb, Wed 18 – Tue 24 Mar
(Nyepi, Idul Fitri and their cuti bersama, with the weekend), Fri 3 Apr. On every other weekday
each person scans in at 07:20 and out at 16:10 (16:40 on Fridays), except:

- Rina: no scan on Mon 5, 12, 19 Jan, Mon 2, Mon 9, Tue 10, Wed 11 Feb; sakit Thu 12 – Fri 13 Feb
  (no scans, excused); Mon 2 Mar only an offline check-in that the reviewer rejects (absent);
  Tue 3 Mar no scan but an admin's correction "in 07:25" (present); Wed 4 Mar an offline
  check-in the reviewer approves (present); Thu 5 Mar only a check-in (present, missing out).
- Sari: no scan Mon 5 – Fri 9 Jan and Mon 12 – Thu 15 Jan (9 working days in a row; Fri 16 is a
  holiday), present Mon 19, no scan Tue 20 Jan.
- Joko: no scan Mon 16, Tue 17 Mar, then Wed 25 Mar – Thu 2 Apr and Mon 6 Apr: ten working days
  in a row across the holidays of 18–24 Mar, the month's end and Good Friday.
- Baru: added to Presensi on 1 Mar 2026; scans from Mon 2 Mar on (nothing before).
- Kepala: every day present; the atasan langsung of Rina, Sari and Joko.

The expected counts below are worked out by hand from this description.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import absences, holidays, review
from backend.db import agencies, checkins, devices, displays, employees, offices, units
from backend.holidays import from_package

WIB = ZoneInfo("Asia/Jakarta")
YEAR = 2026
FIRST, LAST = date(2026, 1, 1), date(2026, 4, 30)
# Mid-February: 10 Feb is still running (its out window closes at 04:30 on the 11th).
NOW_FEB = datetime(2026, 2, 10, 12, 0, tzinfo=WIB)
NOW_MAY = datetime(2026, 5, 1, 10, 0, tzinfo=WIB)
CREATED = datetime(2025, 12, 1, tzinfo=UTC)

STAFF = (
    ("Kepala", "197001012000011001", None),
    ("Rina", "198001012005012001", "Kepala"),
    ("Sari", "198102022006012002", "Kepala"),
    ("Joko", "198203032007011003", "Kepala"),
    ("Baru", "199004042020011004", None),
    ("Wakil", "197505052001011005", None),
)
STARTS = {"Baru": datetime(2026, 3, 1, 2, 0, tzinfo=UTC)}  # 09:00 WIB on 1 March


def d(month: int, day: int) -> date:
    return date(YEAR, month, day)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


NO_SCAN = {
    "Rina": {d(1, 5), d(1, 12), d(1, 19), d(2, 2), d(2, 9), d(2, 10), d(2, 11), d(2, 12), d(2, 13),
             d(3, 2), d(3, 3), d(3, 4), d(3, 5)},
    "Sari": {*days(d(1, 5), d(1, 9)), *days(d(1, 12), d(1, 15)), d(1, 20)},
    "Joko": {d(3, 16), d(3, 17), *days(d(3, 25), d(4, 2)), d(4, 6)},
}  # fmt: skip
SICK = [("Rina", d(2, 12), d(2, 13))]

# --- by hand ---------------------------------------------------------------------------------

# name -> (absent days through 30 April, longest run, level, since, {level: (on, days)})
EXPECTED = {
    "Rina": (
        [d(1, 5), d(1, 12), d(1, 19), d(2, 2), d(2, 9), d(2, 10), d(2, 11), d(3, 2)],
        3,
        "pernyataan_tidak_puas",
        d(2, 11),
        {
            "teguran_lisan": (d(1, 19), 3),
            "teguran_tertulis": (d(2, 2), 4),
            "pernyataan_tidak_puas": (d(2, 11), 7),
        },
    ),
    "Sari": (
        [*days(d(1, 5), d(1, 9)), *days(d(1, 12), d(1, 15)), d(1, 20)],
        9,
        "pernyataan_tidak_puas",
        d(1, 13),
        {
            "teguran_lisan": (d(1, 7), 3),
            "teguran_tertulis": (d(1, 8), 4),
            "pernyataan_tidak_puas": (d(1, 13), 7),
        },
    ),
    "Joko": (
        [d(3, 16), d(3, 17), d(3, 25), d(3, 26), d(3, 27), d(3, 30), d(3, 31), d(4, 1), d(4, 2),
         d(4, 6)],
        10,
        "pemberhentian_berturut",
        d(4, 6),
        {
            "teguran_lisan": (d(3, 25), 3),
            "teguran_tertulis": (d(3, 26), 4),
            "pernyataan_tidak_puas": (d(3, 31), 7),
            "pemberhentian_berturut": (d(4, 6), 10),
        },
    ),
}  # fmt: skip
# The count on 10 February: Rina's first five days, all of Sari's.
EXPECTED_FEB = {
    "Rina": ["teguran_lisan", "teguran_tertulis"],
    "Sari": ["teguran_lisan", "teguran_tertulis", "pernyataan_tidak_puas"],
}


def _scans(name: str, day: date) -> list[tuple[datetime, str, str]]:
    friday = day.weekday() == 4
    usual = [
        (datetime.combine(day, time(7, 20), WIB), "accepted", "in"),
        (datetime.combine(day, time(16, 40 if friday else 10), WIB), "accepted", "out"),
    ]
    if name == "Rina" and day == d(3, 2):
        return [(usual[0][0], "pending_review", "in")]
    if name == "Rina" and day == d(3, 4):
        return [(usual[0][0], "pending_review", "in"), usual[1]]
    if name == "Rina" and day == d(3, 5):
        return usual[:1]
    if day in NO_SCAN.get(name, ()):
        return []
    if name in STARTS and day < STARTS[name].date():
        return []
    return usual


async def load(db: Database) -> dict[str, Any]:
    agency_id = await db.fetch_val(
        agencies.insert()
        .values(code="DSP", name="Pemerintah Kota Disiplin", created_at=CREATED)
        .returning(agencies.c.id)
    )
    unit_id = await db.fetch_val(
        units.insert()
        .values(agency_id=agency_id, code="BKPSDM", name="BKPSDM", created_at=CREATED)
        .returning(units.c.id)
    )
    office_id = await db.fetch_val(
        offices.insert()
        .values(
            agency_id=agency_id,
            unit_id=unit_id,
            name="Kantor BKPSDM",
            timezone="Asia/Jakarta",
            created_at=CREATED,
        )
        .returning(offices.c.id)
    )
    display_id = await db.fetch_val(
        displays.insert()
        .values(office_id=office_id, name="Layar", created_at=CREATED)
        .returning(displays.c.id)
    )
    people: dict[str, int] = {}
    for name, nip, _boss in STAFF:
        people[name] = await db.fetch_val(
            employees.insert()
            .values(
                nip=nip,
                name=name,
                unit_id=unit_id,
                office_id=office_id,
                created_at=STARTS.get(name, CREATED),
            )
            .returning(employees.c.id)
        )
        await db.execute(
            devices.insert().values(
                id=f"d_disc{nip}", employee_id=people[name], public_key="{}", created_at=CREATED
            )
        )
    for name, _nip, boss in STAFF:
        if boss:
            await db.execute(
                employees.update()
                .where(employees.c.id == people[name])
                .values(supervisor_id=people[boss])
            )
    await holidays.seed(db, agency_id=agency_id, year=YEAR, actor="fixture")
    off = {day for day, _, _ in from_package(YEAR)}
    for name, first, last in SICK:
        await absences.add(
            db, employee_id=people[name], kind="sakit", start=first, end=last, actor="fixture"
        )
    rows, window = [], 0
    for name, nip, _boss in STAFF:
        for day in days(FIRST, LAST):
            if day.weekday() > 4 or day in off:
                continue
            for local, status, kind in _scans(name, day):
                window += 1
                rows.append(
                    {
                        "employee_id": people[name], "device_id": f"d_disc{nip}",
                        "display_id": display_id, "office_id": office_id, "window": window,
                        "at": local.astimezone(UTC), "local_date": day, "kind": kind,
                        "late_minutes": 0, "category": None, "status": status,
                        "client_ts": int(local.timestamp() * 1000), "nonce": f"{window:032x}",
                    }
                )  # fmt: skip
    await db.execute_many(checkins.insert(), rows)
    pending = {
        r["local_date"] if isinstance(r["local_date"], date) else date.fromisoformat(r["local_date"]): r["id"]
        for r in await db.fetch_all(
            sa.select(checkins.c.id, checkins.c.local_date).where(
                checkins.c.status == "pending_review"
            )
        )
    }  # fmt: skip
    await review.decide(
        db, checkin_id=pending[d(3, 2)], decision="rejected", reason="foto QR", actor="admin:1"
    )
    await review.decide(
        db, checkin_id=pending[d(3, 4)], decision="approved", reason="sinyal", actor="admin:1"
    )
    await review.correct(
        db,
        employee_id=people["Rina"],
        day=d(3, 3),
        kind="in",
        at=datetime.combine(d(3, 3), time(7, 25), WIB),
        reason="Lupa pindai; hadir rapat pagi",
        actor="admin:1",
    )
    return {"agency_id": agency_id, "unit_id": unit_id, "employees": people}
