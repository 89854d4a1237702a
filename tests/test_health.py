"""/healthz, /readyz and the Prometheus metrics."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from backend.db import displays
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, run
from tests.test_api import current_token, enrolled


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ready_then_not_when_schema_is_behind(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    head = response.json()["revision"]
    assert response.json()["status"] == "ready" and head
    db = app_db(client)
    run(client, db.execute, "UPDATE alembic_version SET version_num = '0001'")
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json()["revision"] == "0001"
        assert "presensi migrate" in behind.json()["reason"]
    finally:
        run(client, db.execute, f"UPDATE alembic_version SET version_num = '{head}'")


def test_metrics_count_checkins_by_result(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    before = client.get("/metrics").text
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    display = world["display"]["id"]
    token = current_token(settings, display)
    assert phone.check_in(token).status_code == 201
    body = phone.checkin_body(token)
    assert client.post("/api/v1/checkins", json=body).status_code == 200  # a repeat
    assert Phone(client).check_in(token, device_id="d_unknown-device-00").status_code == 401

    after = client.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def delta(labels: str) -> float:
        return metric(text, "presensi_checkins_total", labels) - metric(
            before, "presensi_checkins_total", labels
        )

    assert delta('{result="accepted"}') == 1
    assert delta('{result="repeat"}') == 1
    assert delta('{result="unknown_device"}') == 1
    assert (
        metric(text, "presensi_checkin_seconds_count")
        - metric(before, "presensi_checkin_seconds_count")
        == 3
    )
    assert metric(text, "presensi_displays_connected") == 1  # the world's display is online


def test_displays_connected_counts_only_recent_and_unrevoked(
    client: TestClient, world: dict[str, Any]
) -> None:
    run(client, app_db(client).execute, displays.update().values(last_seen_at=None))
    assert metric(client.get("/metrics").text, "presensi_displays_connected") == 0
