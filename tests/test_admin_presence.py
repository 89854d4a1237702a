"""Presence review pages over HTTP on the fixture month: the log, an employee's month, review and
correction forms, absences, holidays, schedules and roster, TPP rules."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.accounts import create_admin
from backend.db import (
    absences,
    checkin_reviews,
    checkins,
    corrections,
    holidays,
    roster_entries,
    shifts,
    tpp_rules,
    work_schedules,
)
from tests import fixtures_month as fm
from tests.conftest import app_db, count, run
from tests.support.admin import PASSWORD, csrf, sign_in


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    info = run(client, fm.load, app_db(client))
    db = app_db(client)
    run(
        client,
        create_admin,
        db,
        username="hr.fix",
        password=PASSWORD,
        role="agency_admin",
        agency_id=info["agency_id"],
        actor="test",
    )
    run(
        client,
        create_admin,
        db,
        username="tu.pkm",
        password=PASSWORD,
        role="unit_operator",
        agency_id=info["agency_id"],
        unit_id=info["unit_id"],
        actor="test",
    )
    run(
        client,
        create_admin,
        db,
        username="kepala",
        password=PASSWORD,
        role="leader",
        agency_id=info["agency_id"],
        actor="test",
    )
    client.app.state.presensi.extras["clock"] = lambda: fm.NOW  # type: ignore[attr-defined]
    return info


def post(client: TestClient, url: str, data: dict[str, Any], page: str) -> Any:
    return client.post(url, data={**data, "csrf_token": csrf(client, page)}, follow_redirects=False)


def test_presence_log_filters_and_employee_month(client: TestClient, month: dict[str, Any]) -> None:
    assert sign_in(client, "tu.pkm").status_code == 303
    page = client.get("/admin/presence?from=2026-12-30&to=2026-12-30&status=rejected")
    assert page.status_code == 200
    assert page.text.count('data-ref="scan:') == 1 and "Bayu Saputra" in page.text
    assert "offline_submission" in page.text
    ani = month["employees"]["Ani Lestari"]
    page = client.get(f"/admin/presence/employees/{ani}?month=2026-12")
    assert page.status_code == 200
    assert "5.75" in page.text and "Lupa pindai pulang" in page.text  # TPP total, the correction
    export = client.get("/admin/presence.csv?from=2026-12-01&to=2026-12-31&status=correction")
    assert export.status_code == 200 and export.text.count("correction:") == 1


def test_review_and_correction_forms_add_entries(client: TestClient, month: dict[str, Any]) -> None:
    db = app_db(client)
    ani = month["employees"]["Ani Lestari"]
    pending = run(client, db.fetch_val, checkins.insert().values(
        employee_id=ani, device_id=f"d_fixture{fm.NIPS['Ani Lestari']}", display_id=month["display_id"],
        office_id=month["office_id"], window=10**9, at=fm.at(fm.d(9), 16, 10), local_date=fm.d(9), kind="out",
        status="pending_review", client_ts=1, nonce="n" * 32, flags="offline_submission",
    ).returning(checkins.c.id))  # fmt: skip
    assert sign_in(client, "kepala").status_code == 303  # a leader may look, not decide
    assert f"/admin/review/{pending}" not in client.get("/admin/review").text
    client.cookies.clear()
    assert sign_in(client, "tu.pkm").status_code == 303
    assert f'action="/admin/review/{pending}"' in client.get("/admin/review").text
    response = post(
        client, f"/admin/review/{pending}", {"decision": "rejected", "reason": ""}, "/admin/review"
    )
    assert response.status_code == 400 and count(client, checkin_reviews) == 2
    response = post(
        client,
        f"/admin/review/{pending}",
        {"decision": "approved", "reason": "rapat"},
        "/admin/review",
    )
    assert response.status_code == 303 and count(client, checkin_reviews) == 3
    url = f"/admin/presence/employees/{month['employees']['Citra Dewi']}?month=2026-12"
    response = post(client, f"/admin/presence/employees/{month['employees']['Citra Dewi']}/corrections",
                    {"day": "2026-12-07", "kind": "out", "time": "07:02", "next_day": "1", "reason": "Lupa pindai pulang jaga malam"}, url)  # fmt: skip
    assert response.status_code == 303
    fix = run(client, db.fetch_one, corrections.select().order_by(corrections.c.id.desc()))
    assert (
        fm.local_label(fix["at"].replace(tzinfo=fm.UTC) if fix["at"].tzinfo is None else fix["at"])
        == "12-08 07:02"
    )
    assert fix["actor"].startswith("admin:")
    page = client.get(url)
    assert "2.5" not in page.text.split("TPP")[1][:200]  # Citra's missing check-out is gone: 1 %


def test_absences_holidays_schedules_and_tpp_pages(
    client: TestClient, month: dict[str, Any]
) -> None:
    assert sign_in(client, "hr.fix").status_code == 303
    eka = month["employees"]["Eka Putri"]
    response = post(
        client,
        "/admin/absences",
        {
            "employee_id": eka,
            "kind": "izin",
            "start": "2026-12-05",
            "end": "2026-12-05",
            "attachment": "WA kepala",
        },
        "/admin/absences?month=2026-12",
    )
    assert response.status_code == 303 and count(client, absences) == 4
    response = post(
        client,
        "/admin/absences",
        {"employee_id": eka, "kind": "izin", "start": "2026-12-05"},
        "/admin/absences?month=2026-12",
    )
    assert response.status_code == 400 and count(client, absences) == 4  # overlaps
    recap = client.get(f"/admin/recaps/monthly?month=2026-12&unit={month['unit_id']}").text
    assert "Eka Putri" in recap

    response = post(
        client,
        "/admin/holidays",
        {"action": "off", "day": "2026-12-24"},
        "/admin/holidays?year=2026",
    )
    assert response.status_code == 303
    active = run(
        client,
        app_db(client).fetch_val,
        sa.select(holidays.c.active).where(holidays.c.day == fm.d(24)),
    )
    assert active is False

    response = post(
        client,
        "/admin/schedules/rules",
        {
            "name": "Ramadan",
            "weekday": ["0", "1"],
            "start": "08:00",
            "end": "15:00",
            "valid_from": "2027-02-08",
            "valid_to": "2027-03-09",
        },
        "/admin/schedules",
    )
    assert response.status_code == 303 and count(client, work_schedules) == 5 + 2
    response = post(
        client,
        "/admin/schedules/shifts",
        {"code": "PJ", "name": "Pagi panjang", "start": "07:00", "end": "19:00"},
        "/admin/schedules",
    )
    assert response.status_code == 303 and count(client, shifts) == 4
    before = count(client, roster_entries)
    response = post(
        client,
        "/admin/schedules/roster",
        {
            "employee_id": month["employees"]["Ani Lestari"],
            "shift": "off",
            "start": "2026-12-26",
            "end": "2026-12-27",
        },
        "/admin/schedules",
    )
    assert response.status_code == 303 and count(client, roster_entries) == before + 2
    assert "Ani Lestari" in client.get("/admin/schedules?month=2026-12").text

    rules = {
        code: ""
        for code in (
            "TL1",
            "TL2",
            "TL3",
            "TL4",
            "PSW1",
            "PSW2",
            "PSW3",
            "PSW4",
            "missing_in",
            "missing_out",
            "apel_absent",
            "activity_shortfall",
            "activity_threshold",
        )
    }
    page = client.get("/admin/tpp").text
    for code in rules:
        rules[code] = page.split(f'name="{code}" value="')[1].split('"')[0]
    response = post(client, "/admin/tpp", {**rules, "absent": "2,5"}, "/admin/tpp")
    assert response.status_code == 303
    assert run(client, app_db(client).fetch_val, sa.select(tpp_rules.c.basis_points)) == 250
    assert count(client, tpp_rules) == 1  # only the changed rule is stored


def test_operator_cannot_edit_agency_settings(client: TestClient, month: dict[str, Any]) -> None:
    assert sign_in(client, "tu.pkm").status_code == 303
    response = post(client, "/admin/tpp", {"absent": "1"}, "/admin/account")
    assert response.status_code == 403
    response = post(
        client, "/admin/holidays", {"action": "off", "day": "2026-12-24"}, "/admin/account"
    )
    assert response.status_code == 403
