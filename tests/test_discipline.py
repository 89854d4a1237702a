"""PP 94/2021 discipline: the counts and levels against the hand-computed fixture
(tests/fixtures_discipline.py), the levels recorded by each count, the supervisor's inbox items,
and the level rules on their own."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import absences, clock, discipline, organisation
from backend.db import discipline_days, discipline_events, discipline_levels, employees
from tests import fixtures_discipline as fx
from tests.conftest import app_db, run
from tests.test_cli import cli  # noqa: F401  (the fixture)


@pytest.fixture
def year(client: TestClient) -> dict[str, Any]:
    return run(client, fx.load, app_db(client))


def names(client: TestClient) -> dict[int, str]:
    rows = run(client, app_db(client).fetch_all, sa.select(employees.c.id, employees.c.name))
    return {r["id"]: r["name"] for r in rows}


def events(client: TestClient, withdrawn: bool = False) -> dict[str, list[str]]:
    who = names(client)
    query = sa.select(discipline_events).order_by(
        discipline_events.c.employee_id, discipline_events.c.severity, discipline_events.c.id
    )
    found: dict[str, list[str]] = {}
    for r in run(client, app_db(client).fetch_all, query):
        if (r["withdrawn_at"] is not None) == withdrawn:
            found.setdefault(who[r["employee_id"]], []).append(r["level_code"])
    return found


def test_counts_and_levels_match_the_hand_computed_year(
    client: TestClient, year: dict[str, Any]
) -> None:
    db = app_db(client)
    new = run(client, discipline.count, db, year["agency_id"], fx.YEAR, fx.NOW_MAY)
    assert new == sum(len(levels) for *_, levels in fx.EXPECTED.values())
    report = run(client, discipline.report, db, year["agency_id"], fx.YEAR)
    assert report.through == date(2026, 5, 1)
    got = {r.name: r.standing for r in report.rows}
    # Kepala and Wakil were always there; Baru's months before joining do not count.
    assert set(got) == set(fx.EXPECTED)
    for name, (dates, longest, level, since, reached) in fx.EXPECTED.items():
        standing = got[name]
        assert standing.days == dates, name
        assert standing.longest_run == longest, name
        assert standing.level is not None
        assert (standing.level.level.code, standing.level.on) == (level, since), name
        assert {r.level.code: (r.on, r.days) for r in standing.reached} == reached, name
    # Heaviest first: Joko (dismissal for 10 days in a row), then the two at level 3 by days.
    assert [r.name for r in report.rows] == ["Joko", "Sari", "Rina"]


def test_the_days_are_the_recaps_absent_days(client: TestClient, year: dict[str, Any]) -> None:
    """One source of truth: the discipline count is the monthly recap's ``absent`` days."""
    from backend import recaps

    db = app_db(client)
    run(client, discipline.count, db, year["agency_id"], fx.YEAR, fx.NOW_MAY)
    recap = run(
        client,
        recaps.compute,
        db,
        agency_id=year["agency_id"],
        start=date(2026, 3, 1),
        end=date(2026, 3, 31),
        now=fx.NOW_MAY,
    )
    absent = {e.name: [d.day for d in e.days if d.status == "absent"] for e in recap.employees}
    stored = run(
        client,
        db.fetch_all,
        sa.select(discipline_days.c.employee_id, discipline_days.c.day).where(
            discipline_days.c.day.between(date(2026, 3, 1), date(2026, 3, 31))
        ),
    )
    who = names(client)
    by_name: dict[str, list[date]] = {}
    for r in stored:
        day = r["day"] if isinstance(r["day"], date) else date.fromisoformat(r["day"])
        by_name.setdefault(who[r["employee_id"]], []).append(day)
    assert {k: sorted(v) for k, v in by_name.items()} == {k: v for k, v in absent.items() if v}
    assert absent["Rina"] == [date(2026, 3, 2)]  # the rejected offline scan; not 3–5 March


def test_each_count_records_new_levels_once_and_withdraws_excused_ones(
    client: TestClient, year: dict[str, Any]
) -> None:
    db = app_db(client)
    agency = year["agency_id"]
    assert run(client, discipline.count, db, agency, fx.YEAR, fx.NOW_FEB) == 5
    assert events(client) == fx.EXPECTED_FEB
    # The same day again: nothing new.
    assert run(client, discipline.count, db, agency, fx.YEAR, fx.NOW_FEB) == 0
    assert run(client, discipline.count, db, agency, fx.YEAR, fx.NOW_MAY) == 5
    recorded = run(client, db.fetch_all, sa.select(discipline_events))
    rina_level = next(
        r for r in recorded if r["level_code"] == "pernyataan_tidak_puas" and r["days"] == 7
        and r["reached_on"] in (date(2026, 2, 11), "2026-02-11")
    )  # fmt: skip
    assert rina_level["supervisor_id"] == year["employees"]["Kepala"]
    # A sick note for 9–11 February arrives late: Rina is back to five days.
    run(
        client,
        absences.add,
        db,
        employee_id=year["employees"]["Rina"],
        kind="sakit",
        start=date(2026, 2, 9),
        end=date(2026, 2, 11),
        actor="admin:1",
    )
    assert run(client, discipline.count, db, agency, fx.YEAR, fx.NOW_MAY) == 0
    assert events(client, withdrawn=True) == {"Rina": ["pernyataan_tidak_puas"]}
    report = run(client, discipline.report, db, agency, fx.YEAR)
    rina = next(r for r in report.rows if r.name == "Rina").standing
    assert len(rina.days) == 5 and rina.level and rina.level.level.code == "teguran_tertulis"


