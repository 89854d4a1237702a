"""The ``presensi`` command: serve, migrate, demo data, and the operator's everyday tasks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import apel, audit, fraud, geofence, httpserver, identifiers, migrate, tokens
from backend.accounts import AccountError, create_admin
from backend.checkin.reads import SERVING_ENV
from backend.db import agencies, displays, employees, make_database, units, utcnow
from backend.devices import issue_enrolment_code
from backend.employees import ValidationError, add_employee, check_csv, import_rows
from backend.logs import log_config
from backend.settings import Settings, load_settings

ACTOR = "cli"


class CliError(Exception):
    """A mistake by the operator: printed as one line, exit status 2."""


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Database]:
    db = make_database(settings.database_url)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()


def run_db(settings: Settings, fn: Callable[[Database], Coroutine[Any, Any, Any]]) -> Any:
    async def main() -> Any:
        async with connected(settings) as db:
            return await fn(db)

    return asyncio.run(main())


# -- commands -------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    if args.workers > 1 and settings.is_sqlite:
        raise CliError(
            "SQLite serves one process; use PostgreSQL (PRESENSI_DATABASE_URL) for --workers > 1"
        )
    migrate.upgrade(settings.database_url)
    os.environ[SERVING_ENV] = "1"  # long-running server: the app tunes the collector
    uvicorn.run(
        "backend.app:create_app",
        factory=True,
        **uvicorn_options(settings, host=args.host, port=args.port, workers=args.workers),
    )


def uvicorn_options(
    settings: Settings, *, host: str, port: int, workers: int = 1
) -> dict[str, Any]:
    """How ``serve`` runs uvicorn; scripts/bench/checkin serves its baseline app the same way."""
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "proxy_headers": False,  # client IPs come from backend.state.client_ip and TRUSTED_PROXIES
        "log_level": settings.log_level,
        "log_config": log_config(settings.log_level, settings.log_format),
        "access_log": False,  # access lines add nothing the audit log lacks and cost the hot path
        # Displays receive ~120-byte tokens: compression doubles memory and adds a quarter more
        # CPU per rotation at 10,000 displays (scripts/bench/displays) for no gain.
        "ws_per_message_deflate": False,
        # Read timeouts uvicorn lacks: headers within 10 s, a body within 60 s, headers under
        # 32 KiB (backend/httpserver.py); an idle kept-alive connection closes after 5 s.
        "http": "backend.httpserver:TimedHttpToolsProtocol",
        "timeout_keep_alive": httpserver.KEEP_ALIVE_TIMEOUT,
        "h11_max_incomplete_event_size": httpserver.MAX_HEADER_BYTES,
    }


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    migrate.upgrade(settings.database_url)
    print(f"database at revision {migrate.current_revision(settings.database_url)}")


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    from backend.demo import ensure_demo

    migrate.upgrade(settings.database_url)
    info = run_db(settings, lambda db: ensure_demo(db, settings.secret_key, args.employees))
    if args.json:
        print(json.dumps(info))
        return
    base = settings.public_url
    print("Presensi demo data is ready.\n")
    print(f"  Office:   {info['office']['name']} (id {info['office']['id']})")
    print(f"  Display:  open {base}/display on the office monitor", end="")
    if info["display"]["pairing_code"]:
        print(f" and enter pairing code {info['display']['pairing_code']} (valid 15 minutes)")
    else:
        print(" (already paired)")
    print(f"  Admin:    {base}/admin/login  user {info['admin']['username']}")
    print(f"            password {info['admin']['password']}")
    print(f"  Staff:    {len(info['employees'])} employees, for example:")
    for person in info["employees"][:3]:
        print(f"              {person['nip']}  {person['name']}")
    print(f"  Phones:   open {base}/s and enrol with a NIP and a code from")
    print("            `presensi enrolment-code <NIP>`")
    print(f"  Test:     `presensi display token {info['display']['id']} --qr` shows the current QR")


async def _agency_id(db: Database, code: str | None) -> int:
    if code:
        found = await db.fetch_val(sa.select(agencies.c.id).where(agencies.c.code == code))
        if found is None:
            raise CliError(f"no agency with code {code!r}")
        return int(found)
    ids = [r["id"] for r in await db.fetch_all(sa.select(agencies.c.id))]
    if len(ids) != 1:
        raise CliError(f"there are {len(ids)} agencies: name one with --agency CODE")
    return int(ids[0])


def cmd_employee_add(args: argparse.Namespace, settings: Settings) -> None:
    async def go(db: Database) -> int:
        agency_id = await _agency_id(db, args.agency)
        unit_id = await db.fetch_val(
            sa.select(units.c.id)
            .where(units.c.agency_id == agency_id)
            .where(sa.or_(units.c.code == args.unit, units.c.name == args.unit))
        )
        if unit_id is None:
            raise CliError(f"no unit {args.unit!r} in that agency")
        try:
            return await add_employee(
                db, nip=args.nip, name=args.name, unit_id=unit_id, kind=args.kind, actor=ACTOR
            )
        except ValidationError as exc:
            raise CliError(str(exc)) from exc

    employee_id = run_db(settings, go)
    print(f"employee {employee_id} added")


def cmd_employee_import(args: argparse.Namespace, settings: Settings) -> None:
    from tqdm import tqdm

    text = Path(args.file).read_text(encoding="utf-8-sig")

    async def go(db: Database) -> int:
        agency_id = await _agency_id(db, args.agency)
        report = await check_csv(db, agency_id, text)
        if not report.ok:
            for line, message in report.errors:
                print(f"{args.file}:{line}: {message}", file=sys.stderr)
            raise CliError(f"{len(report.errors)} bad rows; nothing was imported")
        if args.dry_run:
            return len(report.rows)
        with tqdm(total=len(report.rows), unit="rows", disable=len(report.rows) < 1000) as bar:
            try:
                return await import_rows(db, report.rows, actor=ACTOR, progress=bar.update)
            except ValidationError as exc:  # added meanwhile by another import
                raise CliError(f"{exc}; nothing was imported") from exc

    count = run_db(settings, go)
    print(f"{count} employees {'would be ' if args.dry_run else ''}imported")


def cmd_enrolment_code(args: argparse.Namespace, settings: Settings) -> None:
    ttl = settings.enrolment_code_ttl

    async def one(db: Database) -> str:
        employee = await db.fetch_one(
            sa.select(employees.c.id, employees.c.active).where(
                employees.c.nip == identifiers.nip(args.nip)
            )
        )
        if employee is None:
            raise CliError(f"no employee with NIP {args.nip}")
        if not employee["active"]:
            raise CliError(f"employee {args.nip} is not active")
        return await issue_enrolment_code(
            db, settings.secret_key, employee["id"], ttl=ttl, created_by=ACTOR
        )

    async def everyone(db: Database) -> list[tuple[str, str, str]]:
        from backend.db import devices

        with_phone = sa.select(devices.c.employee_id).where(devices.c.revoked_at.is_(None))
        rows = await db.fetch_all(
            sa.select(employees.c.id, employees.c.nip, employees.c.name)
            .where(employees.c.active.is_(True))
            .where(employees.c.id.not_in(with_phone))
            .order_by(employees.c.nip)
        )
        return [
            (
                r["nip"],
                r["name"],
                await issue_enrolment_code(
                    db, settings.secret_key, r["id"], ttl=ttl, created_by=ACTOR
                ),
            )
            for r in rows
        ]

    if args.all:
        if not args.csv:
            raise CliError("--all needs --csv FILE")
        from backend.employees import iter_csv_codes

        codes = run_db(settings, everyone)
        # Codes are secrets until handed out: the file is readable by its owner only.
        path = Path(args.csv)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(iter_csv_codes(codes), encoding="utf-8")
        print(f"{len(codes)} codes written to {args.csv}")
    else:
        if not args.nip:
            raise CliError("give a NIP, or --all --csv FILE")
        print(run_db(settings, one))


def cmd_display_add(args: argparse.Namespace, settings: Settings) -> None:
    from display_server.pairing import UnknownOffice, create_display

    async def go(db: Database) -> tuple[int, str]:
        try:
            return await create_display(
                db, settings.secret_key, args.office, args.name, actor=ACTOR
            )
        except UnknownOffice as exc:
            raise CliError(f"no office with id {args.office}") from exc

    display_id, code = run_db(settings, go)
    print(f"display {display_id} created; open {settings.public_url}/display and enter:")
    print(code)


def operator_name(given: str | None) -> str:
    """Who runs a command: ``--operator`` or the login name of the shell."""
    if given and given.strip():
        return given.strip()[:80]
    try:
        return getpass.getuser()[:80]
    except (OSError, KeyError):
        return "unknown"


def cmd_display_token(args: argparse.Namespace, settings: Settings) -> None:
    """What the display shows now (the apel code during an apel session of its office), for
    testing a phone: marked as printed (scans with it are flagged ``console_token``), and every
    print is in the audit log with who ran the command."""
    window = tokens.current_window(settings.qr_period)
    operator = operator_name(args.operator)

    async def go(db: Database) -> tuple[Any, apel.Session | None]:
        row = await db.fetch_one(sa.select(displays).where(displays.c.id == args.display))
        held = None
        if row is None or row["revoked_at"] is not None:
            return row, held
        starts = apel.window_start(window, settings.qr_period)
        for session in await apel.load_sessions(db, office_ids=[row["office_id"]]):
            if session.holds_at(starts):
                held = session
        await audit.record(
            db,
            actor=f"{ACTOR}:{operator}",
            action="display.console_token",
            target=fraud.console_target(row["id"], window),
            detail={"display_id": row["id"], "window": window, "operator": operator},
        )
        return row, held

    row, session = run_db(settings, go)
    if row is None:
        raise CliError(f"no display with id {args.display}")
    if row["revoked_at"] is not None:
        raise CliError(f"display {args.display} is revoked")
    token = tokens.issue_console(
        settings.qr_keys, row["id"], window, None if session is None else session.id
    )
    if session is not None:
        print(f"apel: {session.name} (session {session.id})", file=sys.stderr)
    url = tokens.scan_url(settings.public_url, token)
    if args.qr:
        import segno

        segno.make_qr(url, error="m").terminal(compact=True)
    print(url)
    print(
        "note: scans with this code are flagged console_token; this print is in the audit log",
        file=sys.stderr,
    )


def cmd_fraud_scan(args: argparse.Namespace, settings: Settings) -> None:
    """The nightly pass by hand: fraud patterns over yesterday and today (or --days), and the
    purge of positions older than LOCATION_RETENTION_DAYS."""

    async def go(db: Database) -> tuple[int, int]:
        if args.days is None:
            return await fraud.nightly(
                db, settings.location_retention_days, settings.default_timezone
            )
        today = utcnow().astimezone(ZoneInfo(settings.default_timezone)).date()
        clustered = await fraud.scan_range(db, today - timedelta(days=args.days), today)
        cleared = await geofence.purge(db, settings.location_retention_days)
        return clustered, cleared

    if args.days is not None and not 0 <= args.days <= 366:
        raise CliError("--days must be between 0 and 366")
    clustered, cleared = run_db(settings, go)
    print(f"{clustered} scans newly clustered; {cleared} positions cleared")


def cmd_admin_create(args: argparse.Namespace, settings: Settings) -> None:
    password = args.password or secrets.token_urlsafe(12)

    async def go(db: Database) -> int:
        try:
            return await create_admin(
                db,
                username=args.username,
                password=password,
                role=args.role,
                agency_id=args.agency_id,
                unit_id=args.unit_id,
                actor=ACTOR,
            )
        except AccountError as exc:
            raise CliError(str(exc)) from exc

    admin_id = run_db(settings, go)
    print(f"admin {admin_id} ({args.role}) created: user {args.username}")
    if not args.password:
        print(f"password {password}")


def cmd_api_token_create(args: argparse.Namespace, settings: Settings) -> None:
    from backend.admin import tokens as api_tokens
    from backend.admin.security import Principal

    operator = Principal(kind="cli", id=0, name=ACTOR, role="super_admin", agency_id=None,
                         unit_id=None)  # fmt: skip
    data = {"name": args.name, "role": args.role, "agency_id": args.agency_id,
            "unit_id": args.unit_id}  # fmt: skip

    async def go(db: Database) -> tuple[int, str]:
        try:
            return await api_tokens.create(db, settings.secret_key, operator, data)
        except (AccountError, ValidationError) as exc:
            raise CliError(str(exc)) from exc

    token_id, raw = run_db(settings, go)
    print(f"API token {token_id} ({args.role}) created: {args.name}; it is shown only now")
    print(raw)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> None:
    from backend.backup import BackupError, backup

    try:
        summary = asyncio.run(backup(settings.database_url, Path(args.file)))
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    print(
        f"{summary.total} rows from {len(summary.rows)} tables written to {args.file}"
        f" (schema revision {summary.revision})"
    )


def cmd_restore(args: argparse.Namespace, settings: Settings) -> None:
    from backend.backup import BackupError, restore

    try:
        summary = asyncio.run(restore(settings.database_url, Path(args.file)))
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    print(f"{summary.total} rows restored (schema revision {summary.revision})")
    print("next: `presensi migrate` brings the schema up to this version")


def cmd_requests_escalate(args: argparse.Namespace, settings: Settings) -> None:
    from backend.requests import escalate_due

    days = settings.request_escalate_days if args.days is None else args.days
    if days < 1:
        raise CliError("--days must be 1 or more")
    moved = run_db(settings, lambda db: escalate_due(db, days))
    print(f"{len(moved)} undecided requests moved up after {days} working days")


def cmd_discipline(args: argparse.Namespace, settings: Settings) -> None:
    """Count a year's days absent without reason (PP 94/2021) and record new levels."""
    from backend import discipline

    async def go(db: Database) -> dict[int, int]:
        year = args.year or discipline.year_of(utcnow())
        if args.agency:
            agency_id = await _agency_id(db, args.agency)
            return {agency_id: await discipline.count(db, agency_id, year)}
        return await discipline.count_all(db, year)

    started = time.perf_counter()
    recorded = run_db(settings, go)
    for agency_id, new in recorded.items():
        print(f"agency {agency_id}: {new} new discipline levels recorded")
    print(f"counted in {time.perf_counter() - started:.1f} s")


