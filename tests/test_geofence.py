"""The office geofence: the phone's reported position flags the record (never refuses it), the
admin sets the fence on the office page and in the API, and positions are kept only a while."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import geofence
from backend.db import checkins, offices
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, count, run
from tests.support.admin import csrf, make_admins, sign_in
from tests.test_admin_api import API, token_for
from tests.test_api import current_token, enrolled, error_code

MONAS = (-6.175392, 106.827153)


def fence(client: TestClient, office_id: int, radius: int = 150) -> None:
    run(
        client,
        app_db(client).execute,
        offices.update()
        .where(offices.c.id == office_id)
        .values(latitude=MONAS[0], longitude=MONAS[1], radius_m=radius),
    )


def check_in_at(phone: Phone, token: str, location: Any, **kwargs: Any) -> Any:
    body = phone.checkin_body(token, **kwargs)
    if location is not ...:
        body["location"] = location
    return phone.http.post("/api/v1/checkins", json=body, headers={"user-agent": phone.user_agent})


def where(lat: float, lon: float, accuracy: float = 15.0) -> dict[str, float]:
    return {"latitude": lat, "longitude": lon, "accuracy": accuracy}


@pytest.mark.parametrize(
    ("location", "flags"),
    [
        (where(-6.175800, 106.827500), []),  # ~60 m from the centre
        (where(-6.2100, 106.8450), ["outside_geofence"]),  # ~4 km away
        (where(-6.2100, 106.8450, accuracy=900), ["low_accuracy", "outside_geofence"]),
        (where(-6.177000, 106.827153, accuracy=150), ["low_accuracy"]),  # edge, rough fix
        (None, ["no_location"]),
        (..., ["no_location"]),  # an older phone that sends no field at all
    ],
)
def test_the_position_flags_the_record_and_never_refuses_it(
    client: TestClient,
    settings: Settings,
    world: dict[str, Any],
    location: Any,
    flags: list[str],
) -> None:
    fence(client, world["office"]["id"])
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    response = check_in_at(phone, current_token(settings, world["display"]["id"]), location)
    assert response.status_code == 201, response.text
    row = run(client, app_db(client).fetch_one, checkins.select())
    assert [f for f in row["flags"].split(",") if f in geofence_flags()] == flags
    if isinstance(location, dict):
        assert (row["latitude"], row["longitude"], row["accuracy_m"]) == (
            location["latitude"],
            location["longitude"],
            location["accuracy"],
        )
    else:
        assert row["latitude"] is None


def geofence_flags() -> set[str]:
    return {"outside_geofence", "low_accuracy", "no_location"}


def test_an_office_without_a_geofence_flags_nothing(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    token = current_token(settings, world["display"]["id"])
    assert check_in_at(phone, token, None).status_code == 201
    row = run(client, app_db(client).fetch_one, checkins.select())
    assert not set(row["flags"].split(",")) & geofence_flags()


@pytest.mark.parametrize(
    "location",
    [
        "here",
        {"latitude": -6.1, "longitude": 106.8},
        where(91, 106.8),
        where(-6.1, 181),
        {"latitude": True, "longitude": 106.8, "accuracy": 5},
        {"latitude": "-6.1", "longitude": 106.8, "accuracy": 5},
        where(-6.1, 106.8, accuracy=-1),
    ],
)
def test_a_malformed_location_is_invalid_request_and_stores_nothing(
    client: TestClient, settings: Settings, world: dict[str, Any], location: Any
) -> None:
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    response = check_in_at(phone, current_token(settings, world["display"]["id"]), location)
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert count(client, checkins) == 0


def test_distance_is_the_great_circle() -> None:
    # Monas to Bogor's Kebun Raya: about 43 km.
    assert 42_000 < geofence.distance_m(*MONAS, -6.5975, 106.7997) < 48_000
    assert geofence.distance_m(*MONAS, *MONAS) == 0


def test_the_office_page_sets_the_fence_and_says_it_is_no_proof(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    office_id = world["office"]["id"]
    page = client.get(f"/admin/offices/{office_id}")
    assert "bukan bukti" in page.text  # "never proof", in Indonesian
    assert 'name="radius_m"' in page.text
    import re

    version = re.search(r'name="version" value="([^"]*)"', page.text)
    form = {
        "csrf_token": csrf(client),
        "version": version.group(1) if version else "",
        "name": world["office"]["name"],
        "timezone": "Asia/Jakarta",
        "latitude": "-6,175392",  # a decimal comma, as typed on an Indonesian keyboard
        "longitude": "106.827153",
        "radius_m": "150",
    }
    saved = client.post(f"/admin/offices/{office_id}", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    row = run(client, app_db(client).fetch_one, offices.select().where(offices.c.id == office_id))
    assert (row["latitude"], row["longitude"], row["radius_m"]) == (*MONAS, 150)
    half = client.post(f"/admin/offices/{office_id}", data=form | {"longitude": ""})
    assert half.status_code == 400
    assert "lintang, bujur dan radius" in half.text


def test_the_admin_api_sets_and_clears_the_fence(client: TestClient, world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'agency_admin')}"}
    url = f"{API}/offices/{world['office']['id']}"
    patched = client.patch(
        url, json={"latitude": MONAS[0], "longitude": MONAS[1], "radius_m": 200}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["latitude"], patched.json()["radius_m"]) == (MONAS[0], 200)
    for bad in ({"latitude": 95}, {"radius_m": 5}, {"radius_m": None}, {"longitude": "east"}):
        refused = client.patch(url, json=bad, headers=headers)
        assert refused.status_code == 422, (bad, refused.text)
    cleared = client.patch(
        url, json={"latitude": None, "longitude": None, "radius_m": None}, headers=headers
    )
    assert cleared.status_code == 200 and cleared.json()["radius_m"] is None


def test_positions_are_shown_only_to_reviewing_roles(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    fence(client, world["office"]["id"])
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    check_in_at(phone, current_token(settings, world["display"]["id"]), where(-6.1754, 106.8272))
    make_admins(client)
    for role in ("leader", "unit_operator", "agency_admin"):
        client.cookies.clear()
        sign_in(client, role)
        day = run(client, app_db(client).fetch_val, sa.select(checkins.c.local_date))
        log = client.get(f"/admin/presence?from={day}&to={day}")
        assert log.status_code == 200 and log.text.count("data-ref=") == 1
        assert "-6.1754" not in log.text and "106.8272" not in log.text
        assert (
            "-6.1754"
            not in client.get("/admin/presence.csv", params={"from": str(day), "to": str(day)}).text
        )
