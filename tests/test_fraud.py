"""Fraud patterns (backend/fraud.py) against a generated month with planted patterns: each is
found with exactly the scans planted, and nothing is flagged where nothing was planted; the
nightly pass stores them as clusters once, the arrival pass finds them as scans come in, and a
reviewer's decision is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import fraud, geofence
from backend.db import audit_log, checkins, fraud_cluster_scans, fraud_clusters
from tests.conftest import app_db, run
from tests.fraud_month import END, OFFICES, generate, store
from tests.support.admin import csrf, make_admins, sign_in

NOW = datetime(2027, 1, 1, 3, 0, tzinfo=UTC)


def by_pattern(found: list[fraud.Found]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for f in found:
        out.setdefault(f.pattern, set()).update(f.checkin_ids)
    return out


def test_the_planted_patterns_are_found_and_nothing_else() -> None:
    rows, planted = generate()
    assert len(rows) > 1700
    found = fraud.detect(rows, OFFICES)
    assert by_pattern(found) == planted
    assert sorted(f.pattern for f in found) == sorted(planted)  # one cluster each


def test_a_clean_month_flags_nothing() -> None:
    rows, planted = generate(seed=7)
    planted_ids = set().union(*planted.values())
    clean = [r for r in rows if r["id"] not in planted_ids]
    for r in clean:  # undo the platform swap too
        if r["device_id"] == "d_person0017":
            r["user_agent"] = rows[0]["user_agent"]
    assert fraud.detect(clean, OFFICES) == []


def test_each_rule_at_its_threshold() -> None:
    base = {"agency_id": 1, "device_id": "d_x", "display_id": 1, "window": 1, "office_id": 1,
            "client_ip": "1.2.3.4", "user_agent": "UA (Linux; Android 10)", "latitude": None,
            "longitude": None, "flags": "", "local_date": END}  # fmt: skip
    t0 = datetime(2026, 12, 31, 0, 0, tzinfo=UTC)

    def row(i: int, employee: int, seconds: float, **over: Any) -> dict[str, Any]:
        return {**base, "id": i, "employee_id": employee, "device_id": f"d_{employee}",
                "at": t0 + timedelta(seconds=seconds), **over}  # fmt: skip

    # Three employees within 60 s: a cluster; 61 s apart: none; two employees: none.
    assert by_pattern(fraud.detect([row(1, 1, 0), row(2, 2, 30), row(3, 3, 60)], {})) == {
        "shared_client": {1, 2, 3}
    }
    assert fraud.detect([row(1, 1, 0), row(2, 2, 30), row(3, 3, 61)], {}) == []
    assert fraud.detect([row(1, 1, 0), row(2, 2, 10), row(3, 2, 20)], {}) == []
    # 60 km/h: 22 km in 30 minutes is too fast; in 23 minutes, 57 km/h... no: 22.2 km / 0.5 h.
    far = {1: OFFICES[1], 2: OFFICES[2]}
    km = geofence.distance_m(*OFFICES[1], *OFFICES[2]) / 1000
    slow = km / 60 * 3600 + 5  # seconds: just under 60 km/h
    fast = km / 60 * 3600 - 5
    travel = [row(1, 1, 0, client_ip="a"), row(2, 1, fast, office_id=2, client_ip="b")]
    assert by_pattern(fraud.detect(travel, far)) == {"impossible_travel": {1, 2}}
    travel[1]["at"] = t0 + timedelta(seconds=slow)
    assert fraud.detect(travel, far) == []
    # The same coordinates: different employees on the same day are not enough.
    spot = {"latitude": -6.123456, "longitude": 106.654321}
    same_day = [row(1, 1, 0, client_ip="a", **spot), row(2, 2, 900, client_ip="b", **spot)]
    assert fraud.detect(same_day, {}) == []
    same_day[1]["local_date"] = END - timedelta(days=1)
    assert by_pattern(fraud.detect(same_day, {})) == {"shared_coordinates": {1, 2}}


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 Chrome/120 Mobile", "android"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1", "ios"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36", "windows"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36", "chromeos"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15", "macos"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "linux"),
        ("curl/8.0", ""),
    ],
)
def test_platform_of_a_user_agent(ua: str, name: str) -> None:
    assert fraud.platform(ua) == name


def clusters(client: TestClient) -> dict[str, tuple[str, set[int]]]:
    db = app_db(client)
    found = run(client, db.fetch_all, fraud_clusters.select())
    members = run(client, db.fetch_all, fraud_cluster_scans.select())
    out = {}
    for c in found:
        out[c["pattern"]] = (
            c["status"],
            {m["checkin_id"] for m in members if m["cluster_id"] == c["id"]},
        )
    return out


@pytest.fixture
def month(client: TestClient) -> dict[str, set[int]]:
    rows, planted = generate()
    run(client, store, app_db(client), rows)
    return planted


def test_the_nightly_pass_stores_each_cluster_once(
    client: TestClient, month: dict[str, set[int]]
) -> None:
    db = app_db(client)
    added = run(client, fraud.scan_range, db, END.replace(day=1), END, now=NOW)
    assert added == sum(len(v) for v in month.values())
    assert clusters(client) == {p: ("open", ids) for p, ids in month.items()}
    assert run(client, fraud.scan_range, db, END.replace(day=1), END, now=NOW) == 0  # idempotent
    # Every use of a console token is in the audit log.
    [entry] = run(
        client,
        db.fetch_all,
        audit_log.select().where(audit_log.c.action == "checkin.console_token"),
    )
    assert entry["target"] == f"checkin:{next(iter(month['console_token']))}"


def test_the_arrival_pass_finds_what_the_nightly_pass_does(
    client: TestClient, month: dict[str, set[int]]
) -> None:
    db = app_db(client)
    ids = sorted(set().union(*month.values()))
    for start in range(0, len(ids), 3):
        run(client, fraud.arrived, db, ids[start : start + 3], now=NOW)
    assert clusters(client) == {p: ("open", i) for p, i in month.items()}


def test_a_decision_is_kept_and_flags_never_change_a_verdict(
    client: TestClient, month: dict[str, set[int]]
) -> None:
    db = app_db(client)
    verdicts = sa.select(checkins.c.id, checkins.c.status, checkins.c.kind, checkins.c.flags)
    before = [tuple(r) for r in run(client, db.fetch_all, verdicts)]
    run(client, fraud.scan_range, db, END.replace(day=1), END, now=NOW)
    assert [tuple(r) for r in run(client, db.fetch_all, verdicts)] == before
    make_admins(client)
    sign_in(client, "agency_admin")
    page = client.get("/admin/fraud")
    assert page.status_code == 200
    assert "Indikasi kecurangan" in page.text
    for pattern in month:
        assert f'data-pattern="{pattern}"' in page.text
    cid = run(
        client,
        db.fetch_val,
        sa.select(fraud_clusters.c.id).where(fraud_clusters.c.pattern == "shared_client"),
    )
    detail = client.get(f"/admin/fraud/{cid}")
    assert detail.status_code == 200
    assert detail.text.count("data-checkin=") == 3
    answer = client.post(
        f"/admin/fraud/{cid}",
        data={"csrf_token": csrf(client), "decision": "dismissed", "note": "rombongan dinas"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert clusters(client)["shared_client"][0] == "dismissed"
    # Kept through later passes; and its flag leaves the presence log.
    run(client, fraud.scan_range, db, END.replace(day=1), END, now=NOW)
    assert clusters(client)["shared_client"][0] == "dismissed"
    bad = client.post(f"/admin/fraud/{cid}", data={"csrf_token": csrf(client), "decision": "maybe"})
    assert bad.status_code == 400
    audit = run(
        client, db.fetch_all, audit_log.select().where(audit_log.c.action == "fraud.dismissed")
    )
    assert [a["target"] for a in audit] == [f"fraud_cluster:{cid}"]
    log = client.get("/admin/presence?from=2026-12-09&to=2026-12-09&flag=shared_client")
    assert log.status_code == 200 and "data-ref=" not in log.text
    log = client.get("/admin/presence?from=2026-12-14&to=2026-12-14&flag=impossible_travel")
    assert log.text.count("data-ref=") == 2


def test_other_roles_and_agencies_do_not_see_clusters(
    client: TestClient, month: dict[str, set[int]]
) -> None:
    db = app_db(client)
    run(client, fraud.scan_range, db, END.replace(day=1), END, now=NOW)
    make_admins(client)
    sign_in(client, "unit_operator")
    assert client.get("/admin/fraud").status_code == 403


def test_positions_are_cleared_after_the_retention(
    client: TestClient, month: dict[str, set[int]]
) -> None:
    db = app_db(client)
    kept = sa.select(sa.func.count()).select_from(checkins).where(checkins.c.latitude.is_not(None))
    total = run(client, db.fetch_val, kept)
    cleared = run(client, geofence.purge, db, 90, now=datetime(2027, 3, 16, tzinfo=UTC))
    remaining = run(client, db.fetch_val, kept)
    assert cleared > 0 and remaining > 0 and cleared + remaining == total
    oldest = run(
        client,
        db.fetch_val,
        sa.select(sa.func.min(checkins.c.at)).where(checkins.c.latitude.is_not(None)),
    )
    assert oldest.replace(tzinfo=UTC) >= datetime(2026, 12, 16, tzinfo=UTC)
    run(client, geofence.purge, db, 90, now=datetime(2027, 6, 1, tzinfo=UTC))
    assert run(client, db.fetch_val, kept) == 0


def test_the_server_runs_the_nightly_pass_at_one_in_the_morning(
    client: TestClient, month: dict[str, set[int]]
) -> None:
    """The watch's own clock reaches 01:00 WIB: it clusters the last days and clears old
    positions (the clock runs from half a second before, at the real pace)."""
    import asyncio
    import time as clock

    db = app_db(client)
    base = datetime(2027, 3, 16, 17, 59, 59, 500000, tzinfo=UTC)  # 00:59:59.5 WIB
    started = clock.monotonic()
    watch = fraud.FraudWatch(
        db,
        retention_days=90,
        timezone="Asia/Jakarta",
        clock=lambda: base + timedelta(seconds=clock.monotonic() - started),
        delay=0,
    )
    located = (
        sa.select(sa.func.count()).select_from(checkins).where(checkins.c.latitude.is_not(None))
    )
    before = run(client, db.fetch_val, located)

    async def one_night() -> None:
        async with watch.running():
            await asyncio.wait_for(watch.nightly_done.wait(), timeout=30)

    run(client, one_night)
    assert 0 < run(client, db.fetch_val, located) < before  # December's first half cleared
