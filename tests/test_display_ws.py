"""/display/ws: who may connect, the tokens it pushes, the ticker, revocation, last-seen."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from backend import tokens
from backend.app import create_app
from backend.db import displays, utcnow
from backend.demo import ensure_demo
from backend.settings import Settings
from backend.state import AppState
from display_server.pairing import CREDENTIAL_COOKIE, revoke_display
from display_server.rotation import (
    SEND_CHUNK,
    Connection,
    DisplayHub,
    checkin_message,
    hub_of,
    sleep_until,
)
from tests.client import Phone
from tests.conftest import app_db, make_settings, run
from tests.test_api import code_for

ORIGIN = "https://presensi.test"
# Absolute: TestClient.websocket_connect ignores base_url, and the cookie is Secure.
WS_URL = "wss://presensi.test/display/ws"


def paired(client: TestClient, code: str) -> str:
    response = client.post(
        "/display/pair", data={"code": code}, headers={"origin": ORIGIN}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return str(client.cookies[CREDENTIAL_COOKIE])


def refused_with(client: TestClient, **headers: str) -> int:
    with client.websocket_connect(WS_URL, headers=headers) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    return closed.value.code


def check_token(settings: Settings, message: dict[str, Any], display_id: int) -> tokens.Token:
    assert message["type"] == "token"
    assert set(message) == {"type", "kind", "token", "url", "window", "expires_at", "server_time"}
    assert message["kind"] == "daily"
    token = tokens.verify(
        settings.qr_keys,
        message["token"],
        period=settings.qr_period,
        grace_windows=0,  # the current window, not a grace one
    )
    assert token.display_id == display_id
    assert token.window == message["window"]
    assert message["url"] == tokens.scan_url(settings.public_url, message["token"])
    assert message["url"] == f"https://presensi.test/s#{message['token']}"
    assert message["expires_at"] == tokens.window_expires_at(token.window, settings.qr_period)
    assert abs(message["server_time"] - time.time()) < 2
    assert message["server_time"] < message["expires_at"]
    return token


@pytest.fixture
def fast(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, Settings]]:
    """An app whose QR changes every second, so a boundary comes quickly."""
    settings = make_settings(tmp_path, database_url, qr_period="1")
    with TestClient(create_app(settings), base_url=ORIGIN) as client:
        yield client, settings


def demo_code(client: TestClient, settings: Settings) -> tuple[int, str]:
    info = run(client, ensure_demo, app_db(client), settings.secret_key, 3)
    return info["display"]["id"], info["display"]["pairing_code"]


def test_unpaired_is_refused(client: TestClient) -> None:
    assert refused_with(client, origin=ORIGIN) == 4401
    client.cookies.set(CREDENTIAL_COOKIE, "made-up", domain="presensi.test", path="/display")
    assert refused_with(client, origin=ORIGIN) == 4401


def test_wrong_or_missing_origin_is_refused(client: TestClient, world: dict[str, Any]) -> None:
    paired(client, world["display"]["pairing_code"])
    assert refused_with(client, origin="https://evil.test") == 4403
    assert refused_with(client, origin="http://presensi.test") == 4403
    assert refused_with(client) == 4403


def test_revoked_is_refused(client: TestClient, world: dict[str, Any]) -> None:
    paired(client, world["display"]["pairing_code"])
    assert run(client, revoke_display, app_db(client), world["display"]["id"], "admin:1")
    assert refused_with(client, origin=ORIGIN) == 4401


def test_network_outside_allow_list_is_refused(
    tmp_path: Path, database_url: str, client: TestClient, world: dict[str, Any]
) -> None:
    paired(client, world["display"]["pairing_code"])
    from backend.db import offices

    run(client, app_db(client).execute, offices.update().values(allowed_networks="10.0.0.0/8"))
    assert refused_with(client, origin=ORIGIN) == 4403  # the TestClient's address is no IP


def test_paired_display_gets_a_verifying_token_and_last_seen(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    display_id = world["display"]["id"]
    paired(client, world["display"]["pairing_code"])
    run(
        client,
        app_db(client).execute,
        displays.update().values(last_seen_at=None, last_seen_ip=None),
    )
    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        message = ws.receive_json()
        token = check_token(settings, message, display_id)
        assert token.window in (
            tokens.current_window(settings.qr_period),
            tokens.current_window(settings.qr_period) - 1,  # a boundary passed meanwhile
        )
        assert hub_of(client.app.state.presensi).count() == 1  # type: ignore[attr-defined]
        row = run(
            client, app_db(client).fetch_one, sa.select(displays).where(displays.c.id == display_id)
        )
        assert row["last_seen_ip"] == "testclient"
        assert row["last_seen_at"] is not None


def test_a_new_token_follows_each_boundary_and_last_seen_stays_fresh(
    fast: tuple[TestClient, Settings],
) -> None:
    client, settings = fast
    display_id, code = demo_code(client, settings)
    paired(client, code)
    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        first = check_token(settings, ws.receive_json(), display_id)
        old = utcnow() - timedelta(hours=1)
        run(client, app_db(client).execute, displays.update().values(last_seen_at=old))
        second = check_token(settings, ws.receive_json(), display_id)
        third = check_token(settings, ws.receive_json(), display_id)
        assert (second.window, third.window) == (first.window + 1, first.window + 2)
        assert second.text != first.text
        # The loop refreshes last_seen_at after pushing a rotation, before the next one.
        seen = run(
            client,
            app_db(client).fetch_val,
            sa.select(displays.c.last_seen_at).where(displays.c.id == display_id),
        )
        assert seen is not None and seen.replace(tzinfo=None) > old.replace(tzinfo=None)


def test_revocation_closes_the_socket(client: TestClient, world: dict[str, Any]) -> None:
    paired(client, world["display"]["pairing_code"])
    state = client.app.state.presensi  # type: ignore[attr-defined]
    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        assert ws.receive_json()["type"] == "token"
        revoked = run(
            client,
            revoke_display,
            app_db(client),
            world["display"]["id"],
            "admin:1",
            events=state.events,
        )
        assert revoked
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(5):  # a rotation may slip in before the close
                ws.receive_json()
        assert closed.value.code == 4401
    assert hub_of(state).count() == 0


def test_revocation_elsewhere_is_noticed_within_a_period(
    fast: tuple[TestClient, Settings],
) -> None:
    client, settings = fast
    _display_id, code = demo_code(client, settings)
    paired(client, code)
    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        # As another process would: only the database changes, no event on this bus.
        run(client, app_db(client).execute, displays.update().values(revoked_at=utcnow()))
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(5):
                ws.receive_json()
        assert closed.value.code == 4401


def test_checkins_at_this_display_reach_the_ticker(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    person = world["employees"][0]
    phone = Phone(client)
    assert phone.enrol(person["nip"], code_for(client, settings, person["nip"])).status_code == 201
    paired(client, world["display"]["pairing_code"])
    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        token = ws.receive_json()["token"]
        response = phone.check_in(token)
        assert response.status_code in (200, 201), response.text
        message = ws.receive_json()
        while message["type"] == "token":  # a rotation may come first
            message = ws.receive_json()
        assert message["type"] == "checkin"
        assert message["name"] == person["name"].split()[0]
        assert message["at"] == response.json()["at"]
        assert person["nip"] not in str(message)


def test_checkins_at_other_displays_are_not_forwarded(
    client: TestClient, world: dict[str, Any]
) -> None:
    paired(client, world["display"]["pairing_code"])
    state = client.app.state.presensi  # type: ignore[attr-defined]

    async def publish(display_id: int, name: str) -> None:
        state.events.publish(
            "checkin", {"display_id": display_id, "name": name, "at": "x", "kind": "in"}
        )

    with client.websocket_connect(WS_URL, headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        run(client, publish, world["display"]["id"] + 1000, "Orang Lain")
        run(client, publish, world["display"]["id"], "Siti Aminah")
        message = ws.receive_json()
        while message["type"] == "token":
            message = ws.receive_json()
        assert message["name"] == "Siti"


def test_checkin_message_keeps_the_first_name_only() -> None:
    assert checkin_message({"name": "Budi Santoso", "at": "2025-01-02T00:00:00+00:00"}) == {
        "type": "checkin",
        "name": "Budi",
        "at": "2025-01-02T00:00:00+00:00",
    }
    assert checkin_message({"name": "", "at": None})["name"] == ""


def test_a_peer_that_stops_reading_holds_up_only_its_chunk_and_never_reorders(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, qr_period="2")
    received: dict[int, list[int]] = {}

    async def scenario() -> tuple[int, int, int]:
        hub = DisplayHub(cast(AppState, SimpleNamespace(settings=settings)))
        reads = asyncio.Event()

        def display(display_id: int, *, stalls: bool = False) -> Connection:
            async def asgi_send(message: Any) -> None:
                if stalls:  # its transport paused writing until the peer reads again
                    await reads.wait()
                window = json.loads(message["text"])["window"]
                received.setdefault(display_id, []).append(window)

            return Connection(display_id, "192.0.2.1", asgi_send)

        # Display 1 leads the first chunk; 2 .. SEND_CHUNK are behind it in that chunk.
        for conn in [display(1, stalls=True)] + [display(i) for i in range(2, 2 * SEND_CHUNK + 2)]:
            hub.connections[conn.display_id] = {conn}
        window = tokens.current_window(settings.qr_period) + 1
        await sleep_until(window * settings.qr_period)  # a whole window ahead, as the loop does
        first = await hub.rotate(window, {})  # returns after half a period, chunk 1 held up
        second = await hub.rotate(window + 1, hub.prepare(window + 1))  # skips display 1
        await sleep_until(tokens.window_expires_at(window, settings.qr_period))
        reads.set()  # the peer reads again after the window has ended
        late = await asyncio.gather(*hub._sending)
        return first, second, sum(late)

    first, second, late = asyncio.run(scenario())
    assert first == SEND_CHUNK + 1  # the second and third chunks
    assert second == 2 * SEND_CHUNK  # everyone but display 1
    assert late == 1  # display 1's own send; the rest of its chunk was dropped, not reordered
    window = received[1][0]
    assert received[1] == [window]
    for display_id in range(2, SEND_CHUNK + 1):
        assert received[display_id] == [window + 1]
    for display_id in range(SEND_CHUNK + 1, 2 * SEND_CHUNK + 2):
        assert received[display_id] == [window, window + 1]
