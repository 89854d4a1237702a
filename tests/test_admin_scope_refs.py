"""Scope checks for every id a form or API body carries, not only the one in the URL: a unit
operator cannot place staff in another unit's office or roster them onto another unit's shift,
and does not see that unit's shifts; a create for another agency is refused, never re-scoped;
booleans are strict."""

from __future__ import annotations

from datetime import time
from typing import Any

from starlette.testclient import TestClient

from backend.db import agencies, employees, offices, roster_entries, shifts, units, utcnow
from tests.conftest import app_db, count, run
from tests.support.admin import csrf, sign_in
from tests.test_admin_api import API, error, token_for


def neighbours(client: TestClient) -> dict[str, int]:
    """A second unit in the demo agency with its own office and shift, a shared office and
    shift of the agency, and a second agency."""
    db = app_db(client)
    unit = run(client, db.fetch_one, units.select().order_by(units.c.id))
    agency_id = unit["agency_id"]

    async def make() -> dict[str, int]:
        now = utcnow()
        other_unit = await db.fetch_val(
            units.insert()
            .values(agency_id=agency_id, code="LAIN", name="Unit Lain", created_at=now)
            .returning(units.c.id)
        )
        other_agency = await db.fetch_val(
            agencies.insert()
            .values(code="DINAS2", name="Dinas Dua", created_at=now)
            .returning(agencies.c.id)
        )

        async def office(unit_id: int | None, name: str) -> int:
            return int(
                await db.fetch_val(
                    offices.insert()
                    .values(
                        agency_id=agency_id,
                        unit_id=unit_id,
                        name=name,
                        timezone="Asia/Jakarta",
                        created_at=now,
                    )
                    .returning(offices.c.id)
                )
            )

        async def shift(unit_id: int | None, code: str) -> int:
            return int(
                await db.fetch_val(
                    shifts.insert()
                    .values(
                        agency_id=agency_id,
                        unit_id=unit_id,
                        code=code,
                        name=f"Sif {code}",
                        start_time=time(7),
                        end_time=time(15),
                        created_at=now,
                    )
                    .returning(shifts.c.id)
                )
            )

        return {
            "unit": unit["id"],
            "agency": agency_id,
            "other_unit": int(other_unit),
            "other_agency": int(other_agency),
            "other_office": await office(int(other_unit), "Kantor Unit Lain"),
            "shared_office": await office(None, "Kantor Bersama"),
            "own_office": await office(unit["id"], "Kantor Sendiri"),
            "other_shift": await shift(int(other_unit), "XQ"),
            "shared_shift": await shift(None, "SB"),
            "own_shift": await shift(unit["id"], "OW"),
        }

    return run(client, make)


def first_employee(client: TestClient) -> dict[str, Any]:
    row = run(client, app_db(client).fetch_one, employees.select().order_by(employees.c.id))
    return dict(row._mapping)


