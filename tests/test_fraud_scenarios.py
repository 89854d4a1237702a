"""One test per fraud scenario of issue 15, named after it: what the attacker tries, and what
stops or flags it. (The browser-data copy is in tests/test_geofence_browser.py: only a real
browser can show that the key does not leave it; the lent phone and the database edit are the
owner's-fingerprint and hash-chain tests.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import tokens
from backend.app import create_app
from backend.cli import main
from backend.db import audit_log, checkins, fraud_cluster_scans, fraud_clusters, offices
from backend.settings import Settings
from backend.state import AppState
from tests.client import Phone
from tests.conftest import QR_KEYS, app_db, count, make_settings, run
from tests.support.admin import make_admins, sign_in
from tests.test_api import current_token, enrolled, error_code
from tests.test_display_pairing import pair
from tests.test_display_ws import ORIGIN, paired, refused_with
from tests.test_geofence import check_in_at, fence, where

FAR_AWAY = where(-6.5975, 106.7997)  # Bogor, ~45 km from the office


def arrival_pass(client: TestClient) -> None:
    """Wait for the arrival pass (it runs after the answer, on its own task)."""
    state: AppState = client.app.state.presensi  # type: ignore[attr-defined]
    run(client, state.fraud.idle)


def test_forwarded_photo_of_the_qr(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    """A photo of the display sent to a colleague at home: too late it is refused; signed in
    time but sent later it waits for review, never accepted; in time, it is flagged as far
    away."""
    fence(client, world["office"]["id"])
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    display = world["display"]["id"]
    old = tokens.current_window(settings.qr_period) - 20
    stale = tokens.issue(settings.qr_keys, display, old)
    # Scanned minutes after the photo was taken: the code has expired, nothing is stored.
    refused = check_in_at(phone, stale, FAR_AWAY)
    assert refused.status_code == 400 and error_code(refused) == "expired_token"
    assert count(client, checkins) == 0
    # Its client time claims the code was current: kept for review, never accepted, and flagged.
    pending = check_in_at(phone, stale, FAR_AWAY, client_ts=(old * settings.qr_period + 3) * 1000)
    assert pending.status_code == 202 and pending.json()["status"] == "pending_review"
    # Within the code's 30 s, from far away: recorded, flagged for the reviewers.
    fresh = check_in_at(phone, current_token(settings, display), FAR_AWAY)
    assert fresh.status_code == 201 and fresh.json()["status"] == "accepted"
    rows = run(client, app_db(client).fetch_all, checkins.select().order_by(checkins.c.id))
    assert [r["status"] for r in rows] == ["pending_review", "accepted"]
    assert all("outside_geofence" in r["flags"].split(",") for r in rows)
    assert "offline_submission" in rows[0]["flags"]


def test_a_colleague_with_a_friends_account_on_another_phone(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    """The friend's account is bound to the friend's phone key: another phone that claims the
    friend's device id cannot sign for it, and one with an invented device is unknown."""
    friend = enrolled(client, settings, world["employees"][0]["nip"])
    token = current_token(settings, world["display"]["id"])
    other = Phone(client)
    forged = other.checkin_body(token, device_id=friend.device_id)
    refused = client.post("/api/v1/checkins", json=forged)
    assert refused.status_code == 401 and error_code(refused) == "bad_signature"
    invented = client.post(
        "/api/v1/checkins", json=other.checkin_body(token, device_id="d_notenrolled01")
    )
    assert invented.status_code == 401 and error_code(invented) == "unknown_device"
    assert count(client, checkins) == 0
    assert friend.check_in(token).status_code == 201  # the friend's own phone still works


def test_the_display_page_opened_at_home(
    tmp_path: Path, database_url: str, client: TestClient, world: dict[str, Any]
) -> None:
    """A TU operator opens /display at home to show the QR there: without pairing there is no
    code, the office's allow-list refuses pairing from home, and the websocket refuses a page
    served from elsewhere (Origin)."""
    home = client.get("/display")
    assert home.status_code == 200 and 'id="qr"' not in home.text  # the pairing form only
    assert refused_with(client, origin=ORIGIN) == 4401  # unpaired: no tokens
    run(client, app_db(client).execute, offices.update().values(allowed_networks="10.20.0.0/16"))
    settings = make_settings(tmp_path, database_url)
    with TestClient(
        create_app(settings), base_url="https://presensi.test", client=("198.51.100.9", 4000)
    ) as at_home:
        refused = pair(at_home, world["display"]["pairing_code"])
        assert refused.status_code == 403 and 'data-error="network_not_allowed"' in refused.text
    run(client, app_db(client).execute, offices.update().values(allowed_networks=""))
    paired(client, world["display"]["pairing_code"])
    assert refused_with(client, origin="https://copy-of-presensi.example") == 4403


