"""E-Activity: the phone's diary API and the supervisor's validation (backend/activities.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import clock
from backend.activities import parse_approval_id
from backend.db import (
    activity_days,
    activity_entries,
    agencies,
    employees,
    holidays,
    skp_targets,
    utcnow,
)
from backend.organisation import create_delegation
from backend.rosters import create_shift, set_roster
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, count, run
from tests.test_api import enrolled

# Monday 16 November 2026, 10:00 WIB.
NOW = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)
FRIDAY = date(2026, 11, 13)
SUNDAY = date(2026, 11, 15)


def entry(start: str = "08:00", end: str = "09:30", **kw: Any) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "description": kw.pop("description", "Menyusun laporan bulanan"),
        "output_quantity": kw.pop("output_quantity", 1),
        "output_unit": kw.pop("output_unit", "laporan"),
        **kw,
    }


def signed(phone: Phone, method: str, path: str, body: Any = None) -> Any:
    """A signed request whose time is the (faked) server clock's."""
    return phone.me(method, path, body, ts=int(clock.timestamp() * 1000))


def put(phone: Phone, day: date, entries: list[dict[str, Any]], submit: bool = True) -> Any:
    return signed(
        phone,
        "PUT",
        f"/api/v1/me/activities/{day.isoformat()}",
        {"entries": entries, "submit": submit},
    )


def code(response: Any) -> str:
    body = response.json()
    assert body["error"]["message"] and body["error"]["message_en"]
    return str(body["error"]["code"])


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    with clock.use(NOW):
        yield


def _ids(client: TestClient) -> list[int]:
    rows = run(client, app_db(client).fetch_all, sa.select(employees.c.id).order_by(employees.c.id))
    return [r["id"] for r in rows]


@pytest.fixture
def org(client: TestClient, settings: Settings, world: dict[str, Any]) -> dict[str, Any]:
    """staff (0, 2) report to boss (1), who reports to head (3); stranger (4) supervises none."""
    ids = _ids(client)
    db = app_db(client)
    for staff, sup in ((0, 1), (2, 1), (1, 3)):
        run(
            client,
            db.execute,
            employees.update().where(employees.c.id == ids[staff]).values(supervisor_id=ids[sup]),
        )
    nips = [e["nip"] for e in world["employees"]]
    phones = {
        name: enrolled(client, settings, nips[i])
        for name, i in (("staff", 0), ("boss", 1), ("peer", 2), ("head", 3), ("stranger", 4))
    }
    return {"ids": ids, "phones": phones, "nips": nips}


def test_submit_a_day_and_read_the_month(client: TestClient, org: dict[str, Any]) -> None:
    staff = org["phones"]["staff"]
    response = put(staff, FRIDAY, [entry("10:00", "11:00"), entry("07:30", "09:30")])
    assert response.status_code == 200, response.text
    assert response.json() == {"date": "2026-11-13", "status": "submitted", "minutes": 180}

    month = signed(staff, "GET", "/api/v1/me/activities?month=2026-11")
    assert month.status_code == 200, month.text
    assert month.headers["cache-control"] == "no-store"
    (day,) = month.json()["days"]
    assert day["status"] == "submitted" and day["minutes"] == 180 and day["note"] == ""
    assert [e["start"] for e in day["entries"]] == ["07:30", "10:00"]  # ordered by time
    assert day["entries"][0]["output_quantity"] == 1
    other = signed(org["phones"]["peer"], "GET", "/api/v1/me/activities?month=2026-11")
    assert other.json()["days"] == []


def test_a_draft_is_replaced_as_a_whole(client: TestClient, org: dict[str, Any]) -> None:
    staff = org["phones"]["staff"]
    first = put(staff, FRIDAY, [entry("08:00", "09:00"), entry("09:00", "10:00")], submit=False)
    assert first.json() == {"date": "2026-11-13", "status": "draft", "minutes": 120}
    second = put(staff, FRIDAY, [entry("13:00", "13:45")], submit=False)
    assert second.json()["minutes"] == 45
    assert count(client, activity_entries) == 1
    assert count(client, activity_days) == 1


