"""SKP work targets: an operator imports them per employee and year from CSV
``nip,target_id,description``. Each employee named in the file gets exactly the file's targets
for that year (their earlier ones for the year are replaced); any bad line: nothing is imported.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from databases import Database

from backend import audit, identifiers
from backend.db import employees, skp_targets, utcnow

COLUMNS = ("nip", "target_id", "description")
MAX_ROWS = 20_000


@dataclass
class Report:
    rows: list[tuple[int, str, str]] = field(default_factory=list)  # employee id, id, text
    errors: list[tuple[int, str]] = field(default_factory=list)  # line, what is wrong

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


async def check(db: Database, text: str, in_scope: Any) -> Report:
    """Parse and check the file; ``in_scope`` is the SQL filter of employees one may change."""
    report = Report()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header[:3]) != COLUMNS:
        report.errors.append((1, "the first line must be nip,target_id,description"))
        return report
    raw = list(reader)
    if len(raw) > MAX_ROWS:
        report.errors.append((1, f"at most {MAX_ROWS} lines"))
        return report
    nips = {identifiers.nip(r[0]) for r in raw if r}
    known = {
        r["nip"]: r["id"]
        for r in await db.fetch_all(
            sa.select(employees.c.id, employees.c.nip)
            .where(employees.c.nip.in_(sorted(nips)))
            .where(in_scope)
        )
    }
    seen: set[tuple[int, str]] = set()
    for line, row in enumerate(raw, 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 3:
            report.errors.append((line, "expected nip,target_id,description"))
            continue
        nip, target, description = identifiers.nip(row[0]), row[1].strip(), row[2].strip()
        if nip not in known:
            report.errors.append((line, f"no employee with NIP {nip} in your scope"))
        elif not 0 < len(target) <= 64:
            report.errors.append((line, "target_id: 1 to 64 characters"))
        elif not 0 < len(description) <= 500:
            report.errors.append((line, "description: 1 to 500 characters"))
        elif (known[nip], target) in seen:
            report.errors.append((line, f"target {target} twice for {nip}"))
        else:
            seen.add((known[nip], target))
            report.rows.append((known[nip], target, description))
    return report


async def replace(db: Database, report: Report, *, year: int, actor: str) -> int:
    """Store a checked report: the named employees' targets for ``year`` become the file's."""
    people = sorted({employee_id for employee_id, _t, _d in report.rows})
    now = utcnow()
    async with db.transaction():
        await db.execute(
            skp_targets.delete()
            .where(skp_targets.c.employee_id.in_(people))
            .where(skp_targets.c.year == year)
        )
        await db.execute_many(
            skp_targets.insert(),
            [
                {
                    "employee_id": employee_id,
                    "year": year,
                    "target_id": target,
                    "description": description,
                    "updated_by": actor,
                    "updated_at": now,
                }
                for employee_id, target, description in report.rows
            ],
        )
        await audit.record(
            db,
            actor=actor,
            action="skp.import",
            detail={"year": year, "employees": len(people), "targets": len(report.rows)},
        )
    return len(report.rows)