def test_a_tu_operator_making_tokens_for_absent_staff(
    client: TestClient,
    settings: Settings,
    world: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`presensi display token` prints a working code for testing a phone; used to check in
    absent staff it is flagged `console_token`, and the print and every scan with it are in the
    audit log with who ran the command."""
    for key, value in {
        "PRESENSI_DATA_DIR": str(settings.data_dir),
        "PRESENSI_DATABASE_URL": settings.database_url,
        "PRESENSI_PUBLIC_URL": settings.public_url,
        "PRESENSI_QR_KEYS": QR_KEYS,
        "PRESENSI_SECRET_KEY": settings.secret_key.decode(),
    }.items():
        monkeypatch.setenv(key, value)
    display = world["display"]["id"]
    assert main(["display", "token", str(display), "--operator", "budi.tu"]) == 0
    url = capsys.readouterr().out.strip().splitlines()[-1]
    token = url.split("#", 1)[1]
    assert token != current_token(settings, display)  # not the display's own code
    absent = [enrolled(client, settings, e["nip"]) for e in world["employees"][:2]]
    for phone in absent:
        answer = phone.check_in(token)
        assert answer.status_code == 201 and answer.json()["status"] == "accepted"  # verdict kept
    arrival_pass(client)
    db = app_db(client)
    rows = run(client, db.fetch_all, checkins.select())
    assert all("console_token" in r["flags"].split(",") for r in rows)
    [printed] = run(
        client,
        db.fetch_all,
        audit_log.select().where(audit_log.c.action == "display.console_token"),
    )
    assert printed["actor"] == "cli:budi.tu"
    uses = run(
        client,
        db.fetch_all,
        audit_log.select().where(audit_log.c.action == "checkin.console_token"),
    )
    assert sorted(u["target"] for u in uses) == sorted(f"checkin:{r['id']}" for r in rows)
    assert all('"printed_by":"cli:budi.tu"' in u["detail"] for u in uses)
    [cluster] = run(client, db.fetch_all, fraud_clusters.select())
    assert cluster["pattern"] == "console_token" and cluster["status"] == "open"
    members = run(client, db.fetch_all, fraud_cluster_scans.select())
    assert {m["checkin_id"] for m in members} == {r["id"] for r in rows}
    # The agency admin sees it on the review page, with both scans.
    make_admins(client)
    sign_in(client, "agency_admin")
    detail = client.get(f"/admin/fraud/{cluster['id']}")
    assert detail.text.count("data-checkin=") == 2


def test_a_scan_queued_offline_to_dodge_the_window(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    """Someone keeps a scan in the phone's queue (or makes one up with a convenient client
    time) and sends it later: it is only ever pending review, and an admin decides."""
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    display = world["display"]["id"]
    early = tokens.current_window(settings.qr_period) - 200  # ~50 minutes ago
    token = tokens.issue(settings.qr_keys, display, early)
    signed_then = (early * settings.qr_period + 2) * 1000
    queued = phone.check_in(token, client_ts=signed_then)
    assert queued.status_code == 202 and queued.json()["status"] == "pending_review"
    again = phone.check_in(token, client_ts=signed_then)  # resent: still the same pending scan
    assert again.status_code == 202 and again.json()["checkin_id"] == queued.json()["checkin_id"]
    # A client time outside the code's validity is refused outright.
    lying = phone.check_in(token, client_ts=(early * settings.qr_period - 600) * 1000)
    assert lying.status_code == 400 and error_code(lying) == "expired_token"
    [row] = run(client, app_db(client).fetch_all, checkins.select())
    assert row["status"] == "pending_review" and "offline_submission" in row["flags"]
    statuses = run(client, app_db(client).fetch_all, sa.select(checkins.c.status))
    assert [s[0] for s in statuses] == ["pending_review"]
    make_admins(client)
    sign_in(client, "agency_admin")
    review = client.get("/admin/review")
    assert f'data-ref="scan:{row["id"]}"' in review.text