def test_inbox_items_for_the_supervisor_and_the_acting_one(
    client: TestClient, year: dict[str, Any]
) -> None:
    db = app_db(client)
    people = year["employees"]
    run(client, discipline.count, db, year["agency_id"], fx.YEAR, fx.NOW_MAY)

    async def create() -> None:
        async with db.transaction():
            await organisation.create_delegation(
                db,
                supervisor_id=people["Kepala"],
                delegate_id=people["Wakil"],
                start_date=date(2026, 4, 27),
                end_date=date(2026, 5, 8),
                created_by=None,
            )

    with clock.use(fx.NOW_MAY):
        run(client, create)
        items = run(client, discipline.inbox_items, db, people["Kepala"])
        acting = run(client, discipline.inbox_items, db, people["Wakil"])
        nobody = run(client, discipline.inbox_items, db, people["Rina"])
    assert len(items) == 10 and nobody == []
    assert acting == items
    first = items[0]
    assert first["kind"] == "discipline_level" and first["year"] == 2026
    joko = [i for i in items if i["employee"]["name"] == "Joko"]
    assert joko[0]["level"] == "pemberhentian_berturut"  # heaviest first
    assert {i["reached_on"] for i in joko} >= {"2026-04-06", "2026-03-25"}
    # Next year the items are gone (a new year counts from zero).
    with clock.use(fx.NOW_MAY.replace(year=2027)):
        assert run(client, discipline.inbox_items, db, people["Kepala"]) == []


def test_an_agencys_own_levels_replace_the_defaults(
    client: TestClient, year: dict[str, Any]
) -> None:
    db = app_db(client)
    run(
        client,
        db.execute,
        discipline_levels.insert().values(
            agency_id=year["agency_id"],
            code="peringatan",
            min_days=2,
            consecutive=False,
            severity=1,
            sanction="Peringatan",
        ),
    )
    run(client, discipline.count, db, year["agency_id"], fx.YEAR, fx.NOW_MAY)
    assert events(client) == {
        "Rina": ["peringatan"],
        "Sari": ["peringatan"],
        "Joko": ["peringatan"],
    }


# -- the level rules on their own -------------------------------------------------------------

LEVELS = [
    discipline.Level("lisan", 3, False, 1, "Teguran lisan"),
    discipline.Level("tertulis", 4, False, 2, "Teguran tertulis"),
    discipline.Level("berturut", 10, True, 9, "Pemberhentian"),
]


def test_standing_levels_and_streaks() -> None:
    def day(n: int) -> date:
        return date(2026, 6, n)

    # 1–2 June absent, then a streak of three: the third day overall reaches lisan.
    s = discipline.standing(
        7, [(day(5), 3), (day(1), 1), (day(4), 2), (day(2), 2), (day(3), 1)], LEVELS
    )
    assert s.days == [day(1), day(2), day(3), day(4), day(5)]
    assert [(r.level.code, r.on, r.days) for r in s.reached] == [
        ("lisan", day(3), 3),
        ("tertulis", day(4), 4),
    ]
    assert s.level and s.level.level.code == "tertulis" and s.longest_run == 3
    assert discipline.standing(7, [(day(1), 1), (day(2), 2)], LEVELS).level is None
    streak = [(day(i), i) for i in range(1, 11)]
    top = discipline.standing(7, streak, LEVELS).level
    assert top and (top.level.code, top.on) == ("berturut", day(10))


def test_the_cli_pass(cli: Any, database_url: str) -> None:  # noqa: F811
    """``presensi discipline`` counts every agency (or one) and says how many levels are new."""
    import asyncio

    from backend.db import make_database

    async def load() -> None:
        db = make_database(database_url)
        await db.connect()
        try:
            await fx.load(db)
        finally:
            await db.disconnect()

    cli("migrate")
    asyncio.run(load())
    with clock.use(fx.NOW_MAY):
        out, _ = cli("discipline", "--agency", "DSP")
        assert "10 new discipline levels recorded" in out
        out, _ = cli("discipline", "--year", "2026")
        assert "0 new discipline levels recorded" in out
    _out, err = cli("discipline", "--agency", "NOPE", status=2)
    assert "no agency" in err
