"""Review of pending scans and corrections: new entries, the original scan never changes."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import review
from backend.db import checkin_reviews, checkins, corrections
from backend.errors import ApiError
from tests import fixtures_month as fm
from tests.conftest import app_db, count, run


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    return run(client, fm.load, app_db(client))


def snapshot(client: TestClient) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in run(client, app_db(client).fetch_all, checkins.select().order_by(checkins.c.id))
    ]


def scan_id(client: TestClient, employee_id: int, day: date, status: str | None = None) -> int:
    query = (
        sa.select(checkins.c.id)
        .where(checkins.c.employee_id == employee_id)
        .where(checkins.c.local_date == day)
    )
    if status:
        query = query.where(checkins.c.status == status)
    return int(run(client, app_db(client).fetch_val, query.order_by(checkins.c.id)))


def test_effective_status() -> None:
    assert review.effective_status("accepted", None, False) == "accepted"
    assert review.effective_status("pending_review", None, False) == "pending_review"
    assert review.effective_status("pending_review", "approved", False) == "accepted"
    assert review.effective_status("pending_review", "rejected", False) == "rejected"
    assert review.effective_status("accepted", None, True) == "corrected"


def test_decide_only_once_and_only_on_pending_scans(
    client: TestClient, month: dict[str, Any]
) -> None:
    db = app_db(client)
    before = snapshot(client)
    assert (
        run(client, review.pending, db, agency_id=month["agency_id"]) == []
    )  # the fixture decided both
    bayu = month["employees"]["Bayu Saputra"]
    rejected = scan_id(client, bayu, fm.d(30), "pending_review")
    with pytest.raises(ApiError) as exc:
        run(
            client,
            review.decide,
            db,
            checkin_id=rejected,
            decision="approved",
            reason="",
            actor="a",
        )
    assert exc.value.code == "already_reviewed"
    accepted = scan_id(client, bayu, fm.d(1))
    with pytest.raises(ApiError) as exc:
        run(
            client,
            review.decide,
            db,
            checkin_id=accepted,
            decision="rejected",
            reason="x",
            actor="a",
        )
    assert exc.value.code == "not_pending_review"
    assert snapshot(client) == before
    assert count(client, checkin_reviews) == 2


def test_rejection_needs_a_reason(client: TestClient, month: dict[str, Any]) -> None:
    db = app_db(client)
    ani = month["employees"]["Ani Lestari"]
    pending = run(client, db.fetch_val, checkins.insert().values(
        employee_id=ani, device_id=f"d_fixture{fm.NIPS['Ani Lestari']}", display_id=month["display_id"],
        office_id=month["office_id"], window=10**9, at=fm.NOW, local_date=fm.d(31), kind="in",
        status="pending_review", client_ts=1, nonce="n" * 32,
    ).returning(checkins.c.id))  # fmt: skip
    assert run(client, review.pending, db, agency_id=month["agency_id"]) == [pending]
    for decision, reason in (("rejected", "  "), ("maybe", "x")):
        with pytest.raises(ApiError) as exc:
            run(
                client,
                review.decide,
                db,
                checkin_id=pending,
                decision=decision,
                reason=reason,
                actor="a",
            )
        assert exc.value.code == "validation_failed"
    run(client, review.decide, db, checkin_id=pending, decision="approved", reason="", actor="a")
    assert run(client, review.pending, db, agency_id=month["agency_id"]) == []


def test_correction_replaces_a_scan_without_touching_it(
    client: TestClient, month: dict[str, Any]
) -> None:
    db = app_db(client)
    before = snapshot(client)
    ani = month["employees"]["Ani Lestari"]
    wrong = scan_id(client, ani, fm.d(2))  # the 07:45 check-in
    fix = run(
        client, review.correct, db, employee_id=ani, day=fm.d(2), kind="in", at=time(7, 25),
        reason="Pindai di kantor cabang, jam dari buku tamu", actor="admin:1", replaces_checkin_id=wrong,
    )  # fmt: skip
    assert snapshot(client) == before
    row = run(client, db.fetch_one, corrections.select().where(corrections.c.id == fix))
    assert (row["actor"], row["replaces_checkin_id"], row["kind"]) == ("admin:1", wrong, "in")
    with pytest.raises(ApiError) as exc:
        run(
            client,
            review.correct,
            db,
            employee_id=ani,
            day=fm.d(2),
            kind="in",
            at=time(7, 26),
            reason="again",
            actor="a",
            replaces_checkin_id=wrong,
        )
    assert exc.value.code == "already_corrected"
    bad = [
        {"kind": "lunch"},
        {"reason": " "},
        {"at": fm.at(fm.d(5), 7, 0)},  # three days off
        {"replaces_checkin_id": scan_id(client, month["employees"]["Bayu Saputra"], fm.d(2))},
    ]
    for override in bad:
        kwargs = {
            "employee_id": ani,
            "day": fm.d(2),
            "kind": "out",
            "at": time(16),
            "reason": "r",
            "actor": "a",
            **override,
        }
        with pytest.raises(ApiError):
            run(client, review.correct, db, **kwargs)
    assert count(client, corrections) == 2  # the fixture's and this one