def test_a_unit_operator_places_staff_only_in_offices_they_may_use(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = token_for(client, "unit_operator")
    ids = neighbours(client)
    headers = {"Authorization": f"Bearer {token}"}
    person = first_employee(client)
    url = f"{API}/employees/{person['id']}"
    refused = client.patch(url, json={"office_id": ids["other_office"]}, headers=headers)
    assert refused.status_code == 422 and error(refused) == "validation_failed"
    body = {"nip": "199203042019031005", "name": "Lina", "unit_id": ids["unit"]}
    created = client.post(
        f"{API}/employees", json=body | {"office_id": ids["other_office"]}, headers=headers
    )
    assert created.status_code == 422 and error(created) == "validation_failed"
    assert first_employee(client)["office_id"] == person["office_id"]
    for allowed in ("shared_office", "own_office"):
        ok = client.patch(url, json={"office_id": ids[allowed]}, headers=headers)
        assert ok.status_code == 200 and ok.json()["office_id"] == ids[allowed], ok.text
    # The same on the console's form.
    client.cookies.clear()
    sign_in(client, "unit_operator")
    page = client.post(
        f"/admin/employees/{person['id']}",
        data={
            "csrf_token": csrf(client),
            "name": person["name"],
            "kind": person["kind"],
            "unit_id": str(ids["unit"]),
            "office_id": str(ids["other_office"]),
        },
    )
    assert page.status_code == 400
    assert first_employee(client)["office_id"] == ids["own_office"]


def test_a_unit_operator_rosters_only_onto_shifts_they_may_use(
    client: TestClient, world: dict[str, Any]
) -> None:
    token_for(client, "unit_operator")  # the admins
    ids = neighbours(client)
    person = first_employee(client)
    sign_in(client, "unit_operator")
    page = client.get("/admin/schedules")
    assert page.status_code == 200
    assert "XQ" not in page.text and "SB" in page.text and "OW" in page.text
    form = {"employee_id": str(person["id"]), "start": "2026-11-02", "end": "2026-11-03"}
    refused = client.post(
        "/admin/schedules/roster",
        data=form | {"csrf_token": csrf(client), "shift": str(ids["other_shift"])},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert count(client, roster_entries) == 0
    done = client.post(
        "/admin/schedules/roster",
        data=form | {"csrf_token": csrf(client), "shift": str(ids["shared_shift"])},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert count(client, roster_entries) == 2
    # An agency admin sees every unit's shifts.
    client.cookies.clear()
    sign_in(client, "agency_admin")
    assert "XQ" in client.get("/admin/schedules").text


def test_a_create_for_another_agency_is_refused_not_rescoped(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = token_for(client, "agency_admin")
    ids = neighbours(client)
    headers = {"Authorization": f"Bearer {token}"}
    before = count(client, units), count(client, offices)
    unit = client.post(
        f"{API}/units",
        json={"agency_id": ids["other_agency"], "code": "X1", "name": "X"},
        headers=headers,
    )
    assert unit.status_code == 403 and error(unit) == "forbidden"
    office = client.post(
        f"{API}/offices",
        json={"agency_id": ids["other_agency"], "name": "X", "timezone": "Asia/Jakarta"},
        headers=headers,
    )
    assert office.status_code == 403 and error(office) == "forbidden"
    imported = client.post(
        f"{API}/employees/import?agency_id={ids['other_agency']}",
        content=b"nip,name,unit\n199203042019031005,Lina,LAIN\n",
        headers=headers | {"content-type": "text/csv"},
    )
    assert imported.status_code == 403 and error(imported) == "forbidden"
    assert (count(client, units), count(client, offices)) == before
    own = client.post(
        f"{API}/units",
        json={"agency_id": ids["agency"], "code": "X1", "name": "X"},
        headers=headers,
    )
    assert own.status_code == 201 and own.json()["agency_id"] == ids["agency"]


def test_active_must_be_a_json_boolean(client: TestClient, world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'agency_admin')}"}
    person = first_employee(client)
    url = f"{API}/employees/{person['id']}"
    for value in ("maybe", "false", 0, 1, None, [], {}):
        response = client.patch(url, json={"active": value}, headers=headers)
        assert response.status_code == 422 and error(response) == "validation_failed", value
    assert first_employee(client)["active"] is True
    off = client.patch(url, json={"active": False}, headers=headers)
    assert off.status_code == 200 and off.json()["active"] is False
    dry = client.post(
        f"{API}/employees/import?dry_run=maybe",
        content=b"nip,name,unit\n",
        headers=headers | {"content-type": "text/csv"},
    )
    assert dry.status_code == 422 and error(dry) == "validation_failed"


def test_strict_booleans_in_fields() -> None:
    import pytest

    from backend.admin import fields
    from backend.employees import ValidationError

    assert fields.boolean(True) is True and fields.boolean("on") is True
    assert fields.boolean("") is False and fields.boolean("0") is False
    for value in ("maybe", 2, None, "tru"):
        with pytest.raises(ValidationError):
            fields.boolean(value)
    assert fields.int_or_none(fields.MAX_ID) == fields.MAX_ID
    for value in (fields.MAX_ID + 1, 2**63, -1, "²", "12a", 1.5, True):
        with pytest.raises(ValidationError):
            fields.int_or_none(value)
    for value in ("0001-01-01", "9999-12-31", "1899-12-31", "x"):
        with pytest.raises(ValidationError):
            fields.day(value)
    assert str(fields.day("2026-11-23")) == "2026-11-23"
