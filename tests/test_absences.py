"""Absence entries: validated, no overlaps, cancelled rather than deleted, and the days covered."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import absences
from backend.db import absences as absence_table
from backend.db import audit_log, employees, units
from backend.errors import ApiError
from tests.conftest import app_db, count, run


@pytest.fixture
def person(client: TestClient, world: dict[str, Any]) -> dict[str, int]:
    row = run(
        client, app_db(client).fetch_one,
        sa.select(employees.c.id, units.c.agency_id).select_from(employees.join(units)).order_by(employees.c.id),
    )  # fmt: skip
    return {"id": row["id"], "agency_id": row["agency_id"]}


def add(
    client: TestClient, person: dict[str, int], kind: str, start: date, end: date, **kw: Any
) -> int:
    return int(
        run(
            client,
            absences.add,
            app_db(client),
            employee_id=person["id"],
            kind=kind,
            start=start,
            end=end,
            actor="admin:1",
            **kw,
        )
    )


def test_every_kind_is_accepted_and_covers_its_days(
    client: TestClient, person: dict[str, int]
) -> None:
    for i, kind in enumerate(absences.KINDS):
        add(
            client,
            person,
            kind,
            date(2026, 12, 1 + 2 * i),
            date(2026, 12, 2 + 2 * i),
            attachment=f"SK-{i}",
        )
    days = run(
        client,
        absences.covering,
        app_db(client),
        start=date(2026, 12, 1),
        end=date(2026, 12, 31),
        agency_ids=[person["agency_id"]],
    )
    assert len(days) == 2 * len(absences.KINDS)
    assert days[(person["id"], date(2026, 12, 1))][0] == "dl"
    assert days[(person["id"], date(2026, 12, 16))][0] == "izin"
    # a range reaching outside the period is cut to it
    clipped = run(
        client,
        absences.covering,
        app_db(client),
        start=date(2026, 12, 2),
        end=date(2026, 12, 3),
        employee_ids=[person["id"]],
    )
    assert sorted(d for _, d in clipped) == [date(2026, 12, 2), date(2026, 12, 3)]


def test_overlap_bad_kind_and_bad_range_write_nothing(
    client: TestClient, person: dict[str, int]
) -> None:
    add(client, person, "cuti_tahunan", date(2026, 12, 7), date(2026, 12, 11))
    cases = [
        ("izin", date(2026, 12, 11), date(2026, 12, 12), "absence_overlaps"),
        ("libur", date(2026, 12, 20), date(2026, 12, 20), "validation_failed"),
        ("dl", date(2026, 12, 20), date(2026, 12, 19), "validation_failed"),
        ("cuti_besar", date(2025, 1, 1), date(2026, 1, 2), "validation_failed"),
    ]
    for kind, start, end, code in cases:
        with pytest.raises(ApiError) as exc:
            add(client, person, kind, start, end)
        assert exc.value.code == code
    with pytest.raises(ApiError) as exc:
        run(
            client,
            absences.add,
            app_db(client),
            employee_id=999999,
            kind="dl",
            start=date(2026, 12, 1),
            end=date(2026, 12, 1),
            actor="a",
        )
    assert exc.value.code == "not_found"
    assert count(client, absence_table) == 1


def test_cancel_keeps_the_row_and_frees_the_days(
    client: TestClient, person: dict[str, int]
) -> None:
    absence_id = add(client, person, "sakit", date(2026, 12, 7), date(2026, 12, 8))
    run(client, absences.cancel, app_db(client), absence_id=absence_id, actor="admin:2")
    assert (
        run(
            client,
            absences.covering,
            app_db(client),
            start=date(2026, 12, 1),
            end=date(2026, 12, 31),
        )
        == {}
    )
    add(client, person, "izin", date(2026, 12, 8), date(2026, 12, 8))
    assert count(client, absence_table) == 2
    with pytest.raises(ApiError):
        run(client, absences.cancel, app_db(client), absence_id=absence_id, actor="admin:2")
    actions = [
        r[0]
        for r in run(
            client, app_db(client).fetch_all, sa.select(audit_log.c.action).order_by(audit_log.c.id)
        )
    ]
    assert actions[-3:] == ["absence.add", "absence.cancel", "absence.add"]
