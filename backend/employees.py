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

from backend import audit
from backend.db import employees, units, utcnow

KINDS = ("asn", "pppk", "contract")
NIP_LENGTH = 18


class ValidationError(ValueError):
    pass


def validate_nip(nip: str, kind: str) -> str:
    """ASN and PPPK numbers are 18 digits; contract staff get the agency's own number."""
    nip = nip.strip().replace(" ", "")
    if kind in ("asn", "pppk"):
        if not (nip.isascii() and nip.isdigit() and len(nip) == NIP_LENGTH):
            raise ValidationError(
                f"NIP must be {NIP_LENGTH} digits for {kind.upper()}, got {nip!r}"
            )
    elif not (
        nip.isascii() and nip.replace("-", "").replace(".", "").isalnum() and 1 <= len(nip) <= 32
    ):
        raise ValidationError(f"ID must be 1–32 letters or digits, got {nip!r}")
    return nip


def validate_kind(kind: str) -> str:
    kind = (kind or "asn").strip().lower()
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def validate_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ValidationError("name must be 1–200 characters")
    return name


@dataclass
class ImportReport:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

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


async def check_csv(db: Database, agency_id: int, text: str) -> ImportReport:
    """Validate every row (columns nip, name, unit, optional kind) without writing anything."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = {"nip", "name", "unit"} - set(header)
    if missing:
        report.errors.append((1, f"missing columns: {', '.join(sorted(missing))}"))
        return report
    reader.fieldnames = header
    unit_ids = await unit_lookup(db, agency_id)
    existing = {r["nip"] for r in await db.fetch_all(sa.select(employees.c.nip))}
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        try:
            kind = validate_kind(raw.get("kind") or "asn")
            nip = validate_nip(raw.get("nip") or "", kind)
            name = validate_name(raw.get("name") or "")
            unit_key = (raw.get("unit") or "").strip().lower()
            if unit_key not in unit_ids:
                raise ValidationError(f"unknown unit {raw.get('unit')!r}")
            if nip in existing:
                raise ValidationError(f"NIP {nip} already exists")
            if nip in seen:
                raise ValidationError(f"NIP {nip} repeats line {seen[nip]}")
        except ValidationError as exc:
            report.errors.append((line, str(exc)))
            continue
        seen[nip] = line
        report.rows.append({"nip": nip, "name": name, "unit_id": unit_ids[unit_key], "kind": kind})
    return report


async def import_rows(
    db: Database,
    rows: list[dict[str, Any]],
    *,
    actor: str,
    progress: Callable[[int], None] | None = None,
    batch: int = 500,
) -> int:
    """Insert validated rows in one transaction: all or nothing."""
    now = utcnow()
    async with db.transaction():
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            await db.execute_many(employees.insert(), [{**r, "created_at": now} for r in chunk])
            if progress:
                progress(len(chunk))
        await audit.record(db, actor=actor, action="employee.import", detail={"rows": len(rows)})
    return len(rows)


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
    async with db.transaction():
        if await db.fetch_val(sa.select(employees.c.id).where(employees.c.nip == nip)) is not None:
            raise ValidationError(f"NIP {nip} already exists")
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
    return int(employee_id)


def iter_csv_codes(rows: Iterable[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["nip", "name", "code"])
    writer.writerows(rows)
    return out.getvalue()
