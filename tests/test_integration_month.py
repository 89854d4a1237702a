"""Issue 14: the fixture month driven through the admin API alone — holidays, absences, the
review of two pending scans and a correction — and read back through the API: the monthly recap
(JSON and CSV), the check-ins with their status, review and flags, and the changes feed; the
console page and XLSX agree with the same hand-computed table (tests/fixtures_month.py)."""

from __future__ import annotations

import csv
import io
import time
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from starlette.testclient import TestClient

from backend.accounts import create_admin
from backend.admin.security import hash_api_token
from backend.db import api_tokens, changes, checkins, units, utcnow
from backend.settings import Settings
from tests import fixtures_month as fm
from tests.conftest import app_db, run
from tests.support.admin import PASSWORD, sign_in
from tests.test_admin_recaps import html_table
from tests.test_exports import check_month

API = "/api/v1/admin"
HOLIDAYS = (
    (24, "Cuti Bersama Hari Raya Natal", "cuti_bersama"),
    (25, "Hari Raya Natal", "national"),
)


async def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def make_token(
    client: TestClient, settings: Settings, role: str = "super_admin", **grant: Any
) -> dict[str, str]:
    raw = f"pst_integration_{role}_{len(grant)}_{utcnow().timestamp():.0f}"
    run(
        client,
        app_db(client).execute,
        api_tokens.insert().values(
            name=f"test {role}", token_hash=hash_api_token(settings.secret_key, raw),
            prefix=raw[:10], role=role, created_at=utcnow(), **grant,
        ),
    )  # fmt: skip
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def month(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    # The organisation, rosters and scans as the fixture writes them; everything an admin
    # decides goes through the API below instead.
    with monkeypatch.context() as m:
        for module, name in ((fm.holidays, "seed"), (fm.absences, "add"),
                             (fm.review, "decide"), (fm.review, "correct")):  # fmt: skip
            m.setattr(module, name, _noop)
        info = run(client, fm.load, app_db(client))
    client.app.state.presensi.extras["clock"] = lambda: fm.NOW  # type: ignore[attr-defined]
    h = make_token(client, settings)
    for day, name, kind in HOLIDAYS:
        r = client.post(f"{API}/holidays", headers=h, json={
            "agency_id": info["agency_id"], "date": fm.d(day).isoformat(), "name": name, "kind": kind})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["kind"] == kind
    for name, kind, first, last, ref in fm.ABSENCES:
        r = client.post(f"{API}/absences", headers=h, json={
            "nip": fm.NIPS[name], "kind": kind, "start_date": first.isoformat(),
            "end_date": last.isoformat(), "reference": ref})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["reference"] == ref
    pending = client.get(f"{API}/reviews", headers=h).json()["items"]
    assert len(pending) == 2 and all(p["status"] == "pending_review" for p in pending)
    for name, _day, local, decision, reason in fm.REVIEWS:
        (scan,) = [p for p in pending if p["nip"] == fm.NIPS[name] and p["at"] == local.isoformat()]
        r = client.post(f"{API}/reviews/{scan['id']}", headers=h,
                        json={"decision": decision[:-1] if decision == "approved" else "reject", "reason": reason})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["status"] == ("accepted" if decision == "approved" else "rejected")
        assert r.json()["review"]["reason"] == reason
    assert client.get(f"{API}/reviews", headers=h).json()["items"] == []
    for name, day, kind, local, reason in fm.CORRECTIONS:
        r = client.post(f"{API}/corrections", headers=h, json={
            "nip": fm.NIPS[name], "date": day.isoformat(), "kind": kind,
            "at": local.isoformat(), "reason": reason})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["at"] == local.isoformat()
    return info | {"h": h}


def test_monthly_recap_through_the_api_matches_the_hand_computed_table(
    client: TestClient, month: dict[str, Any]
) -> None:
    r = client.get(
        f"{API}/recaps/monthly?month=2026-12&unit_id={month['unit_id']}", headers=month["h"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["month"], body["agency"], body["unit"]) == (
        "2026-12",
        "Pemerintah Kabupaten Contoh",
        "Puskesmas Sukamaju",
    )
    assert body["generated_at"] == "2027-01-02T12:00:00+07:00"
    people = {e["name"]: e for e in body["employees"]}
    assert sorted(people) == sorted(fm.EXPECTED_MONTH)
    for name, row in fm.EXPECTED_MONTH.items():
        want = dict(zip(fm.COLUMNS, row, strict=True))
        got = people[name]
        assert got["nip"] == fm.NIPS[name] and isinstance(got["nip"], str)
        assert got["working_days"] == want["scheduled"], name
        assert got["present_days"] == want["present"], name
        assert got["late"] == {k: want[k] for k in ("TL1", "TL2", "TL3", "TL4")}, name
        assert got["early"] == {k: want[k] for k in ("PSW1", "PSW2", "PSW3", "PSW4")}, name
        assert (got["missing_in"], got["missing_out"], got["absent_unexcused"]) == (
            want["missing_in"], want["missing_out"], want["absent"]), name  # fmt: skip
        for kind in ("dl", "sakit", "cuti_tahunan"):
            assert got["absences"][kind] == want[kind], (name, kind)
        assert got["attendance_rate"] == pytest.approx(round(100 * fm.EXPECTED_RATE[name], 2))
        assert got["tpp"]["deduction_bp"] == fm.EXPECTED_TPP_TOTAL[name]
        items = [
            (date.fromisoformat(i["date"]), i["code"], i["basis_points"])
            for i in got["tpp"]["items"]
        ]
        assert items == [(day, code, bp) for day, code, bp, _ in fm.EXPECTED_TPP.get(name, [])]
    # The same numbers as CSV.
    text = client.get(f"{API}/recaps/monthly?month=2026-12&unit_id={month['unit_id']}",
                      headers=month["h"] | {"Accept": "text/csv"}).text  # fmt: skip
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    for name, row in fm.EXPECTED_MONTH.items():
        assert int(rows[name]["present_days"]) == row[1]
        assert int(rows[name]["deduction_bp"]) == fm.EXPECTED_TPP_TOTAL[name]
        assert rows[name]["nip"] == fm.NIPS[name]
    # Deductions, flat.
    flat = client.get(
        f"{API}/deductions?month=2026-12&unit_id={month['unit_id']}", headers=month["h"]
    ).json()
    assert len(flat["items"]) == sum(len(v) for v in fm.EXPECTED_TPP.values())


def test_the_console_page_and_xlsx_agree(client: TestClient, month: dict[str, Any]) -> None:
    run(
        client, create_admin, app_db(client), username="hr.fix", password=PASSWORD,
        role="agency_admin", agency_id=month["agency_id"], actor="test",
    )  # fmt: skip
    assert sign_in(client, "hr.fix").status_code == 303
    page = client.get(f"/admin/recaps/monthly?month=2026-12&unit={month['unit_id']}")
    header = [["Instansi", "Pemerintah Kabupaten Contoh"], ["Unit", "Puskesmas Sukamaju"],
              ["Periode", "2026-12-01 – 2026-12-31"], ["Dibuat", "2027-01-02 12:00:00+07:00"], []]  # fmt: skip
    check_month(header + html_table(page.text), number=int)
    response = client.get(f"/admin/recaps/monthly.xlsx?month=2026-12&unit={month['unit_id']}")
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    table = [list(r) for r in book[book.sheetnames[0]].iter_rows(values_only=True)]
    table[3] = ["Dibuat", "2027-01-02 12:00:00+07:00"]
    check_month(table)


def test_checkins_pages_filters_csv_and_etag(client: TestClient, month: dict[str, Any]) -> None:
    h = month["h"]
    total = run(client, app_db(client).fetch_val, sa.select(sa.func.count()).select_from(checkins))
    seen: list[int] = []
    url = f"{API}/checkins?from=2026-12-01&to=2026-12-31&limit=37"
    cursor = None
    while True:
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=h).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == total and seen == sorted(set(seen))  # every scan once, in a stable order
    one = client.get(
        f"{API}/checkins?nip={fm.NIPS['Bayu Saputra']}&from=2026-12-30&to=2026-12-30", headers=h
    )
    items = one.json()["items"]
    assert [(i["at"], i["status"], i["kind"]) for i in items] == [
        ("2026-12-30T07:20:00+07:00", "rejected", "in"), ("2026-12-30T16:10:00+07:00", "accepted", "out")]  # fmt: skip
    assert items[0]["review"]["decision"] == "rejected" and items[0]["flags"] == [
        "offline_submission"
    ]
    assert items[0]["local_date"] == "2026-12-30" and items[0]["unit"] == "Puskesmas Sukamaju"
    flagged = client.get(f"{API}/checkins?flag=offline_submission", headers=h).json()["items"]
    assert sorted(i["status"] for i in flagged) == ["accepted", "rejected"]
    assert client.get(f"{API}/checkins?status=pending_review", headers=h).json()["items"] == []
    assert (
        client.get(f"{API}/checkins?status=maybe", headers=h).json()["error"]["code"]
        == "validation_failed"
    )
    tag = one.headers["etag"]
    again = client.get(one.request.url, headers=h | {"If-None-Match": tag})
    assert again.status_code == 304
    text = client.get(f"{API}/checkins", headers=h | {"Accept": "text/csv"}).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "nip", "name"] and len(rows) == total + 1


