"""TPP deductions on the fixture month, the agency's own rules, and the 100 % cap."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from databases import Database
from starlette.testclient import TestClient

from backend import recaps, tpp
from backend.db import audit_log, checkins, corrections
from backend.errors import ApiError
from backend.recaps import EmployeeRecap, evaluate_day
from backend.rosters import span
from tests import fixtures_month as fm
from tests.conftest import app_db, run


async def labels(db: Database) -> dict[str, str]:
    """ref -> "MM-DD HH:MM" local time of every scan and correction."""
    found = {}
    for table, prefix in ((checkins, "scan"), (corrections, "correction")):
        for row in await db.fetch_all(sa.select(table.c.id, table.c.at)):
            at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=UTC)
            found[f"{prefix}:{row['id']}"] = fm.local_label(at)
    return found


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    return run(client, fm.load, app_db(client))


def month_recap(client: TestClient, month: dict[str, Any]) -> recaps.Recap:
    return run(
        client, recaps.compute, app_db(client), agency_id=month["agency_id"],
        start=fm.START, end=fm.END, now=fm.NOW,
    )  # fmt: skip


def test_deductions_match_the_hand_computed_table(
    client: TestClient, month: dict[str, Any]
) -> None:
    rules = run(client, tpp.rules_for, app_db(client), month["agency_id"])
    assert rules == tpp.DEFAULT_RULES
    names = run(client, labels, app_db(client))
    for emp in month_recap(client, month).employees:
        result = tpp.deductions(emp, rules)
        got = [
            (d.day, d.code, d.basis_points, tuple(names[r] for r in d.refs))
            for d in result.deductions
        ]
        assert got == fm.EXPECTED_TPP[emp.name], emp.name
        assert result.total == tpp.total(emp, rules) == fm.EXPECTED_TPP_TOTAL[emp.name], emp.name


def test_an_agency_edits_its_rules(client: TestClient, month: dict[str, Any]) -> None:
    db = app_db(client)
    run(
        client,
        tpp.set_rule,
        db,
        agency_id=month["agency_id"],
        code="absent",
        basis_points=500,
        actor="admin:1",
    )
    run(
        client,
        tpp.set_rule,
        db,
        agency_id=month["agency_id"],
        code="absent",
        basis_points=450,
        actor="admin:1",
    )
    run(
        client,
        tpp.set_rule,
        db,
        agency_id=month["agency_id"],
        code="TL1",
        basis_points=0,
        actor="admin:1",
    )
    rules = run(client, tpp.rules_for, db, month["agency_id"])
    assert (rules["absent"], rules["TL1"], rules["TL2"]) == (450, 0, 100)
    people = {e.name: e for e in month_recap(client, month).employees}
    assert tpp.deductions(people["Eka Putri"], rules).total == 450
    ani = tpp.deductions(people["Ani Lestari"], rules)
    assert ani.total == tpp.total(people["Ani Lestari"], rules) == 525
    assert "TL1" not in [d.code for d in ani.deductions]
    audited = run(
        client, db.fetch_all, sa.select(audit_log.c.detail).where(audit_log.c.action == "tpp.rule")
    )
    assert '"from":300' in audited[0]["detail"] and '"from":500' in audited[1]["detail"]
    with pytest.raises(ApiError) as exc:
        run(
            client,
            tpp.set_rule,
            db,
            agency_id=month["agency_id"],
            code="TL9",
            basis_points=1,
            actor="a",
        )
    assert exc.value.code == "validation_failed"


def test_total_is_capped_at_100_percent() -> None:
    start = date(2026, 12, 1)
    emp = EmployeeRecap(1, "1", "A", 1, "U")
    later = datetime(2027, 2, 1, tzinfo=fm.WIB)
    for i in range(40):
        day = start + timedelta(days=i)
        emp.days.append(evaluate_day(day, span(day, time(7, 30), time(16), fm.WIB), [], now=later))
    result = tpp.deductions(emp, tpp.DEFAULT_RULES)
    assert len(result.deductions) == 40 and result.uncapped == 12_000
    assert result.total == tpp.total(emp, tpp.DEFAULT_RULES) == tpp.CAP == 10_000


@pytest.mark.parametrize(
    ("text", "points"), [("0,5", 50), ("1.25", 125), ("3", 300), ("100", 10_000), ("0", 0)]
)
def test_parse_percent(text: str, points: int) -> None:
    assert tpp.parse_percent(text) == points
    assert tpp.parse_percent(tpp.percent(points)) == points


@pytest.mark.parametrize("text", ["", "-1", "1.255", "abc", "100.01", "1e2"])
def test_parse_percent_rejects(text: str) -> None:
    with pytest.raises(ApiError):
        tpp.parse_percent(text)
