"""Apel sessions: the tokens, scheduling over the admin API, the check-in that counts, the
display's message and the CLI's token."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import apel, tokens
from backend.admin.security import hash_api_token
from backend.db import (
    admin_users,
    apel_session_units,
    apel_sessions,
    api_tokens,
    audit_log,
    checkins,
    employees,
    make_database,
    offices,
    units,
    utcnow,
)
from backend.errors import ApiError
from backend.settings import Settings
from display_server.rotation import hub_of
from tests.conftest import app_db, count, run
from tests.support.admin import make_admins
from tests.test_api import current_token, enrolled
from tests.test_cli import cli as cli  # the fixture
from tests.test_cli import demo, last_line
from tests.test_display_ws import ORIGIN, WS_URL, paired

WIB = ZoneInfo("Asia/Jakarta")
KEYS = [("k1", b"k" * 32)]


# -- tokens ---------------------------------------------------------------------------------------


def test_apel_token_carries_its_session_and_daily_tokens_none() -> None:
    apel_text = tokens.issue_apel(KEYS, 7, 1000, 42)
    assert apel_text.startswith("a1.k1.7.1000.42.")
    token = tokens.verify(KEYS, apel_text, period=15, grace_windows=1, now=1000 * 15 + 1)
    assert (token.display_id, token.window, token.session_id) == (7, 1000, 42)
    daily = tokens.verify(
        KEYS, tokens.issue(KEYS, 7, 1000), period=15, grace_windows=1, now=1000 * 15 + 1
    )
    assert daily.session_id is None
    assert tokens.parse(apel_text)[:3] == ("k1", 7, 1000)


def test_a_daily_mac_never_makes_an_apel_token_and_the_session_is_signed() -> None:
    mac = tokens.issue(KEYS, 7, 1000).rsplit(".", 1)[1]
    with pytest.raises(ApiError) as refused:
        tokens.verify(KEYS, f"a1.k1.7.1000.42.{mac}", period=15, grace_windows=1, now=15000)
    assert refused.value.code == "bad_mac"
    other_session = tokens.issue_apel(KEYS, 7, 1000, 43).rsplit(".", 1)[1]
    with pytest.raises(ApiError) as refused:
        tokens.verify(KEYS, f"a1.k1.7.1000.42.{other_session}", period=15, grace_windows=1)
    assert refused.value.code == "bad_mac"
    for bad in (
        "a1.k1.7.1000.042." + "A" * 22,
        "a1.k1.7.1000." + "A" * 22,
        "v1.k1.7.1.2." + "A" * 22,
    ):
        with pytest.raises(ApiError) as refused:
            tokens.parse_any(bad)
        assert refused.value.code == "malformed_token"


def _session(**kw: Any) -> apel.Session:
    values: dict[str, Any] = {
        "id": 1, "office_id": 1, "name": "Apel Senin", "weekday": 0, "date": None,
        "start": time(7, 15), "end": time(7, 45), "tz": WIB, "unit_ids": frozenset({1}),
        "created_at": datetime(2026, 10, 1, tzinfo=UTC), "deleted_at": None,
    }  # fmt: skip
    values.update(kw)
    return apel.Session(**values)


def test_a_session_is_held_inside_its_times_and_due_until_it_is_ended() -> None:
    monday = date(2026, 11, 2)
    s = _session()
    assert s.holds_at(datetime.combine(monday, time(7, 15), WIB))
    assert s.holds_at(datetime.combine(monday, time(7, 44, 59), WIB))
    assert not s.holds_at(datetime.combine(monday, time(7, 45), WIB))
    assert not s.holds_at(datetime.combine(monday + timedelta(days=1), time(7, 20), WIB))
    ended = _session(deleted_at=datetime.combine(date(2026, 11, 10), time(12), WIB))
    assert ended.due_on(date(2026, 11, 9)) and not ended.due_on(date(2026, 11, 16))
    assert not ended.holds_at(datetime.combine(date(2026, 11, 16), time(7, 20), WIB))
    late = _session(created_at=datetime.combine(date(2026, 11, 9), time(7, 30), WIB))
    assert not late.due_on(date(2026, 11, 2)) and late.due_on(date(2026, 11, 9))
    once = _session(weekday=None, date=date(2026, 11, 17), start=time(7), end=time(7, 45))
    assert once.due_on(date(2026, 11, 17)) and not once.due_on(date(2026, 11, 24))


# -- scheduling over the admin API ----------------------------------------------------------------


def api_headers(
    client: TestClient, settings: Settings, role: str = "agency_admin"
) -> dict[str, str]:
    db = app_db(client)
    unit = run(client, db.fetch_one, units.select().order_by(units.c.id))
    raw = f"pst_apel_{role}_0123456789abcdef"
    if run(client, db.fetch_val, sa.select(api_tokens.c.id).where(api_tokens.c.name == role)):
        return {"Authorization": f"Bearer {raw}"}
    creator = run(client, db.fetch_val, sa.select(admin_users.c.id).order_by(admin_users.c.id))
    if creator is None:
        creator = make_admins(client)["super_admin"]
    grant = {"agency_id": unit["agency_id"]}
    if role == "unit_operator":
        grant["unit_id"] = unit["id"]
    run(
        client,
        db.execute,
        api_tokens.insert().values(
            name=role, token_hash=hash_api_token(settings.secret_key, raw), prefix=raw[:10],
            role=role, created_by=creator, created_at=utcnow(), **grant,
        ),
    )  # fmt: skip
    return {"Authorization": f"Bearer {raw}"}


def demo_ids(client: TestClient) -> tuple[int, int]:
    db = app_db(client)
    office = run(client, db.fetch_one, offices.select().order_by(offices.c.id))
    unit = run(client, db.fetch_one, units.select().order_by(units.c.id))
    return office["id"], unit["id"]


def held_now(tz: ZoneInfo = WIB) -> tuple[str, str, str]:
    """A date and times that hold a session from well before now to well after."""
    local = datetime.now(tz)
    start = max(datetime.combine(local.date(), time(0), tz), local - timedelta(hours=1))
    end = min(datetime.combine(local.date(), time(23, 59), tz), local + timedelta(hours=1))
    return local.date().isoformat(), start.strftime("%H:%M"), end.strftime("%H:%M")


def test_schedule_list_refuse_overlaps_and_delete(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    headers = api_headers(client, settings)
    office_id, unit_id = demo_ids(client)
    body = {"office_id": office_id, "name": "Apel Senin", "weekday": 0, "start": "07:30",
            "end": "08:00", "unit_ids": [unit_id]}  # fmt: skip
    created = client.post("/api/v1/admin/apel", json=body, headers=headers)
    assert created.status_code == 201, created.text
    weekly = created.json()
    assert (weekly["weekday"], weekly["date"], weekly["start"], weekly["end"]) == (
        0,
        None,
        "07:30",
        "08:00",
    )
    assert weekly["unit_ids"] == [unit_id]
    # 16 November 2026 is a Monday: a single date that meets the weekly one is refused.
    clash = {**body, "weekday": None, "date": "2026-11-16", "start": "07:45", "end": "08:15"}
    del clash["weekday"]
    refused = client.post("/api/v1/admin/apel", json=clash, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "apel_overlaps"
    assert refused.json()["error"]["message"] == (
        "Kantor ini sudah memiliki apel pada waktu yang bertumpang tindih."
    )
    assert count(client, apel_sessions) == 1 and count(client, apel_session_units) == 1
    # Back to back is no overlap; another weekday neither.
    ok = {**clash, "start": "08:00", "end": "08:30"}
    assert client.post("/api/v1/admin/apel", json=ok, headers=headers).status_code == 201
    tuesday = {**body, "weekday": 1}
    assert client.post("/api/v1/admin/apel", json=tuesday, headers=headers).status_code == 201
    listed = client.get("/api/v1/admin/apel", headers=headers).json()["items"]
    assert [s["name"] for s in listed] == ["Apel Senin"] * 3
    gone = client.delete(f"/api/v1/admin/apel/{weekly['id']}", headers=headers)
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert client.delete(f"/api/v1/admin/apel/{weekly['id']}", headers=headers).status_code == 404
    # Ended: the Monday slot is free again.
    assert client.post("/api/v1/admin/apel", json=body, headers=headers).status_code == 201
    actions = run(client, app_db(client).fetch_all, sa.select(audit_log.c.action))
    assert [a[0] for a in actions].count("apel.create") == 4


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"weekday": 7}, "weekday"),
        ({"weekday": True}, "weekday"),
        ({"date": "2026-11-17"}, "either weekday"),  # both
        ({"weekday": None}, "either weekday"),  # neither
        ({"start": "7:30"}, "start"),
        ({"end": "24:00"}, "end"),
        ({"end": "07:30"}, "end: after start"),
        ({"unit_ids": []}, "unit_ids"),
        ({"unit_ids": [999999]}, "unit_ids"),
        ({"office_id": 999999}, "office_id"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_sessions_are_refused_and_nothing_is_written(
    client: TestClient,
    settings: Settings,
    world: dict[str, Any],
    change: dict[str, Any],
    detail: str,
) -> None:
    office_id, unit_id = demo_ids(client)
    body = {"office_id": office_id, "name": "Apel", "weekday": 0, "start": "07:30",
            "end": "08:00", "unit_ids": [unit_id], **change}  # fmt: skip
    if body.get("weekday") is None and "weekday" in change:
        del body["weekday"]
    response = client.post("/api/v1/admin/apel", json=body, headers=api_headers(client, settings))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert detail in response.json()["error"]["detail"]
    assert count(client, apel_sessions) == 0


# -- the check-in ---------------------------------------------------------------------------------


@pytest.fixture
def session_now(client: TestClient, settings: Settings, world: dict[str, Any]) -> dict[str, Any]:
    office_id, unit_id = demo_ids(client)
    day, start, end = held_now()
    body = {"office_id": office_id, "name": "Hari Kesadaran Nasional", "date": day,
            "start": start, "end": end, "unit_ids": [unit_id]}  # fmt: skip
    created = client.post("/api/v1/admin/apel", json=body, headers=api_headers(client, settings))
    assert created.status_code == 201, created.text
    return created.json()


def apel_token(settings: Settings, display_id: int, session_id: int) -> str:
    return tokens.issue_apel(
        settings.qr_keys, display_id, tokens.current_window(settings.qr_period), session_id
    )


def stored_apel(client: TestClient, checkin_id: int) -> Any:
    return run(
        client,
        app_db(client).fetch_val,
        sa.select(checkins.c.apel_session_id).where(checkins.c.id == checkin_id),
    )


def test_one_scan_of_the_apel_code_records_the_apel_and_the_check_in(
    client: TestClient, settings: Settings, world: dict[str, Any], session_now: dict[str, Any]
) -> None:
    display_id = world["display"]["id"]
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    token = apel_token(settings, display_id, session_now["id"])
    first = phone.check_in(token)
    assert first.status_code == 201, first.text
    assert first.json()["apel"] is True and first.json()["status"] == "accepted"
    assert stored_apel(client, first.json()["checkin_id"]) == session_now["id"]
    again = phone.check_in(token)  # a repeat answers the same, and writes nothing
    assert again.status_code == 200 and again.json()["apel"] is True
    assert count(client, checkins) == 1


def test_a_daily_code_during_the_session_is_no_apel(
    client: TestClient, settings: Settings, world: dict[str, Any], session_now: dict[str, Any]
) -> None:
    phone = enrolled(client, settings, world["employees"][1]["nip"])
    response = phone.check_in(current_token(settings, world["display"]["id"]))
    assert response.status_code == 201 and response.json()["apel"] is False
    assert stored_apel(client, response.json()["checkin_id"]) is None


def test_staff_of_units_not_called_and_foreign_sessions_do_not_count(
    client: TestClient, settings: Settings, world: dict[str, Any], session_now: dict[str, Any]
) -> None:
    db = app_db(client)
    _, unit_id = demo_ids(client)
    agency_id = run(client, db.fetch_val, sa.select(units.c.agency_id).where(units.c.id == unit_id))
    other_unit = run(
        client,
        db.fetch_val,
        units.insert()
        .values(agency_id=agency_id, code="LAIN", name="Unit Lain", created_at=utcnow())
        .returning(units.c.id),
    )
    nip = world["employees"][2]["nip"]
    run(
        client,
        db.execute,
        employees.update().where(employees.c.nip == nip).values(unit_id=other_unit),
    )
    moved = enrolled(client, settings, nip)
    response = moved.check_in(apel_token(settings, world["display"]["id"], session_now["id"]))
    assert response.status_code == 201 and response.json()["apel"] is False
    assert stored_apel(client, response.json()["checkin_id"]) is None
    # A session of another office, on a code of this office's display: never counted.
    other_office = run(
        client,
        db.fetch_val,
        offices.insert()
        .values(
            agency_id=agency_id, name="Kantor Lain", timezone="Asia/Jakarta", created_at=utcnow()
        )
        .returning(offices.c.id),
    )
    day, start, end = held_now()
    body = {"office_id": other_office, "name": "Apel", "date": day, "start": start, "end": end,
            "unit_ids": [unit_id]}  # fmt: skip
    foreign = client.post("/api/v1/admin/apel", json=body, headers=api_headers(client, settings))
    assert foreign.status_code == 201, foreign.text
    phone = enrolled(client, settings, world["employees"][3]["nip"])
    response = phone.check_in(apel_token(settings, world["display"]["id"], foreign.json()["id"]))
    assert response.status_code == 201 and response.json()["apel"] is False
    # An ended session's code does not count either.
    client.delete(f"/api/v1/admin/apel/{session_now['id']}", headers=api_headers(client, settings))
    last = enrolled(client, settings, world["employees"][4]["nip"])
    response = last.check_in(apel_token(settings, world["display"]["id"], session_now["id"]))
    assert response.status_code == 201 and response.json()["apel"] is False


# -- what the display shows -----------------------------------------------------------------------


def test_the_display_is_sent_the_apel_code_during_a_session(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    paired(client, world["display"]["pairing_code"])
    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        daily = ws.receive_json()
    assert daily["kind"] == "daily" and daily["token"].startswith("v1.")
    office_id, unit_id = demo_ids(client)
    day, start, end = held_now()
    body = {"office_id": office_id, "name": "Apel pagi Senin", "date": day, "start": start,
            "end": end, "unit_ids": [unit_id]}  # fmt: skip
    session = client.post("/api/v1/admin/apel", json=body, headers=api_headers(client, settings))
    assert session.status_code == 201
    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        message = ws.receive_json()
    assert message["kind"] == "apel"
    assert message["apel"] == {"id": session.json()["id"], "name": "Apel pagi Senin"}
    token = tokens.verify(
        settings.qr_keys, message["token"], period=settings.qr_period, grace_windows=0
    )
    assert token.session_id == session.json()["id"] and token.display_id == world["display"]["id"]
    assert message["url"] == tokens.scan_url(settings.public_url, message["token"])
    # The rotation builds the same for the next window, from the schedule in memory.
    hub = hub_of(client.app.state.presensi)  # type: ignore[attr-defined]
    hub.offices[world["display"]["id"]] = office_id
    upcoming = hub.token_message(world["display"]["id"], token.window + 1)
    assert (
        '"kind":"apel"' in upcoming and f".{token.window + 1}.{session.json()['id']}." in upcoming
    )


def test_cli_display_token_prints_the_apel_code_during_a_session(
    cli: Any,
    database_url: str,
) -> None:
    info = demo(cli)
    display_id = info["display"]["id"]
    assert last_line(cli("display", "token", str(display_id))[0]).startswith(
        "https://presensi.test/s#v1."
    )

    async def schedule() -> int:
        db = make_database(database_url)
        await db.connect()
        try:
            office_id = info["office"]["id"]
            unit_id = await db.fetch_val(
                sa.select(offices.c.unit_id).where(offices.c.id == office_id)
            ) or await db.fetch_val(sa.select(units.c.id).order_by(units.c.id))
            day, start, end = held_now()
            new = apel.parse_new({"office_id": office_id, "name": "Apel", "date": day,
                                  "start": start, "end": end, "unit_ids": [unit_id]})  # fmt: skip
            return await apel.create(db, new, allowed_units=sa.true(), actor="test")
        finally:
            await db.disconnect()

    session_id = asyncio.run(schedule())
    out, err = cli("display", "token", str(display_id))
    assert f"session {session_id}" in err
    text = last_line(out).split("#", 1)[1]
    assert text.startswith("a1.") and f".{session_id}." in text


def test_the_display_page_says_apel_pagi(client: TestClient, world: dict[str, Any]) -> None:
    paired(client, world["display"]["pairing_code"])
    page = client.get("/display")
    assert page.status_code == 200
    assert 'id="apel-banner"' in page.text and "Apel pagi" in page.text


# -- the console ------------------------------------------------------------------------------------


def test_the_console_schedules_refuses_an_overlap_and_ends_a_session(
    client: TestClient, world: dict[str, Any]
) -> None:
    from tests.support.admin import csrf, sign_in

    make_admins(client)
    assert sign_in(client, "agency_admin").status_code == 303
    office_id, unit_id = demo_ids(client)
    form = {"csrf_token": csrf(client, "/admin/apel"), "name": "Apel Senin",
            "office_id": str(office_id), "weekday": "0", "date": "", "start": "07:30",
            "end": "08:00", "unit_ids": [str(unit_id)]}  # fmt: skip
    created = client.post("/admin/apel", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    listing = client.get("/admin/apel")
    assert "Apel Senin" in listing.text and "setiap Senin" in listing.text
    clash = client.post("/admin/apel", data={**form, "date": "2026-11-16"})
    assert clash.status_code == 400
    assert "Kantor ini sudah memiliki apel pada waktu yang bertumpang tindih." in clash.text
    assert count(client, apel_sessions) == 1
    session_id = run(client, app_db(client).fetch_val, sa.select(apel_sessions.c.id))
    page = client.get(f"/admin/apel/{session_id}?date=2026-11-16")
    assert page.status_code == 200, page.text
    assert 'data-count="attended">0<' in page.text
    ended = client.post(
        f"/admin/apel/{session_id}/delete", data={"csrf_token": form["csrf_token"]},
        follow_redirects=False,
    )  # fmt: skip
    assert ended.status_code == 303
    assert "Apel Senin" not in client.get("/admin/apel").text
    assert client.get(f"/admin/apel/{session_id}").status_code == 404


def test_a_unit_operator_schedules_only_for_their_unit(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    db = app_db(client)
    office_id, unit_id = demo_ids(client)
    agency_id = run(client, db.fetch_val, sa.select(units.c.agency_id).where(units.c.id == unit_id))
    other_unit = run(
        client,
        db.fetch_val,
        units.insert()
        .values(agency_id=agency_id, code="LAIN", name="Unit Lain", created_at=utcnow())
        .returning(units.c.id),
    )
    headers = api_headers(client, settings, "unit_operator")
    body = {"office_id": office_id, "name": "Apel", "weekday": 0, "start": "07:30",
            "end": "08:00", "unit_ids": [other_unit]}  # fmt: skip
    refused = client.post("/api/v1/admin/apel", json=body, headers=headers)
    assert refused.status_code == 422 and "unit_ids" in refused.json()["error"]["detail"]
    ok = client.post("/api/v1/admin/apel", json={**body, "unit_ids": [unit_id]}, headers=headers)
    assert ok.status_code == 201, ok.text  # the demo office is the unit's own
    # An agency admin's session that calls another unit is not the operator's to see or end.
    wide = client.post(
        "/api/v1/admin/apel",
        json={**body, "weekday": 3, "unit_ids": [unit_id, other_unit]},
        headers=api_headers(client, settings),
    )
    assert wide.status_code == 201, wide.text
    seen = client.get("/api/v1/admin/apel", headers=headers).json()["items"]
    assert wide.json()["id"] not in [s["id"] for s in seen]
    gone = client.delete(f"/api/v1/admin/apel/{wide.json()['id']}", headers=headers)
    assert gone.status_code == 404
