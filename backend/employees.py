"""Employees: validation, adding one, and importing an agency's staff from CSV.

An import is checked as a whole first: when any row is bad, nothing is written and every bad
row is reported with its line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from databases import Database

from backend import audit, csvsafe, identifiers, organisation
from backend.db import CONFLICT_ERRORS, employees, is_unique_violation, offices, units, utcnow
from backend.errors import ApiError
from backend.i18n import LazyText, gettext

KINDS = ("asn", "pppk", "contract")
NIP_LENGTH = 18


class ValidationError(ValueError):
    """A bad value. The message is an English catalogue id with ``{name}`` fields, so the CLI
    prints English and the admin pages show it in the admin's language (``render``)."""

    def __init__(self, message: str, **params: object) -> None:
        self.message = message
        self.params = params
        super().__init__(self.render(None))

    def render(self, lang: str | None) -> str:
        """The message in ``lang`` (None: the English id); LazyText parameters are translated."""
        text = gettext(lang, self.message) if lang else self.message
        if not self.params:
            return text
        values = {
            k: (v.render(lang) if lang else v.msgid) if isinstance(v, LazyText) else v
            for k, v in self.params.items()
        }
        return text.format(**values)


def validate_nip(nip: str, kind: str) -> str:
    """ASN and PPPK numbers are 18 digits; contract staff get the agency's own number."""
    nip = identifiers.nip(nip)
    if kind in ("asn", "pppk"):
        if not (nip.isascii() and nip.isdigit() and len(nip) == NIP_LENGTH):
            raise ValidationError(
                "NIP must be {length} digits for {kind}, got {value!r}",
                length=NIP_LENGTH,
                kind=kind.upper(),
                value=nip,
            )
    elif not (
        nip.isascii() and nip.replace("-", "").replace(".", "").isalnum() and 1 <= len(nip) <= 32
    ):
        raise ValidationError("ID must be 1–32 letters or digits, got {value!r}", value=nip)
    return nip


def validate_kind(kind: str) -> str:
    kind = (kind or "asn").strip().lower()
    if kind not in KINDS:
        raise ValidationError(
            "kind must be one of {kinds}, got {value!r}", kinds=", ".join(KINDS), value=kind
        )
    return kind


def validate_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ValidationError("name must be 1–200 characters")
    return name


MAX_IMPORT_ROWS = 50_000


