"""Requests from the phone: submit, approve (with its effect), reject, cancel, escalate."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from PIL import Image
from starlette.testclient import TestClient

from backend import clock, recaps, review, tpp
from backend.db import absences, attachments, employees, staff_requests, units
from backend.organisation import create_delegation
from backend.requests import escalate_due
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, run
from tests.test_api import enrolled

WIB = ZoneInfo("Asia/Jakarta")
# Wednesday 2 December 2026, 09:00 in Jakarta
START = datetime(2026, 12, 2, 9, 0, tzinfo=WIB)


class Moving:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


@pytest.fixture
def now() -> Iterator[Moving]:
    moving = Moving(START)
    with clock.use(moving):
        yield moving


def me(phone: Phone, method: str, path: str, body: Any = None) -> Any:
    """A signed request with the (fake) server time as its ts."""
    return phone.me(method, path, body, ts=int(clock.timestamp() * 1000))


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture
def org(
    now: Moving, client: TestClient, settings: Settings, world: dict[str, Any]
) -> dict[str, Any]:
    """Staff A reports to B, B to C; D has no supervisor. Each with an enrolled phone."""
    db = app_db(client)
    nips = [e["nip"] for e in world["employees"]]
    ids = {
        r["nip"]: r["id"]
        for r in run(client, db.fetch_all, sa.select(employees.c.id, employees.c.nip))
    }
    a, b, c, d, e = (ids[n] for n in nips)
    for who, boss in ((a, b), (b, c)):
        run(
            client,
            db.execute,
            employees.update().where(employees.c.id == who).values(supervisor_id=boss),
        )
    run(
        client,
        db.execute,
        employees.update().where(employees.c.id == a).values(position="Analis Kepegawaian"),
    )
    phones = {
        name: enrolled(client, settings, nip) for name, nip in zip("ABCDE", nips, strict=True)
    }
    return {"ids": dict(zip("ABCDE", (a, b, c, d, e), strict=True)), "nips": nips, "phones": phones}


def photo(fmt: str = "JPEG", with_gps: bool = True) -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    if with_gps:
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x8825] = {1: "S", 2: (6.0, 12.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def upload(phone: Phone, raw: bytes, content_type: str = "image/jpeg") -> Any:
    path = "/api/v1/me/attachments"
    headers = {
        "authorization": phone.me_authorization(
            "POST", path, raw, ts=int(clock.timestamp() * 1000)
        ),
        "content-type": content_type,
    }
    return phone.http.request("POST", path, content=raw, headers=headers)  # type: ignore[attr-defined]


def test_profile_shows_position_supervisor_leave_and_subordinates(
    client: TestClient, org: dict[str, Any], world: dict[str, Any]
) -> None:
    body = me(org["phones"]["A"], "GET", "/api/v1/me").json()
    assert body["employee"]["nip"] == org["nips"][0]
    assert body["employee"]["position"] == "Analis Kepegawaian"
    assert body["employee"]["supervisor"] == {
        "nip": org["nips"][1],
        "name": world["employees"][1]["name"],
    }
    assert body["employee"]["unit"]
    assert body["leave"] == {"cuti_tahunan": {"entitled": 12, "used": 0, "remaining": 12}}
    assert body["supervises"] == 0
    boss = me(org["phones"]["B"], "GET", "/api/v1/me").json()
    assert boss["supervises"] == 1
    assert me(org["phones"]["D"], "GET", "/api/v1/me").json()["employee"]["supervisor"] is None


def test_sick_with_a_photo_approved_excuses_the_day(
    client: TestClient, org: dict[str, Any], world: dict[str, Any]
) -> None:
    a, b = org["phones"]["A"], org["phones"]["B"]
    uploaded = upload(a, photo())
    assert uploaded.status_code == 201, uploaded.text
    attachment_id = uploaded.json()["attachment_id"]
    db = app_db(client)
    stored = run(
        client, db.fetch_one, attachments.select().where(attachments.c.id == attachment_id)
    )
    with Image.open(io.BytesIO(stored["data"])) as kept:
        assert kept.format == "JPEG" and kept.size == (64, 48)
        assert not kept.getexif()  # no Make, no GPS
    assert b"PhoneMaker" not in stored["data"]

    tomorrow = "2026-12-03"
    sent = me(
        a,
        "POST",
        "/api/v1/me/requests",
        {
            "kind": "absence",
            "absence": "sakit",
            "start_date": tomorrow,
            "end_date": tomorrow,
            "reason": "Demam",
            "attachment_id": attachment_id,
        },
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "pending"
    assert sent.json()["approver"]["nip"] == org["nips"][1]
    request_id = sent.json()["request_id"]

    mine = me(a, "GET", "/api/v1/me/requests").json()["requests"]
    assert [r["request_id"] for r in mine] == [request_id]
    assert mine[0]["holder"]["nip"] == org["nips"][1]
    assert [h["action"] for h in mine[0]["history"]] == ["submitted"]

    waiting = me(b, "GET", "/api/v1/me/approvals").json()["approvals"]
    assert [w["request_id"] for w in waiting] == [request_id]
    assert waiting[0]["employee"]["nip"] == org["nips"][0]
    inbox = me(b, "GET", "/api/v1/me/inbox").json()["items"]
    assert any(i["kind"] == "request_to_decide" and i["request_id"] == request_id for i in inbox)
    # C (B's supervisor) does not decide it, nor does A.
    refused = me(
        org["phones"]["C"], "POST", f"/api/v1/me/approvals/{request_id}", {"decision": "approve"}
    )
    assert refused.status_code == 403 and code(refused) == "not_your_approval"
    assert code(me(a, "POST", f"/api/v1/me/approvals/{request_id}", {"decision": "approve"})) == (
        "not_your_approval"
    )

    done = me(
        b,
        "POST",
        f"/api/v1/me/approvals/{request_id}",
        {"decision": "approve", "note": "Semoga lekas sembuh"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "approved"
    entry = run(client, db.fetch_one, absences.select())
    assert (entry["kind"], entry["start_date"], entry["end_date"]) == (
        "sakit",
        date(2026, 12, 3),
        date(2026, 12, 3),
    )
    assert f"request:{request_id}" in entry["created_by"]
    assert f"employee:{org['nips'][1]}" in entry["note"]
    assert attachment_id in entry["attachment"]
    assert done.json()["effect"] == f"absence:{entry['id']}"
    again = me(b, "POST", f"/api/v1/me/approvals/{request_id}", {"decision": "reject"})
    assert again.status_code == 409 and code(again) == "request_not_pending"

    unit = run(client, db.fetch_one, units.select())
    recap = run(
        client,
        recaps.compute,
        db,
        agency_id=unit["agency_id"],
        start=date(2026, 12, 1),
        end=date(2026, 12, 31),
        now=datetime(2027, 1, 1, tzinfo=UTC),
        employee_id=org["ids"]["A"],
    )
    day = recap.employees[0].days[2]
    assert day.day == date(2026, 12, 3) and day.status == "sakit"
    rules = run(client, tpp.rules_for, db, unit["agency_id"])
    deducted = {d.day for d in tpp.deductions(recap.employees[0], rules).deductions}
    assert date(2026, 12, 3) not in deducted and date(2026, 12, 4) in deducted  # absent: counts

    decided = me(a, "GET", "/api/v1/me/inbox").json()["items"]
    assert any(i["kind"] == "request_decided" and i["status"] == "approved" for i in decided)


def test_correction_of_a_missing_check_out_removes_the_deduction(
    client: TestClient, org: dict[str, Any], now: Moving
) -> None:
    db = app_db(client)
    employee_id = org["ids"]["A"]
    yesterday = date(2026, 12, 1)
    run(
        client,
        review.correct,
        db,
        employee_id=employee_id,
        day=yesterday,
        kind="in",
        at=time(7, 20),
        reason="setup",
        actor="test",
    )
    unit = run(client, db.fetch_one, units.select())

    def missing_out() -> bool:
        recap = run(
            client,
            recaps.compute,
            db,
            agency_id=unit["agency_id"],
            start=yesterday,
            end=yesterday,
            now=clock.now(),
            employee_id=employee_id,
        )
        rules = run(client, tpp.rules_for, db, unit["agency_id"])
        return any(
            d.code == "missing_out" for d in tpp.deductions(recap.employees[0], rules).deductions
        )

    assert missing_out()
    a = org["phones"]["A"]
    body = {
        "kind": "correction",
        "date": "2026-12-01",
        "scan": "out",
        "at": "2026-12-01T16:05:00+07:00",
        "reason": "Lupa scan pulang",
    }
    # Asking for the in scan that exists already, or a time still to come, is refused.
    assert (
        code(
            me(
                a,
                "POST",
                "/api/v1/me/requests",
                body | {"scan": "in", "at": "2026-12-01T07:20:00+07:00"},
            )
        )
        == "scan_exists"
    )
    future = me(
        a,
        "POST",
        "/api/v1/me/requests",
        body | {"date": "2026-12-02", "at": "2026-12-02T16:00:00+07:00"},
    )
    assert code(future) == "correction_in_future"
    sent = me(a, "POST", "/api/v1/me/requests", body)
    assert sent.status_code == 201, sent.text
    b = org["phones"]["B"]
    done = me(
        b, "POST", f"/api/v1/me/approvals/{sent.json()['request_id']}", {"decision": "approve"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["effect"].startswith("correction:")
    assert not missing_out()


def test_rejected_changes_nothing_and_cancel_while_pending(
    client: TestClient, org: dict[str, Any]
) -> None:
    a, b = org["phones"]["A"], org["phones"]["B"]
    izin = {
        "kind": "absence",
        "absence": "izin",
        "start_date": "2026-12-07",
        "end_date": "2026-12-08",
        "reason": "Urusan keluarga",
    }
    first = me(a, "POST", "/api/v1/me/requests", izin).json()["request_id"]
    overlap = me(a, "POST", "/api/v1/me/requests", izin | {"start_date": "2026-12-08"})
    assert overlap.status_code == 409 and code(overlap) == "overlapping_request"
    assert (
        me(
            b, "POST", f"/api/v1/me/approvals/{first}", {"decision": "reject", "note": "Tidak"}
        ).json()["status"]
        == "rejected"
    )
    db = app_db(client)
    assert run(client, db.fetch_val, sa.select(sa.func.count()).select_from(absences)) == 0

    second = me(a, "POST", "/api/v1/me/requests", izin).json()["request_id"]
    assert (
        code(me(org["phones"]["C"], "POST", f"/api/v1/me/requests/{second}/cancel")) == "not_found"
    )
    cancelled = me(a, "POST", f"/api/v1/me/requests/{second}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert code(me(a, "POST", f"/api/v1/me/requests/{second}/cancel")) == "request_not_pending"
    assert (
        code(me(b, "POST", f"/api/v1/me/approvals/{second}", {"decision": "approve"}))
        == "request_not_pending"
    )
    assert me(b, "GET", "/api/v1/me/approvals").json()["approvals"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"kind": "leave"}, "validation_failed"),
        ({"kind": ["absence"]}, "validation_failed"),
        ({"absence": ["sakit"]}, "validation_failed"),
        ({"absence": {"x": 1}}, "validation_failed"),
        ({"reason": 5}, "validation_failed"),
        ({"start_date": None}, "validation_failed"),
        ({"attachment_id": 7}, "validation_failed"),
        ({"absence": "sakit"}, "attachment_required"),
        ({"absence": "dl"}, "reference_required"),
        ({"absence": "libur"}, "validation_failed"),
        ({"end_date": "2027-02-20"}, "range_too_long"),
        ({"start_date": "2026-12-05", "end_date": "2026-12-06"}, "not_a_working_day"),
        ({"end_date": "2026-12-01"}, "validation_failed"),
        ({"start_date": "3 Dec"}, "validation_failed"),
        ({"reason": " "}, "validation_failed"),
        ({"reason": "x" * 501}, "validation_failed"),
        ({"attachment_id": "att_nope"}, "unknown_attachment"),
        ({"absence": "cuti_tahunan", "end_date": "2026-12-31"}, "insufficient_leave_balance"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(
    client: TestClient, org: dict[str, Any], body: dict[str, Any], expected: str
) -> None:
    base = {
        "kind": "absence",
        "absence": "izin",
        "start_date": "2026-12-03",
        "end_date": "2026-12-04",
        "reason": "Alasan",
    }
    response = me(org["phones"]["A"], "POST", "/api/v1/me/requests", base | body)
    assert response.status_code in (403, 409, 415, 422), response.text
    assert code(response) == expected
    assert response.json()["error"]["message"] != response.json()["error"]["message_en"]
    db = app_db(client)
    assert run(client, db.fetch_val, sa.select(sa.func.count()).select_from(staff_requests)) == 0


def test_annual_leave_within_the_balance_is_accepted(
    client: TestClient, org: dict[str, Any]
) -> None:
    a = org["phones"]["A"]
    # 14-25 December: 10 working days (no holidays in the test calendar)
    ok = me(
        a,
        "POST",
        "/api/v1/me/requests",
        {
            "kind": "absence",
            "absence": "cuti_tahunan",
            "start_date": "2026-12-14",
            "end_date": "2026-12-25",
            "reason": "Cuti",
        },
    )
    assert ok.status_code == 201, ok.text
    # 2 more fit, 3 do not: the pending 10 count against the 12.
    refused = me(
        a,
        "POST",
        "/api/v1/me/requests",
        {
            "kind": "absence",
            "absence": "cuti_tahunan",
            "start_date": "2026-12-28",
            "end_date": "2026-12-30",
            "reason": "Cuti",
        },
    )
    assert code(refused) == "insufficient_leave_balance"
    b = org["phones"]["B"]
    assert (
        me(
            b, "POST", f"/api/v1/me/approvals/{ok.json()['request_id']}", {"decision": "approve"}
        ).status_code
        == 200
    )
    assert me(a, "GET", "/api/v1/me").json()["leave"]["cuti_tahunan"] == {
        "entitled": 12,
        "used": 10,
        "remaining": 2,
    }


def test_attachments_must_be_small_images(client: TestClient, org: dict[str, Any]) -> None:
    a = org["phones"]["A"]
    assert code(upload(a, b"not an image at all")) == "unsupported_attachment"
    assert code(upload(a, photo("PNG", with_gps=False), "image/jpeg")) == "unsupported_attachment"
    assert code(upload(a, b"GIF89a", "image/gif")) == "unsupported_attachment"
    assert upload(a, photo("PNG", with_gps=False), "image/png").status_code == 201
    big = upload(a, b"\xff" * (2 * 1024 * 1024 + 1))
    assert big.status_code == 413 and code(big) == "payload_too_large"
    db = app_db(client)
    assert run(client, db.fetch_val, sa.select(sa.func.count()).select_from(attachments)) == 1


def test_a_delegate_decides_for_the_supervisor(client: TestClient, org: dict[str, Any]) -> None:
    db = app_db(client)
    ids = org["ids"]
    run(
        client,
        create_delegation,
        db,
        supervisor_id=ids["B"],
        delegate_id=ids["E"],
        start_date=date(2026, 12, 1),
        end_date=date(2026, 12, 10),
        created_by=None,
    )
    sent = me(
        org["phones"]["A"],
        "POST",
        "/api/v1/me/requests",
        {
            "kind": "absence",
            "absence": "izin",
            "start_date": "2026-12-03",
            "end_date": "2026-12-03",
            "reason": "Izin",
        },
    )
    assert sent.json()["approver"]["nip"] == org["nips"][4]
    e = org["phones"]["E"]
    assert me(e, "GET", "/api/v1/me").json()["supervises"] == 1
    assert [x["request_id"] for x in me(e, "GET", "/api/v1/me/approvals").json()["approvals"]] == [
        sent.json()["request_id"]
    ]
    assert (
        me(
            e, "POST", f"/api/v1/me/approvals/{sent.json()['request_id']}", {"decision": "approve"}
        ).json()["status"]
        == "approved"
    )


def test_undecided_requests_escalate_after_the_working_days(
    client: TestClient, org: dict[str, Any], now: Moving, settings: Settings
) -> None:
    a, b, c = (org["phones"][k] for k in "ABC")
    sent = me(
        a,
        "POST",
        "/api/v1/me/requests",
        {
            "kind": "absence",
            "absence": "izin",
            "start_date": "2026-12-14",
            "end_date": "2026-12-14",
            "reason": "Izin",
        },
    )
    request_id = sent.json()["request_id"]
    db = app_db(client)
    assert settings.request_escalate_days == 3
    # Wednesday's request: Thursday and Friday pass, the weekend does not count.
    now.at = datetime(2026, 12, 7, 9, 0, tzinfo=WIB)  # Monday
    assert run(client, escalate_due, db, 3) == []
    now.at = datetime(2026, 12, 8, 0, 30, tzinfo=WIB)  # Tuesday: Thu, Fri, Mon have passed
    assert run(client, escalate_due, db, 3) == [request_id]
    assert run(client, escalate_due, db, 3) == []  # once per hand-over
    assert me(b, "GET", "/api/v1/me/approvals").json()["approvals"] == []
    assert [x["request_id"] for x in me(c, "GET", "/api/v1/me/approvals").json()["approvals"]] == [
        request_id
    ]
    mine = me(a, "GET", "/api/v1/me/requests").json()["requests"][0]
    assert mine["holder"]["nip"] == org["nips"][2] and mine["escalations"] == 1
    assert [(h["action"], h["holder"]["nip"]) for h in mine["history"]] == [
        ("submitted", org["nips"][1]),
        ("escalated", org["nips"][2]),
    ]
    assert any(
        i["kind"] == "request_escalated" for i in me(c, "GET", "/api/v1/me/inbox").json()["items"]
    )
    # Three more working days: C has no supervisor, so it is the unit operators' alone.
    now.at = datetime(2026, 12, 11, 23, 0, tzinfo=WIB)  # Friday night: only Wed and Thu
    assert run(client, escalate_due, db, 3) == []
    now.at = datetime(2026, 12, 12, 0, 30, tzinfo=WIB)  # Saturday: Wed, Thu, Fri
    assert run(client, escalate_due, db, 3) == [request_id]
    mine = me(a, "GET", "/api/v1/me/requests").json()["requests"][0]
    assert mine["holder"]["operator"] is True and mine["escalations"] == 2
    assert me(c, "GET", "/api/v1/me/approvals").json()["approvals"] == []


def test_without_a_supervisor_the_unit_operator_decides(
    client: TestClient, org: dict[str, Any], settings: Settings
) -> None:
    from tests.support.admin import make_admins
    from tests.test_admin_roles import _token_for

    admins = make_admins(client)
    d = org["phones"]["D"]
    sent = me(
        d,
        "POST",
        "/api/v1/me/requests",
        {
            "kind": "absence",
            "absence": "dl",
            "start_date": "2026-12-03",
            "end_date": "2026-12-04",
            "reason": "Rapat",
            "reference": "800/123/2026",
        },
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["approver"]["nip"] is None
    other = me(
        org["phones"]["A"],
        "POST",
        "/api/v1/me/requests",
        {
            "kind": "absence",
            "absence": "izin",
            "start_date": "2026-12-03",
            "end_date": "2026-12-03",
            "reason": "Izin",
        },
    )
    headers = {
        "Authorization": f"Bearer {_token_for(client, settings, 'unit_operator', admins['super_admin'])}"
    }
    listed = client.get("/api/v1/admin/requests?held=operator", headers=headers).json()
    assert [i["request_id"] for i in listed["items"]] == [sent.json()["request_id"]]
    assert client.get("/api/v1/admin/requests", headers=headers).json()["total"] == 2
    one = client.get(f"/api/v1/admin/requests/{sent.json()['request_id']}", headers=headers)
    assert one.status_code == 200 and one.json()["reference"] == "800/123/2026"
    bulk = client.post(
        "/api/v1/admin/requests/decisions",
        json={
            "request_ids": [sent.json()["request_id"], other.json()["request_id"], 999],
            "decision": "approve",
        },
        headers=headers,
    )
    assert bulk.status_code == 200, bulk.text
    assert bulk.json()["results"] == [
        {"request_id": sent.json()["request_id"], "status": "approved"},
        {"request_id": other.json()["request_id"], "status": "approved"},
        {"request_id": 999, "error": "not_found"},
    ]
    db = app_db(client)
    kinds = {r["kind"] for r in run(client, db.fetch_all, absences.select())}
    assert kinds == {"dl", "izin"}
    for odd in ({"decision": ["approve"]}, {"decision": {"a": 1}}, []):
        weird = client.post(
            f"/api/v1/admin/requests/{other.json()['request_id']}", json=odd, headers=headers
        )
        assert weird.status_code in (400, 422), weird.text
    weird = client.post(
        "/api/v1/admin/requests/decisions",
        json={"request_ids": [1], "decision": ["approve"]},
        headers=headers,
    )
    assert weird.status_code == 422
    bad = client.post(
        f"/api/v1/admin/requests/{other.json()['request_id']}",
        json={"decision": "maybe"},
        headers=headers,
    )
    assert bad.status_code == 422


def test_the_console_lists_and_decides_in_bulk(client: TestClient, org: dict[str, Any]) -> None:
    from tests.support.admin import csrf, make_admins, sign_in

    make_admins(client)
    ids = []
    for name, day in (("A", "2026-12-03"), ("D", "2026-12-04")):
        sent = me(
            org["phones"][name],
            "POST",
            "/api/v1/me/requests",
            {
                "kind": "absence",
                "absence": "izin",
                "start_date": day,
                "end_date": day,
                "reason": "Izin",
            },
        )
        ids.append(sent.json()["request_id"])
    sign_in(client, "unit_operator")
    page = client.get("/admin/requests?held=operator")
    assert page.status_code == 200
    assert f'value="{ids[1]}"' in page.text and f'value="{ids[0]}"' not in page.text
    assert "Pengajuan" in page.text  # Indonesian first
    assert f'value="{ids[0]}"' in client.get("/admin/requests").text
    home = client.get("/admin/").text
    assert "Kotak masuk" in home and "Pengajuan yang diputuskan operator: <b>1</b>" in home
    done = client.post(
        "/admin/requests/decisions",
        data={
            "csrf_token": csrf(client),
            "request_id": [str(i) for i in ids],
            "decision": "reject",
        },
    )
    assert done.status_code == 200
    assert f"#{ids[0]}: rejected" in done.text and f"#{ids[1]}: rejected" in done.text
    db = app_db(client)
    statuses = run(client, db.fetch_all, sa.select(staff_requests.c.status))
    assert {r["status"] for r in statuses} == {"rejected"}
    employee = client.get(f"/admin/employees/{org['ids']['A']}")
    assert "Cuti tahunan" in employee.text or "cuti tahunan" in employee.text.lower()


def test_no_supervisor_and_no_operator_is_refused(client: TestClient, org: dict[str, Any]) -> None:
    from backend.db import admin_users

    db = app_db(client)
    run(client, db.execute, admin_users.update().values(active=False))
    body = {
        "kind": "absence",
        "absence": "izin",
        "start_date": "2026-12-03",
        "end_date": "2026-12-03",
        "reason": "Izin",
    }
    refused = me(org["phones"]["D"], "POST", "/api/v1/me/requests", body)
    assert refused.status_code == 422 and code(refused) == "no_supervisor"
    assert "atasan" in refused.json()["error"]["message"]
    # With a supervisor nobody else is needed.
    assert me(org["phones"]["A"], "POST", "/api/v1/me/requests", body).status_code == 201


def test_a_replayed_request_is_refused(client: TestClient, org: dict[str, Any]) -> None:
    a = org["phones"]["A"]
    path = "/api/v1/me/requests"
    body = b'{"kind": "absence", "absence": "izin", "start_date": "2026-12-03", "end_date": "2026-12-03", "reason": "Izin"}'
    header = a.me_authorization("POST", path, body, ts=int(clock.timestamp() * 1000))
    headers = {"authorization": header, "content-type": "application/json"}
    assert client.post(path, content=body, headers=headers).status_code == 201
    again = client.post(path, content=body, headers=headers)
    assert again.status_code == 401 and code(again) == "replayed_request"
    # The same signature over another body is not valid at all.
    other = body.replace(b"Izin", b"Sakit")
    assert code(client.post(path, content=other, headers=headers)) == "bad_signature"