@pytest.mark.parametrize(
    ("day", "entries", "expected"),
    [
        (FRIDAY, [entry("09:00", "10:00"), entry("09:30", "11:00")], "activity_overlap"),
        (FRIDAY, [entry("10:00", "09:00")], "activity_times_inverted"),
        (FRIDAY, [entry("10:00", "10:00")], "activity_times_inverted"),
        (FRIDAY, [entry(description="terlalu")], "activity_description_length"),
        (FRIDAY, [entry(description="          x ")], "activity_description_length"),
        (FRIDAY, [entry(description="x" * 1001)], "activity_description_length"),
        (FRIDAY, [entry(output_quantity=0)], "activity_quantity_invalid"),
        (FRIDAY, [entry(output_quantity=-2)], "activity_quantity_invalid"),
        (FRIDAY, [entry(output_quantity="3")], "activity_quantity_invalid"),
        (FRIDAY, [entry(output_unit=" ")], "activity_unit_invalid"),
        (FRIDAY, [entry(target_id="SKP-404")], "activity_unknown_target"),
        (FRIDAY, [entry(start="8:00")], "invalid_request"),
        (FRIDAY, [], "activity_empty"),
        (SUNDAY, [entry()], "activity_not_working_day"),
        (date(2026, 11, 17), [entry()], "activity_future_day"),
        (date(2026, 11, 10), [entry()], "activity_deadline_passed"),  # 4 working days ago
    ],
)
def test_bad_input_has_its_code_and_writes_nothing(
    client: TestClient,
    org: dict[str, Any],
    day: date,
    entries: list[dict[str, Any]],
    expected: str,
) -> None:
    response = put(org["phones"]["staff"], day, entries)
    assert response.status_code in (400, 422), response.text
    assert code(response) == expected
    assert count(client, activity_days) == 0
    assert count(client, activity_entries) == 0


def test_three_working_days_late_is_still_accepted(client: TestClient, org: dict[str, Any]) -> None:
    # Wednesday 11th: Thursday, Friday and Monday are the three working days after it.
    response = put(org["phones"]["staff"], date(2026, 11, 11), [entry()])
    assert response.status_code == 200, response.text


def test_holidays_do_not_count_as_working_days(client: TestClient, org: dict[str, Any]) -> None:
    agency = run(client, app_db(client).fetch_val, sa.select(agencies.c.id))
    run(
        client,
        app_db(client).execute,
        holidays.insert().values(
            agency_id=agency,
            day=date(2026, 11, 12),
            name="Libur daerah",
            kind="local",
            source="manual",
            updated_by="test",
            updated_at=utcnow(),
        ),
    )
    # Tuesday 10th: the 12th is a holiday, so only 11, 13 and 16 are after it.
    assert put(org["phones"]["staff"], date(2026, 11, 10), [entry()]).status_code == 200
    refused = put(org["phones"]["staff"], date(2026, 11, 12), [entry()])
    assert code(refused) == "activity_not_working_day"


def test_a_rostered_shift_on_a_sunday_allows_a_diary(
    client: TestClient, org: dict[str, Any]
) -> None:
    db = app_db(client)
    agency = run(client, db.fetch_val, sa.select(agencies.c.id))
    shift = run(
        client,
        create_shift,
        db,
        agency_id=agency,
        unit_id=None,
        code="P",
        name="Pagi",
        start=time(7),
        end=time(14),
        actor="test",
    )
    run(
        client,
        set_roster,
        db,
        employee_id=org["ids"][0],
        days=[SUNDAY],
        shift_id=shift,
        actor="test",
    )
    assert put(org["phones"]["staff"], SUNDAY, [entry()]).status_code == 200
    assert code(put(org["phones"]["peer"], SUNDAY, [entry()])) == "activity_not_working_day"


def test_skp_targets_of_the_year_are_accepted(client: TestClient, org: dict[str, Any]) -> None:
    run(
        client,
        app_db(client).execute,
        skp_targets.insert().values(
            employee_id=org["ids"][0],
            year=2026,
            target_id="SKP-1",
            description="Laporan",
            updated_by="test",
            updated_at=utcnow(),
        ),
    )
    response = put(org["phones"]["staff"], FRIDAY, [entry(target_id="SKP-1")])
    assert response.status_code == 200, response.text
    month = signed(org["phones"]["staff"], "GET", "/api/v1/me/activities?month=2026-11").json()
    assert month["target_ids"] == ["SKP-1"]
    assert month["days"][0]["entries"][0]["target_id"] == "SKP-1"
    # Another employee's target is not theirs.
    assert code(put(org["phones"]["peer"], FRIDAY, [entry(target_id="SKP-1")])) == (
        "activity_unknown_target"
    )