def catch_up(
    client: TestClient, h: dict[str, str], after: int, expected: int
) -> tuple[list[dict[str, Any]], int]:
    """Poll like a client until ``expected`` changes came. On PostgreSQL a change is handed out
    once every older transaction of the cluster has ended (other test databases share it), so
    a poll may come back empty for a moment."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(got) < expected and time.monotonic() < deadline:
        page = client.get(f"{API}/changes?after={after}&limit=250", headers=h).json()
        got += page["items"]
        after = page["next"]
    return got, after


def test_the_changes_feed_has_every_write_once_in_order(
    client: TestClient, settings: Settings, month: dict[str, Any]
) -> None:
    h = month["h"]
    stored = run(client, app_db(client).fetch_val, sa.select(sa.func.count()).select_from(changes))
    got, after = catch_up(client, h, 0, stored)
    seqs = [c["seq"] for c in got]
    assert seqs == sorted(set(seqs))
    kinds: dict[str, int] = {}
    for c in got:
        kinds[f"{c['type']}.{c['action']}"] = kinds.get(f"{c['type']}.{c['action']}", 0) + 1
    scans = run(client, app_db(client).fetch_val, sa.select(sa.func.count()).select_from(checkins))
    assert kinds["checkin.created"] == scans
    assert kinds["absence.created"] == 3 and kinds["holiday.created"] == 2
    assert kinds["review.created"] == 2 and kinds["correction.created"] == 1
    assert kinds["checkin.updated"] == 2  # the two reviewed scans
    assert kinds["employee.created"] == 5 and kinds["device.created"] == 5
    rejected = [c for c in got if c["type"] == "checkin" and c["action"] == "updated"]
    assert {c["data"]["status"] for c in rejected} == {"accepted", "rejected"}
    # A cancellation comes after, and only once.
    absence_id = next(c["id"] for c in got if c["type"] == "absence")
    assert client.post(f"{API}/absences/{absence_id}/cancel", headers=h).status_code == 200
    more, after = catch_up(client, h, after, 1)
    assert [(c["type"], c["action"], c["id"]) for c in more] == [
        ("absence", "cancelled", absence_id)
    ]
    assert client.get(f"{API}/changes?after={after}", headers=h).json()["items"] == []
    # Scope: a unit operator of another unit sees none of it.
    other = run(client, app_db(client).fetch_val, units.insert().values(
        agency_id=month["agency_id"], code="LAIN", name="Unit lain", created_at=utcnow()).returning(units.c.id))  # fmt: skip
    theirs = make_token(
        client, settings, "unit_operator", agency_id=month["agency_id"], unit_id=other
    )
    # (the agency's holidays are theirs too)
    seen = client.get(f"{API}/changes?after=0&limit=1000", headers=theirs).json()["items"]
    assert {c["type"] for c in seen} == {"holiday"}
    assert client.get(f"{API}/checkins", headers=theirs).json()["items"] == []
