"""The tamper-evident record: every pay entry in one hash chain, and `presensi verify-log`
naming the first entry that no longer matches after the database was changed behind the
application's back (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from databases import Database
from starlette.testclient import TestClient

from backend import absences, ledger, review, tpp
from backend.app import create_app
from backend.cli import main
from backend.db import checkins, corrections, ledger_entries, ledger_head
from backend.demo import ensure_demo
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, make_settings, run
from tests.support.admin import make_admins, sign_in
from tests.test_api import current_token, enrolled
from tests.test_checkin_records import phones_for, submit_all
from tests.test_cli import cli_environment

DAY = date(2026, 11, 23)
WIB = ZoneInfo("Asia/Jakarta")


# -- canonical JSON ------------------------------------------------------------------------------


def test_canonical_entry_is_spelt_one_way_on_every_database() -> None:
    kind = ledger.KINDS["checkin"]
    values = {
        "id": 7, "employee_id": 3, "device_id": "dev-1", "display_id": 2, "office_id": 1,
        "window": 118_000_000, "local_date": date(2026, 12, 1), "kind": "in",
        "late_minutes": 0, "category": None, "status": "accepted", "client_ts": 1_764_550_000_000,
        "nonce": "ab" * 16, "client_ip": "10.0.0.1", "flags": "other_office",
    }  # fmt: skip
    aware = ledger.record_of(kind, {**values, "at": datetime(2026, 12, 1, 0, 58, 7, 5, UTC)})
    naive = ledger.record_of(kind, {**values, "at": datetime(2026, 12, 1, 0, 58, 7, 5)})
    assert aware == naive  # SQLite hands timestamps back naive, PostgreSQL aware
    assert "client_ip" not in aware and "flags" not in aware  # review signals are not chained
    rows, head = ledger.extend(
        ledger.Head(0, ledger.GENESIS, None),
        "checkin",
        [aware],
        datetime(2026, 12, 1, 1, 0, 0, 0, UTC),
    )
    body = rows[0]["body"]
    assert body == (
        '{"at":"2026-12-01T01:00:00.000000Z","kind":"checkin","record":{"at":'
        '"2026-12-01T00:58:07.000005Z","category":null,"client_ts":1764550000000,'
        '"device_id":"dev-1","display_id":2,"employee_id":3,"id":7,"kind":"in",'
        '"late_minutes":0,"local_date":"2026-12-01","nonce":"' + "ab" * 16 + '",'
        '"office_id":1,"status":"accepted","window":118000000},"seq":1}'
    )
    assert rows[0]["hash"] == hashlib.sha256(bytes(32) + body.encode()).hexdigest()
    assert head == ledger.Head(1, rows[0]["hash"], datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    # Booleans: SQLite's 0/1 and PostgreSQL's bool are the same JSON value.
    assert ledger.json_value(sa.Boolean(), 1) is True
    assert ledger.json_value(sa.Boolean(), False) is False


def test_entries_time_never_goes_back_along_the_chain() -> None:
    later = datetime(2026, 12, 1, 2, tzinfo=UTC)
    head = ledger.Head(5, ledger.GENESIS, later)
    rows, new_head = ledger.extend(head, "absence", [{"id": 1}], later - timedelta(seconds=1))
    assert rows[0]["at"] == later and rows[0]["seq"] == 6 and new_head.seq == 6


def test_a_kind_names_existing_fields_and_its_id() -> None:
    with pytest.raises(ValueError, match="include id"):
        ledger.register("bad", checkins, ("employee_id",))
    with pytest.raises(KeyError):
        ledger.register("bad", checkins, ("id", "no_such_column"))
    assert "bad" not in ledger.KINDS


# -- what is chained -------------------------------------------------------------------------------


def entries(client: TestClient) -> list[dict[str, Any]]:
    rows = run(
        client,
        app_db(client).fetch_all,
        sa.select(ledger_entries).order_by(ledger_entries.c.seq),
    )
    return [dict(r._mapping) for r in rows]


async def pending_scan(db: Database, employee_id: int, device_id: str, display_id: int) -> int:
    """A scan kept for review, as the check-in path stores and chains it."""
    async with db.transaction():
        office_id = await db.fetch_val(
            "SELECT office_id FROM displays WHERE id = :d", {"d": display_id}
        )
        scan_id: int = await db.fetch_val(
            checkins.insert()
            .values(
                employee_id=employee_id, device_id=device_id, display_id=display_id,
                office_id=office_id, window=1, at=datetime(2026, 11, 23, 0, 40, tzinfo=UTC),
                local_date=DAY, kind="in", status="pending_review", client_ts=1, nonce="00" * 16,
            )
            .returning(checkins.c.id)
        )  # fmt: skip
        await ledger.append(db, "checkin", [scan_id])
    return scan_id


def agency_of(client: TestClient) -> int:
    return int(run(client, app_db(client).fetch_val, sa.text("SELECT min(id) FROM agencies")))


def pay_entries(client: TestClient, settings: Settings, world: dict[str, Any]) -> dict[str, int]:
    """One of each kind of pay entry, through the application; their ids by kind."""
    db = app_db(client)
    person = world["employees"][0]
    phone = enrolled(client, settings, person["nip"])
    token = current_token(settings, world["display"]["id"])
    first = phone.check_in(token)
    assert first.status_code == 201, first.text
    assert phone.check_in(token).status_code == 200  # a repeat is no new record nor entry
    ids = {"checkin": first.json()["checkin_id"]}
    employee_id = int(
        run(
            client,
            db.fetch_val,
            sa.select(checkins.c.employee_id).where(checkins.c.id == ids["checkin"]),
        )
    )
    assert phone.device_id is not None
    waiting = run(client, pending_scan, db, employee_id, phone.device_id, world["display"]["id"])
    run(client, review.decide, db, checkin_id=waiting, decision="approved", reason="", actor="a")
    ids["correction"] = run(
        client, review.correct, db, employee_id=employee_id, day=DAY, kind="out",
        at=time(16, 5), reason="lupa absen pulang", actor="admin:1",
    )  # fmt: skip
    ids["absence"] = run(
        client, absences.add, db, employee_id=employee_id, kind="sakit",
        start=DAY + timedelta(days=1), end=DAY + timedelta(days=2), actor="admin:1",
    )  # fmt: skip
    run(client, absences.cancel, db, absence_id=ids["absence"], actor="admin:1")
    run(
        client,
        tpp.set_rule,
        db,
        agency_id=agency_of(client),
        code="TL1",
        basis_points=75,
        actor="a",
    )
    run(
        client,
        tpp.set_rule,
        db,
        agency_id=agency_of(client),
        code="TL1",
        basis_points=50,
        actor="a",
    )
    return ids


def test_every_pay_entry_is_appended_once(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    ids = pay_entries(client, settings, world)
    chain = entries(client)
    assert [e["kind"] for e in chain] == [
        "checkin", "checkin", "checkin_review", "correction", "absence", "absence",
        "tpp_rule", "tpp_rule",
    ]  # fmt: skip
    assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
    previous = ledger.GENESIS
    for e in chain:
        assert e["hash"] == hashlib.sha256(bytes.fromhex(previous) + e["body"].encode()).hexdigest()
        previous = e["hash"]
    cancelled = json.loads(chain[5]["body"])["record"]
    assert cancelled["id"] == ids["absence"] and cancelled["cancelled_by"] == "admin:1"
    assert json.loads(chain[7]["body"])["record"]["basis_points"] == 50
    head = run(client, app_db(client).fetch_one, sa.select(ledger_head))
    assert (head["seq"], head["hash"]) == (len(chain), previous)
    report = run(client, ledger.verify, app_db(client))
    assert report.ok, report.problems
    assert report.entries == len(chain)


# -- verify-log after the database was changed directly -------------------------------------------


@pytest.fixture
def verify_log(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # type: ignore[no-untyped-def]
    cli_environment(tmp_path, database_url, monkeypatch)

    def invoke(*argv: str) -> tuple[int, str, str]:
        status = main(["verify-log", *argv])
        out, err = capsys.readouterr()
        return status, out, err

    return invoke


def sql(client: TestClient, statement: str, **values: Any) -> Any:
    return run(client, app_db(client).execute, sa.text(statement).bindparams(**values))


def entry_of(client: TestClient, kind: str, record_id: int) -> int:
    """The seq of the latest entry of a record."""
    return int(
        run(
            client,
            app_db(client).fetch_val,
            sa.select(sa.func.max(ledger_entries.c.seq))
            .where(ledger_entries.c.kind == kind)
            .where(ledger_entries.c.record_id == record_id),
        )
    )


TAMPERING = [
    "edit_checkin", "edit_correction", "delete_checkin", "insert_checkin", "edit_entry",
    "delete_entry", "insert_entry", "delete_last_entries",
]  # fmt: skip


@pytest.mark.parametrize("tampering", TAMPERING)
def test_fraud_admin_edits_database_detected(
    client: TestClient, settings: Settings, world: dict[str, Any], verify_log: Any, tampering: str
) -> None:
    """An admin with database access moves a check-in 30 minutes earlier, deletes one, adds
    one, or edits the chain itself: `presensi verify-log` fails and names it."""
    ids = pay_entries(client, settings, world)
    status, out, err = verify_log()
    assert status == 0, err
    assert out.startswith("ok: 8 entries, head 8 ")
    checkin_entry = entry_of(client, "checkin", ids["checkin"])

    if tampering == "edit_checkin":  # 07:31 becomes 07:01: no longer late
        sql(
            client,
            "UPDATE checkins SET late_minutes = late_minutes + 30 WHERE id = :i",
            i=ids["checkin"],
        )
        expected = f"entry {checkin_entry} (checkin {ids['checkin']}): record_changed: "
        detail = "late_minutes"
    elif tampering == "edit_correction":
        row = run(client, app_db(client).fetch_one, corrections.select())
        earlier = row["at"] - timedelta(hours=1)
        run(client, app_db(client).execute, corrections.update().values(at=earlier))
        expected = f"entry {entry_of(client, 'correction', ids['correction'])} (correction "
        detail = 'at "'
    elif tampering == "delete_checkin":
        sql(client, "DELETE FROM checkins WHERE id = :i", i=ids["checkin"])
        expected = f"entry {checkin_entry} (checkin {ids['checkin']}): record_deleted"
        detail = "is gone"
    elif tampering == "insert_checkin":
        row = dict(
            run(
                client,
                app_db(client).fetch_one,
                checkins.select().where(checkins.c.id == ids["checkin"]),
            )._mapping
        )
        row.update(id=999, window=row["window"] - 5, nonce="11" * 16)
        run(client, app_db(client).execute, checkins.insert().values(**row))
        expected = "no entry (checkin 999): record_not_in_log"
        detail = "inserted directly"
    elif tampering == "edit_entry":  # the chain's own copy edited to match an edited record
        body = run(
            client,
            app_db(client).fetch_val,
            sa.select(ledger_entries.c.body).where(ledger_entries.c.seq == checkin_entry),
        )
        sql(
            client,
            "UPDATE ledger_entries SET body = :b WHERE seq = :s",
            b=body.replace('"late_minutes":', '"late_minutes":1'),
            s=checkin_entry,
        )
        expected = f"entry {checkin_entry} (checkin {ids['checkin']}): entry_changed"
        detail = "does not follow the chain"
    elif tampering == "delete_entry":
        sql(client, "DELETE FROM ledger_entries WHERE seq = 4")
        expected = "entry 4 (ledger): entry_missing"
        detail = "entry 4 deleted (the next is 5)"
    elif tampering == "insert_entry":  # a forged entry at the end, with a made-up hash
        sql(
            client,
            "INSERT INTO ledger_entries (seq, kind, record_id, at, body, hash)"
            " SELECT 9, kind, record_id, at, body, hash FROM ledger_entries WHERE seq = 8",
        )
        expected = "entry 9 (tpp_rule"
        detail = "entry_changed"
    else:  # the last entries and their records removed: the head row still says 8
        sql(client, "DELETE FROM ledger_entries WHERE seq >= 7")
        expected = "entry 6 (ledger_head): head_mismatch"
        detail = "the head row says entry 8"

    status, out, err = verify_log()
    assert status == 1, out
    first = err.splitlines()[0]
    assert first.startswith("verify-log: FAILED at " + expected), err
    assert detail in first, err


def test_published_heads_catch_a_chain_rewritten_from_scratch(
    client: TestClient, settings: Settings, world: dict[str, Any], verify_log: Any, tmp_path: Path
) -> None:
    """Whoever can write the database can recompute every hash after an edit; the daily heads
    handed to the Inspektorat cannot be recomputed."""
    pay_entries(client, settings, world)
    db = app_db(client)
    heads = run(
        client,
        ledger.daily_heads,
        db,
        "Asia/Jakarta",
        date.today() - timedelta(days=1),
        date.today() + timedelta(days=1),
    )
    exported = tmp_path / "heads.json"
    exported.write_text(json.dumps(ledger.heads_document(heads, "Asia/Jakarta")))
    status, out, _ = verify_log("--heads", str(exported))
    assert status == 0 and "published heads match" in out

    async def rewrite() -> None:  # change a TPP rule, then re-chain everything after it
        async with db.transaction():
            await db.execute(sa.text("UPDATE tpp_rules SET basis_points = 0"))
            rows = await db.fetch_all(sa.select(ledger_entries).order_by(ledger_entries.c.seq))
            await db.execute(ledger_entries.delete())
            head = ledger.Head(0, ledger.GENESIS, None)
            for r in rows:
                kind = ledger.KINDS[r["kind"]]
                row = await db.fetch_one(
                    sa.select(*kind.columns()).where(kind.table.c.id == r["record_id"])
                )
                new, head = ledger.extend(head, r["kind"], [ledger.record_of(kind, row)], r["at"])
                await db.execute(ledger_entries.insert().values(new[0]))
            await ledger.write_head(db, head)

    run(client, rewrite)
    status, out, err = verify_log()
    assert status == 0, err  # consistent on its own ...
    status, out, err = verify_log("--heads", str(exported))
    assert status == 1  # ... but not with what was published
    assert err.splitlines()[0].startswith(
        "verify-log: FAILED at entry 8 (ledger): published_head_mismatch"
    )


def test_a_head_file_that_is_not_one_is_refused(
    verify_log: Any, tmp_path: Path, database_url: str
) -> None:
    bad = tmp_path / "heads.csv"
    bad.write_text("nothing,here\n1,2\n")
    status, _, err = verify_log("--heads", str(bad))
    assert status == 2 and "not a daily heads export" in err


# -- the daily heads -------------------------------------------------------------------------------


def test_daily_heads_are_the_last_entry_before_each_midnight(
    client: TestClient, world: dict[str, Any]
) -> None:
    db = app_db(client)
    run(
        client,
        tpp.set_rule,
        db,
        agency_id=agency_of(client),
        code="TL2",
        basis_points=1,
        actor="a",
    )
    rule_id = run(client, db.fetch_val, sa.text("SELECT id FROM tpp_rules"))
    run(client, db.execute, ledger_entries.delete())  # start the chain on the fake clock
    run(client, db.execute, ledger_head.update().values(seq=0, hash=ledger.GENESIS, at=None))

    async def chained(moment: datetime) -> None:
        async with db.transaction():
            await ledger.append(db, "tpp_rule", [rule_id], now=moment)

    # 23:00 WIB is 16:00 UTC: it counts for the WIB day.
    for day, hour in [(DAY, 7), (DAY, 23), (DAY + timedelta(days=2), 8)]:
        run(client, chained, datetime.combine(day, time(hour), WIB))
    now = datetime.combine(DAY + timedelta(days=2), time(12), WIB)
    heads = run(
        client, ledger.daily_heads, db, "Asia/Jakarta", DAY - timedelta(days=1),
        DAY + timedelta(days=5), now=now,
    )  # fmt: skip
    chain = entries(client)
    assert [(h.day, h.seq, h.entries, h.final) for h in heads] == [
        (DAY - timedelta(days=1), 0, 0, True),
        (DAY, 2, 2, True),
        (DAY + timedelta(days=1), 2, 0, True),
        (DAY + timedelta(days=2), 3, 1, False),  # today, so far; no days after today
    ]
    assert heads[0].hash == ledger.GENESIS
    assert heads[1].hash == chain[1]["hash"] and heads[3].hash == chain[2]["hash"]
    rows = ledger.heads_csv_rows(heads)
    assert rows[0] == ("day", "seq", "hash", "entries", "final")
    exported = "\ufeff" + "\n".join(",".join(map(str, r)) for r in rows)
    assert ledger.published_heads(exported) == [
        (2, chain[1]["hash"]), (2, chain[1]["hash"]), (3, chain[2]["hash"]),
    ]  # fmt: skip


# -- two writers on PostgreSQL -----------------------------------------------------------------------


@pytest.fixture
def two_apps(
    tmp_path: Path, database_url: str
) -> Iterator[tuple[TestClient, TestClient, Settings]]:
    settings = make_settings(tmp_path, database_url)
    with (
        TestClient(create_app(settings), base_url="https://presensi.test") as a,
        TestClient(create_app(settings), base_url="https://presensi.test") as b,
    ):
        yield a, b, settings


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_appending_at_once_keep_one_chain(
    two_apps: tuple[TestClient, TestClient, Settings],
) -> None:
    """Two servers' check-in writers and admin appends race on the head row: every entry
    follows the one before, none is lost or doubled."""
    a, b, settings = two_apps
    world = run(a, ensure_demo, app_db(a), settings.secret_key, 24)
    run(a, app_db(a).execute, sa.text("UPDATE displays SET last_seen_at = now()"))
    phones = phones_for(a, settings, world)
    display = world["display"]["id"]
    halves = {a: phones[:12], b: phones[12:]}
    errors: list[BaseException] = []

    def writer(client: TestClient, mine: list[Phone]) -> None:
        try:
            for offset in (0, -1):  # two windows: two scans each, in two batches
                token = current_token(settings, display, offset)
                outcomes = run(
                    client, submit_all, client, settings, [p.checkin_body(token) for p in mine]
                )
                assert all(getattr(o, "created", False) for o in outcomes), outcomes
                run(client, tpp.set_rule, app_db(client), agency_id=agency_of(client), code="TL3",
                    basis_points=10 + offset, actor="race")  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c, p)) for c, p in halves.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    chain = entries(a)
    assert sum(e["kind"] == "checkin" for e in chain) == 48
    assert sum(e["kind"] == "tpp_rule" for e in chain) == 4
    assert [e["seq"] for e in chain] == list(range(1, 53))
    report = run(a, ledger.verify, app_db(a))
    assert report.ok, report.problems
    assert report.head.seq == 52


# -- the console ---------------------------------------------------------------------------------


def test_console_shows_prints_and_exports_the_daily_heads(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    pay_entries(client, settings, world)
    head = run(client, app_db(client).fetch_one, sa.select(ledger_head))
    make_admins(client)
    sign_in(client, "leader")  # an inspector's read-only account
    page = client.get("/admin/ledger")
    assert page.status_code == 200
    assert head["hash"] in page.text and "Rekam jejak antirekayasa" in page.text
    exported = client.get("/admin/ledger/heads.json")
    assert exported.headers["content-disposition"].startswith("attachment;")
    document = exported.json()
    assert document["format"] == "presensi-ledger-heads"
    assert document["heads"][-1]["seq"] == head["seq"] == 8
    assert document["heads"][-1]["hash"] == head["hash"]
    csv_text = client.get("/admin/ledger/heads.csv").text
    assert ledger.published_heads(csv_text)[-1] == (8, head["hash"])
    refused = client.get("/admin/ledger/heads.json?from=2026-12-01&to=2025-01-01")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "validation_failed"
    client.cookies.clear()
    sign_in(client, "unit_operator")
    assert client.get("/admin/ledger").status_code == 403


# -- records that existed before the chain ---------------------------------------------------------


def test_the_migration_seals_the_records_that_exist(tmp_path: Path) -> None:
    from backend import migrate

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0005")

    async def seed(db: Database) -> None:
        now = datetime(2026, 11, 2, 1, tzinfo=UTC)
        await db.execute(
            "INSERT INTO agencies (code, name, created_at) VALUES ('A', 'A', :t)", {"t": now}
        )
        for code, points in (("TL1", 60), ("TL2", 110)):
            await db.execute(
                "INSERT INTO tpp_rules (agency_id, code, basis_points, updated_by, updated_at)"
                " VALUES (1, :c, :p, 'admin:1', :t)",
                {"c": code, "p": points, "t": now},
            )

    async def with_db(work: Any) -> Any:
        db = Database(url)
        await db.connect()
        try:
            return await work(db)
        finally:
            await db.disconnect()

    import asyncio

    asyncio.run(with_db(seed))
    migrate.upgrade(url)
    report = asyncio.run(with_db(ledger.verify))
    assert report.ok, report.problems
    assert report.entries == 2 and report.head.seq == 2

    async def edit(db: Database) -> None:
        await db.execute(sa.text("UPDATE tpp_rules SET basis_points = 0 WHERE code = 'TL2'"))

    asyncio.run(with_db(edit))
    report = asyncio.run(with_db(ledger.verify))
    assert [p.line() for p in report.problems] == [
        "entry 2 (tpp_rule 2): record_changed: the row no longer matches its entry:"
        " basis_points 110 -> 0"
    ]


def test_log_heads_prints_the_daily_heads(
    client: TestClient,
    settings: Settings,
    world: dict[str, Any],
    verify_log: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pay_entries(client, settings, world)
    head = run(client, app_db(client).fetch_one, sa.select(ledger_head))
    assert (
        main(["log-heads", "--format", "json", "--to", "2099-01-01", "--from", "2098-12-01"]) == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["heads"] == []  # no day after today
    assert main(["log-heads"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == '"day","seq","hash","entries","final"'
    assert f'"{head["seq"]}","{head["hash"]}"' in rows[-1]
    assert main(["log-heads", "--from", "2026-13-01"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["log-heads", "--timezone", "Mars/Olympus"]) == 2
    assert "unknown zone" in capsys.readouterr().err
