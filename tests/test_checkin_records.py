"""Group commit and the cached hot path: concurrent scans share transactions, every answer
follows its COMMIT, repeats and refusals write nothing, and caches never outlive a revocation."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.checkin.flow import check_in, parse_request
from backend.checkin.reads import Scan
from backend.checkin.sqlite import SqliteRecords
from backend.db import checkins, devices, displays, employees, utcnow
from backend.errors import ApiError
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, count, run
from tests.test_api import code_for, current_token

WIB = ZoneInfo("Asia/Jakarta")


def hot_of(client: TestClient) -> Any:
    return client.app.state.presensi.hot  # type: ignore[attr-defined]


def phones_for(client: TestClient, settings: Settings, world: dict[str, Any]) -> list[Phone]:
    result = []
    for person in world["employees"]:
        phone = Phone(client)
        assert phone.enrol(person["nip"], code_for(client, settings, person["nip"])).status_code
        result.append(phone)
    return result


async def submit_all(client: TestClient, settings: Settings, bodies: list[dict[str, Any]]) -> Any:
    hot = hot_of(client)

    async def one(body: dict[str, Any]) -> Any:
        try:
            return await check_in(
                hot, settings, parse_request(body), ip="127.0.0.1", user_agent="test"
            )
        except ApiError as exc:
            return exc

    return await asyncio.gather(*(one(b) for b in bodies))


def test_concurrent_scans_share_commits_and_all_are_stored(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    phones = phones_for(client, settings, world)
    token = current_token(settings, world["display"]["id"])
    bodies = [p.checkin_body(token) for p in phones]
    hot = hot_of(client)
    batches, items = hot.writer.batches, hot.writer.items
    outcomes = run(client, submit_all, client, settings, bodies)
    assert all(o.created for o in outcomes), outcomes
    assert hot.writer.items - items == len(phones)
    assert hot.writer.batches - batches < len(phones), "no two scans shared a commit"
    ids = {o.body["checkin_id"] for o in outcomes}
    stored = run(client, app_db(client).fetch_all, sa.select(checkins.c.id))
    assert ids == {r["id"] for r in stored}


def test_the_same_scan_twice_in_one_batch_is_one_record(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    phone = phones_for(client, settings, world)[0]
    body = phone.checkin_body(current_token(settings, world["display"]["id"]))
    first, second = run(client, submit_all, client, settings, [body, body])
    assert sorted([first.created, second.created]) == [False, True]
    assert first.body["checkin_id"] == second.body["checkin_id"]
    assert first.body["at"] == second.body["at"]
    assert count(client, checkins) == 1


def test_a_refused_scan_does_not_hold_back_its_batch(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    good, revoked = phones_for(client, settings, world)[:2]
    token = current_token(settings, world["display"]["id"])
    unsigned = Scan(revoked.device_id, utcnow().astimezone(WIB), None, b"", fresh=False)
    run(client, hot_of(client).parties, unsigned)  # the phone cached while still valid
    run(
        client,
        app_db(client).execute,
        devices.update().where(devices.c.id == revoked.device_id).values(revoked_at=utcnow()),
    )
    ok, refused = run(
        client,
        submit_all,
        client,
        settings,
        [good.checkin_body(token), revoked.checkin_body(token)],
    )
    assert ok.created
    assert isinstance(refused, ApiError) and refused.code == "device_revoked"
    assert count(client, checkins) == 1


def test_revoking_a_cached_display_refuses_at_once(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    phone = phones_for(client, settings, world)[0]
    display_id = world["display"]["id"]
    assert phone.check_in(current_token(settings, display_id)).status_code == 201  # now cached
    run(client, app_db(client).execute, displays.update().values(revoked_at=utcnow()))
    response = phone.check_in(current_token(settings, display_id, offset=-1))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "display_revoked"
    assert count(client, checkins) == 1


def test_a_stale_cache_still_answers_in_design_order(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    """Revoked display and a bad signature: the display's refusal comes first, as uncached."""
    phone = phones_for(client, settings, world)[0]
    display_id = world["display"]["id"]
    assert phone.check_in(current_token(settings, display_id)).status_code == 201
    run(client, app_db(client).execute, displays.update().values(revoked_at=utcnow()))
    body = phone.checkin_body(current_token(settings, display_id, offset=-1))
    body["signature"] = body["signature"][::-1]
    response = client.post("/api/v1/checkins", json=body)
    assert response.json()["error"]["code"] == "display_revoked"


def test_an_employee_made_inactive_is_refused_at_once(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    phone = phones_for(client, settings, world)[0]
    display_id = world["display"]["id"]
    assert phone.check_in(current_token(settings, display_id)).status_code == 201
    run(client, app_db(client).execute, employees.update().values(active=False))
    response = phone.check_in(current_token(settings, display_id, offset=-1))
    assert response.json()["error"]["code"] == "employee_inactive"
    assert count(client, checkins) == 1


def test_writer_commits_durably(client: TestClient, settings: Settings) -> None:
    records = hot_of(client).records
    assert records._writer is not None
    if not isinstance(records, SqliteRecords):  # PostgreSQL with its defaults
        assert run(client, records._writer.fetchval, "SHOW synchronous_commit") == "on"
        return
    assert records._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert records._writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