def cmd_verify_log(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the chain and every record match, 1 naming the first mismatch."""
    from backend import ledger

    published: list[tuple[int, str]] = []
    if args.heads:
        try:
            published = ledger.published_heads(Path(args.heads).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"{args.heads}: not a daily heads export ({exc})") from exc
    report = run_db(settings, lambda db: ledger.verify(db, published))
    if report.ok:
        print(
            f"ok: {report.entries} entries, head {report.head.seq} {report.head.hash}"
            + (f", {len(published)} published heads match" if published else "")
        )
        return 0
    first = report.problems[0]
    print(f"verify-log: FAILED at {first.line()}", file=sys.stderr)
    for problem in report.problems[1:MAX_PROBLEMS]:
        print(f"  also {problem.line()}", file=sys.stderr)
    if len(report.problems) > MAX_PROBLEMS:
        print(f"  and {len(report.problems) - MAX_PROBLEMS} more", file=sys.stderr)
    return 1


MAX_PROBLEMS = 20


def cmd_log_heads(args: argparse.Namespace, settings: Settings) -> None:
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from backend import csvsafe, ledger
    from backend.db import utcnow

    zone = args.timezone or settings.default_timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CliError(f"--timezone: unknown zone {zone!r}") from exc
    try:
        today = utcnow().astimezone(ZoneInfo(zone)).date()
        end = date.fromisoformat(args.to) if args.to else today
        start = date.fromisoformat(args.since) if args.since else end - timedelta(days=30)
    except ValueError as exc:
        raise CliError(f"dates are YYYY-MM-DD ({exc})") from exc
    if end < start or (end - start).days > ledger.MAX_DAYS:
        raise CliError(f"--from must be before --to, at most {ledger.MAX_DAYS} days apart")
    heads = run_db(settings, lambda db: ledger.daily_heads(db, zone, start, end))
    if args.format == "json":
        print(json.dumps(ledger.heads_document(heads, zone), indent=1))
    else:
        sys.stdout.write(csvsafe.text(ledger.heads_csv_rows(heads), bom=False))


# -- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="presensi",
        description="Presensi: QR attendance with office displays and enrolled phones.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the web server (migrates first)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="processes (PostgreSQL only for >1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("backup", help="write every table to a file (safe while serving)")
    p.add_argument("file", help="where to write, e.g. presensi-2026-11-23.jsonl.gz")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore", help="load a backup into an empty database (SQLite or PostgreSQL)"
    )
    p.add_argument("file", help="a file written by `presensi backup`")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("demo", help="create demo agency, office, display, staff and admin")
    p.add_argument("--employees", type=int, default=20, help="number of demo employees")
    p.add_argument("--json", action="store_true", help="print what exists as one JSON object")
    p.set_defaults(func=cmd_demo)

    emp = sub.add_parser("employee", help="add or import employees")
    emp_sub = emp.add_subparsers(dest="employee_command", required=True, metavar="ACTION")
    p = emp_sub.add_parser("add", help="add one employee")
    p.add_argument("--nip", required=True, help="18-digit NIP (ASN/PPPK) or staff number")
    p.add_argument("--name", required=True)
    p.add_argument("--unit", required=True, help="unit code or name")
    p.add_argument("--kind", default="asn", choices=["asn", "pppk", "contract"])
    p.add_argument("--agency", help="agency code (needed when there are several)")
    p.set_defaults(func=cmd_employee_add)
    p = emp_sub.add_parser("import", help="import employees from CSV (nip,name,unit[,kind])")
    p.add_argument("file")
    p.add_argument("--agency", help="agency code (needed when there are several)")
    p.add_argument("--dry-run", action="store_true", help="validate only")
    p.set_defaults(func=cmd_employee_import)

    p = sub.add_parser("enrolment-code", help="issue a one-time code to enrol a phone")
    p.add_argument("nip", nargs="?")
    p.add_argument("--all", action="store_true", help="every active employee without a phone")
    p.add_argument("--csv", help="with --all: write NIP,name,code rows to this file")
    p.set_defaults(func=cmd_enrolment_code)

    disp = sub.add_parser("display", help="office displays")
    disp_sub = disp.add_subparsers(dest="display_command", required=True, metavar="ACTION")
    p = disp_sub.add_parser("add", help="create a display and print its pairing code")
    p.add_argument("office", type=int, help="office id")
    p.add_argument("--name", default="Layar", help="display name")
    p.set_defaults(func=cmd_display_add)
    p = disp_sub.add_parser(
        "token", help="print a scan URL for testing a phone (flagged, and audited)"
    )
    p.add_argument("display", type=int, help="display id")
    p.add_argument("--qr", action="store_true", help="also draw the QR in the terminal")
    p.add_argument("--operator", help="who runs this, for the audit log (default: login name)")
    p.set_defaults(func=cmd_display_token)

    p = sub.add_parser(
        "discipline",
        help="count days absent without reason (PP 94/2021) and record new levels; run daily",
    )
    p.add_argument("--year", type=int, help="calendar year (default: this year)")
    p.add_argument("--agency", help="agency code (default: every agency)")
    p.set_defaults(func=cmd_discipline)

    p = sub.add_parser(
        "fraud-scan",
        help="the nightly pass: fraud patterns and the purge of old scan positions",
    )
    p.add_argument("--days", type=int, help="look back this many days (default: yesterday)")
    p.set_defaults(func=cmd_fraud_scan)

    p = sub.add_parser(
        "verify-log",
        help="recompute the hash chain of pay records; exit 1 naming the first mismatch",
    )
    p.add_argument("--heads", help="a daily heads export (CSV or JSON) to check against")
    p.set_defaults(func=cmd_verify_log)

    p = sub.add_parser("log-heads", help="print the hash chain's head at the end of each day")
    p.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (default: 30 days ago)")
    p.add_argument("--to", help="last day, YYYY-MM-DD (default: today)")
    p.add_argument("--timezone", help="days in this zone (default: DEFAULT_TIMEZONE)")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.set_defaults(func=cmd_log_heads)

    adm = sub.add_parser("admin", help="admin accounts")
    adm_sub = adm.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    p = adm_sub.add_parser("create", help="create an admin account")
    p.add_argument("--username", required=True)
    p.add_argument("--password", help="at least 10 characters; generated and printed if omitted")
    p.add_argument(
        "--role",
        default="super_admin",
        choices=["super_admin", "agency_admin", "unit_operator", "leader"],
    )
    p.add_argument("--agency-id", type=int)
    p.add_argument("--unit-id", type=int)
    p.set_defaults(func=cmd_admin_create)

    req = sub.add_parser("requests", help="requests from the phones")
    req_sub = req.add_subparsers(dest="requests_command", required=True, metavar="ACTION")
    p = req_sub.add_parser(
        "escalate", help="move undecided requests up the chain (the server does it every 15 min)"
    )
    p.add_argument("--days", type=int, help="working days (default: REQUEST_ESCALATE_DAYS)")
    p.set_defaults(func=cmd_requests_escalate)

    tok = sub.add_parser("api-token", help="API tokens for other systems")
    tok_sub = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    p = tok_sub.add_parser("create", help="create an API token; the token is the last line")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--role", required=True, choices=["super_admin", "agency_admin", "unit_operator", "leader"]
    )
    p.add_argument("--agency-id", type=int)
    p.add_argument("--unit-id", type=int)
    p.set_defaults(func=cmd_api_token_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        status: int | None = args.func(args, settings)
    except (CliError, ValueError) as exc:
        print(f"presensi: {exc}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
