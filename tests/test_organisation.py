"""The reporting line: supervisors without loops, acting supervisors, who decides a request."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from backend import organisation
from backend.db import agencies, employees, units, utcnow
from backend.errors import ApiError
from tests.conftest import app_db, run


@pytest.fixture
def staff(client: TestClient, world: dict[str, Any]) -> list[int]:
    rows = run(client, app_db(client).fetch_all, sa.select(employees.c.id).order_by(employees.c.id))
    return [r["id"] for r in rows]


def sup(client: TestClient, employee_id: int, supervisor_id: int | None) -> None:
    async def go(db: Any) -> None:
        async with db.transaction():
            await organisation.set_supervisor(db, employee_id, supervisor_id)

    run(client, go, app_db(client))


def code(client: TestClient, fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApiError) as caught:
        run(client, fn, *args, **kwargs)
    return caught.value.code


def sup_code(client: TestClient, employee_id: int, supervisor_id: int | None) -> str:
    with pytest.raises(ApiError) as caught:
        sup(client, employee_id, supervisor_id)
    return caught.value.code


@given(st.dictionaries(st.integers(0, 8), st.one_of(st.none(), st.integers(0, 8))))
def test_cycles_are_exactly_the_keys_that_come_back(edges: dict[int, int | None]) -> None:
    def returns(start: int) -> bool:
        node, seen = edges.get(start), set()
        while node is not None and node not in seen:
            if node == start:
                return True
            seen.add(node)
            node = edges.get(node)
        return False

    assert organisation.cycles(edges) == {k for k in edges if returns(k)}


def test_self_and_loops_are_refused(client: TestClient, staff: list[int]) -> None:
    a, b, c = staff[:3]
    sup(client, b, a)
    sup(client, c, b)
    assert sup_code(client, a, a) == "supervisor_is_self"
    assert sup_code(client, a, c) == "supervisor_cycle"
    assert sup_code(client, a, 10**6) == "unknown_supervisor"
    chain = run(client, organisation.chain, app_db(client), c)
    assert chain == [b, a]
    sup(client, c, None)  # clearing is always allowed
    assert run(client, organisation.chain, app_db(client), c) == []


def test_a_supervisor_from_another_agency_is_refused(client: TestClient, staff: list[int]) -> None:
    async def other(db: Any) -> int:
        agency = await db.execute(agencies.insert().values(code="x", name="X", created_at=utcnow()))
        unit = await db.execute(
            units.insert().values(agency_id=agency, code="x", name="X", created_at=utcnow())
        )
        return int(
            await db.execute(
                employees.insert().values(
                    nip="199", name="Other", unit_id=unit, created_at=utcnow()
                )
            )
        )

    outsider = run(client, other, app_db(client))
    assert sup_code(client, staff[0], outsider) == "supervisor_other_agency"


def test_the_delegate_decides_during_the_range(client: TestClient, staff: list[int]) -> None:
    boss, worker, acting = staff[:3]
    sup(client, worker, boss)
    db = app_db(client)
    before = run(client, organisation.approver_for, db, worker, date(2026, 12, 1))
    assert before is not None and before.employee_id == boss and before.acting_for is None

    async def delegate(db: Any) -> int:
        async with db.transaction():
            return await organisation.create_delegation(
                db,
                supervisor_id=boss,
                delegate_id=acting,
                start_date=date(2026, 12, 7),
                end_date=date(2026, 12, 11),
                created_by=None,
            )

    delegation = run(client, delegate, db)
    during = run(client, organisation.approver_for, db, worker, date(2026, 12, 9))
    assert during is not None and during.employee_id == acting and during.acting_for == boss
    after = run(client, organisation.approver_for, db, worker, date(2026, 12, 12))
    assert after is not None and after.employee_id == boss
    assert run(client, organisation.subordinate_count, db, acting, date(2026, 12, 9)) == 1
    assert run(client, organisation.subordinate_count, db, acting, date(2026, 12, 12)) == 0
    assert run(client, organisation.cancel_delegation, db, delegation) is True
    assert run(client, organisation.cancel_delegation, db, delegation) is False
    again = run(client, organisation.approver_for, db, worker, date(2026, 12, 9))
    assert again is not None and again.employee_id == boss


def test_delegation_input_is_checked(client: TestClient, staff: list[int]) -> None:
    db = app_db(client)
    kw: dict[str, Any] = {"start_date": date(2026, 12, 7), "created_by": None}
    same = {"supervisor_id": staff[0], "delegate_id": staff[0], "end_date": date(2026, 12, 8)}
    assert code(client, organisation.create_delegation, db, **kw, **same) == "delegation_to_self"
    inverted = {"supervisor_id": staff[0], "delegate_id": staff[1], "end_date": date(2026, 12, 6)}
    assert code(client, organisation.create_delegation, db, **kw, **inverted) == (
        "validation_failed"
    )


def test_no_supervisor_means_the_unit_operator(client: TestClient, staff: list[int]) -> None:
    assert run(client, organisation.approver_for, app_db(client), staff[0], date.today()) is None


@pytest.mark.parametrize(
    ("raw", "echelon"),
    [
        ("II.a", "II.a"),
        ("ii.a", "II.a"),
        ("IIa", "II.a"),
        ("IV/b", "IV.b"),
        ("", None),
        ("-", None),
    ],
)
def test_echelons_are_normalised(raw: str, echelon: str | None) -> None:
    assert organisation.normalise_echelon(raw) == echelon


def test_bad_echelons_and_kinds_are_refused() -> None:
    for bad in ("V.a", "II.c", "x"):
        with pytest.raises(ApiError):
            organisation.normalise_echelon(bad)
    assert organisation.normalise_position_kind(" Fungsional ") == "fungsional"
    with pytest.raises(ApiError):
        organisation.normalise_position_kind("boss")