def approvals(phone: Phone) -> list[dict[str, Any]]:
    response = signed(phone, "GET", "/api/v1/me/approvals")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["approvals"]
    return items


def decide(phone: Phone, approval: str, **body: Any) -> Any:
    return signed(phone, "POST", f"/api/v1/me/approvals/{approval}", body)


def test_return_resubmit_approve(client: TestClient, org: dict[str, Any]) -> None:
    p = org["phones"]
    assert put(p["staff"], FRIDAY, [entry("08:00", "10:00")]).status_code == 200
    (item,) = approvals(p["boss"])
    assert item["type"] == "activity" and item["id"].startswith("activity-")
    assert item["employee"]["nip"] == org["nips"][0]
    assert item["date"] == "2026-11-13" and item["minutes"] == 120 and not item["escalated"]
    assert approvals(p["stranger"]) == [] and approvals(p["head"]) == []

    assert code(decide(p["stranger"], item["id"], decision="approve")) == "activity_not_supervised"
    assert code(decide(p["boss"], item["id"], decision="return")) == "activity_note_required"
    assert code(put(p["staff"], FRIDAY, [entry()])) == "activity_awaiting_validation"

    returned = decide(p["boss"], item["id"], decision="return", note="Lengkapi jumlah surat")
    assert returned.status_code == 200, returned.text
    assert returned.json()["status"] == "returned"
    day = signed(p["staff"], "GET", "/api/v1/me/activities?month=2026-11").json()["days"][0]
    assert day["status"] == "returned" and day["note"] == "Lengkapi jumlah surat"
    assert approvals(p["boss"]) == []

    # Resubmitted a working day later still (it has its own deadline from the return).
    with clock.advance(timedelta(days=1)):
        again = put(p["staff"], FRIDAY, [entry("08:00", "10:00", output_quantity=3)])
        assert again.json()["status"] == "submitted", again.text
        (item,) = approvals(p["boss"])
        fewer = decide(p["boss"], item["id"], decision="approve", minutes=90)
        assert code(fewer) == "activity_note_required"
        assert code(decide(p["boss"], item["id"], decision="approve", minutes=121)) == (
            "activity_minutes_invalid"
        )
        ok = decide(p["boss"], item["id"], decision="approve", minutes=90, note="Rapat singkat")
        assert ok.json() == {
            "id": item["id"],
            "type": "activity",
            "date": "2026-11-13",
            "status": "approved",
            "minutes": 90,
        }
        assert code(decide(p["boss"], item["id"], decision="approve")) == "activity_not_submitted"
        assert code(put(p["staff"], FRIDAY, [entry()])) == "activity_locked"
    day = signed(p["staff"], "GET", "/api/v1/me/activities?month=2026-11").json()["days"][0]
    assert day["status"] == "approved" and day["approved_minutes"] == 90


def test_reject_is_final(client: TestClient, org: dict[str, Any]) -> None:
    p = org["phones"]
    put(p["staff"], FRIDAY, [entry()])
    (item,) = approvals(p["boss"])
    assert decide(p["boss"], item["id"], decision="reject", note="Bukan hari kerja").json()[
        "status"
    ] == ("rejected")
    assert code(put(p["staff"], FRIDAY, [entry()])) == "activity_locked"


def test_an_unvalidated_echelon_is_accepted_on_submission(
    client: TestClient, org: dict[str, Any]
) -> None:
    db = app_db(client)
    run(
        client,
        db.execute,
        employees.update().where(employees.c.id == org["ids"][0]).values(echelon="II.b"),
    )
    response = put(org["phones"]["staff"], FRIDAY, [entry()])
    assert response.json()["status"] == "accepted_auto"
    assert approvals(org["phones"]["boss"]) == []
    # An agency that validates everyone: the same echelon waits for the supervisor.
    run(client, db.execute, agencies.update().values(activity_unvalidated_echelons=""))
    assert put(org["phones"]["staff"], date(2026, 11, 16), [entry()]).json()["status"] == (
        "submitted"
    )