@dataclass
class ImportReport:
    """The outcome of checking a file: the good rows, and every bad row's line and reason."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, ValidationError]] = field(default_factory=list)
    total: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


async def unit_lookup(db: Database, agency_id: int) -> dict[str, int]:
    """Units of an agency by code and by name, case-insensitive."""
    found: dict[str, int] = {}
    for row in await db.fetch_all(units.select().where(units.c.agency_id == agency_id)):
        found[row["code"].lower()] = row["id"]
        found[row["name"].lower()] = row["id"]
    return found


async def office_lookup(db: Database, agency_id: int) -> dict[str, int]:
    """Offices of an agency by name, case-insensitive."""
    rows = await db.fetch_all(offices.select().where(offices.c.agency_id == agency_id))
    return {row["name"].lower(): row["id"] for row in rows}


async def check_csv(
    db: Database, agency_id: int, text: str, *, allowed_units: set[int] | None = None
) -> ImportReport:
    """Validate every row without writing anything.

    Columns: ``nip``, ``name``, ``unit`` (code or name), optional ``kind`` (asn, pppk, contract)
    and ``office`` (name), and the organisation: ``jabatan`` (position), ``jenis_jabatan``
    (struktural, fungsional, pelaksana), ``eselon`` (I.a … IV.b) and ``atasan_nip`` (the
    supervisor: an employee of the agency or a row of the same file). With ``allowed_units``
    (a unit operator's import), rows for any other unit are errors.
    """
    try:
        return await _check_csv(db, agency_id, text, allowed_units)
    except csv.Error as exc:  # a malformed file (a stray quote or line break): one clear error
        report = ImportReport()
        report.errors.append((1, ValidationError("not a readable CSV file: {why}", why=str(exc))))
        return report


async def _check_csv(
    db: Database, agency_id: int, text: str, allowed_units: set[int] | None
) -> ImportReport:
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = {"nip", "name", "unit"} - set(header)
    if missing:
        report.errors.append(
            (1, ValidationError("missing columns: {columns}", columns=", ".join(sorted(missing))))
        )
        return report
    reader.fieldnames = header
    unit_ids = await unit_lookup(db, agency_id)
    office_ids = await office_lookup(db, agency_id) if "office" in header else {}
    existing = {
        r["nip"]: r["agency_id"]
        for r in await db.fetch_all(
            sa.select(employees.c.nip, units.c.agency_id).select_from(employees.join(units))
        )
    }
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        raw = {k: csvsafe.unescape(v) if isinstance(v, str) else v for k, v in cells.items()}
        report.total += 1
        if report.total > MAX_IMPORT_ROWS:
            report.errors.append(
                (line, ValidationError("more than {limit} rows", limit=MAX_IMPORT_ROWS))
            )
            break
        try:
            kind = validate_kind(raw.get("kind") or "asn")
            nip = validate_nip(raw.get("nip") or "", kind)
            name = validate_name(raw.get("name") or "")
            unit_key = (raw.get("unit") or "").strip().lower()
            if unit_key not in unit_ids or (
                allowed_units is not None and unit_ids[unit_key] not in allowed_units
            ):
                raise ValidationError("unknown unit {value!r}", value=raw.get("unit") or "")
            office_key = (raw.get("office") or "").strip().lower()
            if office_key and office_key not in office_ids:
                raise ValidationError("unknown office {value!r}", value=raw.get("office") or "")
            if nip in existing:
                raise ValidationError("NIP {nip} already exists", nip=nip)
            if nip in seen:
                raise ValidationError("NIP {nip} repeats line {line}", nip=nip, line=seen[nip])
            placement = _organisation_cells(raw, nip)
        except ValidationError as exc:
            report.errors.append((line, exc))
            continue
        seen[nip] = line
        report.rows.append(
            {
                "nip": nip,
                "name": name,
                "unit_id": unit_ids[unit_key],
                "office_id": office_ids.get(office_key),
                "kind": kind,
                **placement,
            }
        )
    if not report.errors:
        report.errors.extend(_check_supervisors(report.rows, seen, existing, agency_id))
    return report


def _organisation_cells(raw: dict[str, Any], nip: str) -> dict[str, Any]:
    """The optional organisation columns of one row, checked on their own."""
    position = " ".join((raw.get("jabatan") or "").split()) or None
    if position is not None and len(position) > 200:
        raise ValidationError("jabatan must be at most {n} characters", n=200)
    try:
        kind = organisation.normalise_position_kind(raw.get("jenis_jabatan"))
    except ApiError:
        raise ValidationError(
            "jenis_jabatan must be one of {kinds}, got {value!r}",
            kinds=", ".join(organisation.POSITION_KINDS),
            value=raw.get("jenis_jabatan") or "",
        ) from None
    try:
        echelon = organisation.normalise_echelon(raw.get("eselon"))
    except ApiError:
        raise ValidationError(
            "eselon must be one of {echelons}, got {value!r}",
            echelons=", ".join(organisation.ECHELONS),
            value=raw.get("eselon") or "",
        ) from None
    boss = identifiers.nip(raw.get("atasan_nip") or "") or None
    if boss == nip:
        raise ValidationError("an employee cannot be their own supervisor")
    return {"position": position, "position_kind": kind, "echelon": echelon, "supervisor_nip": boss}


def _check_supervisors(
    rows: list[dict[str, Any]], lines: dict[str, int], existing: dict[str, int], agency_id: int
) -> list[tuple[int, ValidationError]]:
    """Every ``atasan_nip`` names an employee of the agency or a row of the file, and the rows'
    supervisors do not go round in a circle (staff already stored never report to a new row,
    so a circle can only run through the file)."""
    errors: list[tuple[int, ValidationError]] = []
    for row in rows:
        boss = row["supervisor_nip"]
        if boss is None or boss in lines:
            continue
        if boss not in existing:
            errors.append(
                (lines[row["nip"]], ValidationError("unknown supervisor NIP {nip}", nip=boss))
            )
        elif existing[boss] != agency_id:
            errors.append(
                (
                    lines[row["nip"]],
                    ValidationError("the supervisor {nip} works in another agency", nip=boss),
                )
            )
    edges = {r["nip"]: r["supervisor_nip"] for r in rows if r["supervisor_nip"] in lines}
    looping = organisation.cycles(edges)
    if looping:
        numbers = ", ".join(str(n) for n in sorted(lines[nip] for nip in looping))
        for nip in sorted(looping, key=lines.__getitem__):
            errors.append(
                (
                    lines[nip],
                    ValidationError(
                        "the supervisors go round in a circle: lines {lines}", lines=numbers
                    ),
                )
            )
    errors.sort(key=lambda e: e[0])
    return errors


async def import_rows(
    db: Database,
    rows: list[dict[str, Any]],
    *,
    actor: str,
    progress: Callable[[int], None] | None = None,
    batch: int = 500,
) -> int:
    """Insert validated rows in one transaction: all or nothing.

    A NIP that another import or admin added since the file was checked refuses the whole file
    with ``ValidationError("NIP {nip} already exists")``, as checking it again would.
    """
    now = utcnow()
    try:
        async with db.transaction():
            taken = await _taken_nip(db, [r["nip"] for r in rows])
            if taken is not None:
                raise ValidationError("NIP {nip} already exists", nip=taken)
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                await db.execute_many(
                    employees.insert(),
                    [
                        {k: v for k, v in r.items() if k != "supervisor_nip"} | {"created_at": now}
                        for r in chunk
                    ],
                )
                if progress:
                    progress(len(chunk))
            await _link_supervisors(db, rows)
            await audit.record(
                db, actor=actor, action="employee.import", detail={"rows": len(rows)}
            )
    except CONFLICT_ERRORS as exc:
        # PostgreSQL: a racing import committed one of these NIPs after the check above.
        taken = await _taken_nip(db, [r["nip"] for r in rows]) if is_unique_violation(exc) else None
        if taken is None:
            raise
        raise ValidationError("NIP {nip} already exists", nip=taken) from exc
    return len(rows)


async def _link_supervisors(db: Database, rows: list[dict[str, Any]]) -> None:
    """Within the import's transaction: each new row's supervisor, by NIP (stored or new)."""
    by_boss: dict[str, list[str]] = {}
    for r in rows:
        if r.get("supervisor_nip"):
            by_boss.setdefault(r["supervisor_nip"], []).append(r["nip"])
    if not by_boss:
        return
    ids: dict[str, int] = {}
    bosses = list(by_boss)
    for start in range(0, len(bosses), 500):
        for found in await db.fetch_all(
            sa.select(employees.c.nip, employees.c.id).where(
                employees.c.nip.in_(bosses[start : start + 500])
            )
        ):
            ids[found["nip"]] = found["id"]
    for boss, nips in by_boss.items():
        if boss not in ids:
            raise ValidationError("unknown supervisor NIP {nip}", nip=boss)
        for start in range(0, len(nips), 500):
            await db.execute(
                employees.update()
                .where(employees.c.nip.in_(nips[start : start + 500]))
                .values(supervisor_id=ids[boss])
            )


async def _taken_nip(db: Database, nips: list[str]) -> str | None:
    """The first of ``nips`` that an employee already has."""
    for start in range(0, len(nips), 500):
        found = await db.fetch_val(
            sa.select(employees.c.nip).where(employees.c.nip.in_(nips[start : start + 500]))
        )
        if found is not None:
            return str(found)
    return None


async def add_employee(
    db: Database,
    *,
    nip: str,
    name: str,
    unit_id: int,
    kind: str = "asn",
    office_id: int | None = None,
    actor: str,
    ip: str = "",
) -> int:
    kind = validate_kind(kind)
    nip = validate_nip(nip, kind)
    name = validate_name(name)
    try:
        async with db.transaction():
            if await db.fetch_val(sa.select(employees.c.id).where(employees.c.nip == nip)):
                raise ValidationError("NIP {nip} already exists", nip=nip)
            employee_id = await db.fetch_val(
                employees.insert()
                .values(
                    nip=nip,
                    name=name,
                    unit_id=unit_id,
                    kind=kind,
                    office_id=office_id,
                    created_at=utcnow(),
                )
                .returning(employees.c.id)
            )
            await audit.record(
                db, actor=actor, action="employee.create", target=f"employee:{employee_id}", ip=ip
            )
    except CONFLICT_ERRORS as exc:
        if is_unique_violation(exc):  # the same NIP added at the same moment (PostgreSQL)
            raise ValidationError("NIP {nip} already exists", nip=nip) from exc
        raise
    return int(employee_id)


async def update_employee(
    db: Database,
    employee_id: int,
    *,
    name: str,
    unit_id: int,
    kind: str,
    office_id: int | None,
    actor: str,
    ip: str = "",
) -> None:
    """Change an employee's name, unit, kind or office (the NIP stays: it is who they are)."""
    kind = validate_kind(kind)
    name = validate_name(name)
    async with db.transaction():
        nip = await db.fetch_val(sa.select(employees.c.nip).where(employees.c.id == employee_id))
        if nip is None:
            raise ValidationError("unknown employee")
        validate_nip(nip, kind)
        await db.execute(
            employees.update()
            .where(employees.c.id == employee_id)
            .values(name=name, unit_id=unit_id, kind=kind, office_id=office_id)
        )
        await audit.record(
            db,
            actor=actor,
            action="employee.update",
            target=f"employee:{employee_id}",
            detail={"unit_id": unit_id, "kind": kind, "office_id": office_id},
            ip=ip,
        )


async def set_active(
    db: Database, employee_id: int, active: bool, *, actor: str, ip: str = ""
) -> None:
    """Deactivate (left, retired, moved away) or reactivate; records are never deleted."""
    async with db.transaction():
        await db.execute(
            employees.update().where(employees.c.id == employee_id).values(active=active)
        )
        await audit.record(
            db,
            actor=actor,
            action="employee.activate" if active else "employee.deactivate",
            target=f"employee:{employee_id}",
            ip=ip,
        )


EXPORT_COLUMNS = ("nip", "name", "unit", "kind", "office", "active")


def export_csv(rows: Iterable[Any]) -> str:
    """Rows with nip, name, unit (code), kind, office (name), active: re-importable as is
    (the import undoes what ``csvsafe`` adds to a cell that looks like a formula)."""
    return csvsafe.text(
        [
            EXPORT_COLUMNS,
            *(
                (
                    r["nip"],
                    r["name"],
                    r["unit"],
                    r["kind"],
                    r["office"] or "",
                    "1" if r["active"] else "0",
                )
                for r in rows
            ),
        ]
    )


def iter_csv_codes(rows: Iterable[tuple[str, str, str]]) -> str:
    return csvsafe.text([("nip", "name", "code"), *rows])