def test_the_delegate_decides_while_acting(client: TestClient, org: dict[str, Any]) -> None:
    p = org["phones"]
    put(p["staff"], FRIDAY, [entry()])

    async def delegate() -> None:
        db = app_db(client)
        async with db.transaction():
            await create_delegation(
                db,
                supervisor_id=org["ids"][1],
                delegate_id=org["ids"][4],
                start_date=date(2026, 11, 16),
                end_date=date(2026, 11, 20),
                created_by=None,
            )

    run(client, delegate)
    (item,) = approvals(p["stranger"])
    assert approvals(p["boss"]) == []  # the supervisor does not decide while a delegate acts
    assert code(decide(p["boss"], item["id"], decision="approve")) == "activity_not_supervised"
    assert decide(p["stranger"], item["id"], decision="approve").json()["status"] == "approved"


def test_undecided_days_escalate_after_the_validation_deadline(
    client: TestClient, org: dict[str, Any]
) -> None:
    p = org["phones"]
    put(p["staff"], FRIDAY, [entry()])
    due = run(client, app_db(client).fetch_val, sa.select(activity_days.c.validation_due))
    assert due == date(2026, 11, 23)  # five working days after Monday the 16th
    with clock.use(datetime(2026, 11, 23, 3, tzinfo=UTC)):
        assert approvals(p["head"]) == []
    with clock.use(datetime(2026, 11, 24, 3, tzinfo=UTC)):
        (item,) = approvals(p["head"])
        assert item["escalated"] is True
        assert len(approvals(p["boss"])) == 1  # the supervisor still may
        assert decide(p["head"], item["id"], decision="approve").json()["status"] == "approved"


@pytest.mark.parametrize("approval", ["activity-0", "activity-x", "req-1", "activity-01", "7"])
def test_other_approval_ids_are_not_found(
    client: TestClient, org: dict[str, Any], approval: str
) -> None:
    response = decide(org["phones"]["boss"], approval, decision="approve")
    assert response.status_code == 404 and code(response) == "not_found"


def test_approval_ids() -> None:
    assert parse_approval_id("activity-12") == 12
    assert parse_approval_id("activity-") is None
    assert parse_approval_id("request-12") is None


def test_a_body_signed_for_other_entries_is_refused(
    client: TestClient, org: dict[str, Any]
) -> None:
    staff = org["phones"]["staff"]
    path = f"/api/v1/me/activities/{FRIDAY.isoformat()}"
    signed_body = b'{"entries": [], "submit": false}'
    sent = b'{"entries": [], "submit": true}'
    header = staff.me_authorization("PUT", path, signed_body, ts=int(clock.timestamp() * 1000))
    response = client.put(
        path, content=sent, headers={"authorization": header, "content-type": "application/json"}
    )
    assert code(response) == "bad_signature"
    assert count(client, activity_days) == 0


def test_bad_month_and_date(client: TestClient, org: dict[str, Any]) -> None:
    staff = org["phones"]["staff"]
    assert code(signed(staff, "GET", "/api/v1/me/activities?month=2026-13")) == "invalid_request"
    assert code(signed(staff, "GET", "/api/v1/me/activities")) == "invalid_request"
    # A path that names no day is no resource (as for any id beyond the columns).
    bad = signed(staff, "PUT", "/api/v1/me/activities/2026-02-30", {"entries": []})
    assert bad.status_code == 404 and code(bad) == "not_found"


def test_a_replayed_put_is_refused_and_changes_nothing(
    client: TestClient, org: dict[str, Any]
) -> None:
    staff = org["phones"]["staff"]
    path = f"/api/v1/me/activities/{FRIDAY.isoformat()}"
    body = json.dumps({"entries": [entry()], "submit": False}).encode()
    header = staff.me_authorization("PUT", path, body, ts=int(clock.timestamp() * 1000))
    headers = {"authorization": header, "content-type": "application/json"}
    assert client.put(path, content=body, headers=headers).json()["status"] == "draft"
    assert put(staff, FRIDAY, [entry("13:00", "14:00")], submit=False).status_code == 200
    replay = client.put(path, content=body, headers=headers)
    assert code(replay) == "replayed_request"
    month = signed(staff, "GET", "/api/v1/me/activities?month=2026-11").json()
    assert [e["start"] for e in month["days"][0]["entries"]] == ["13:00"]
