"""TPP (tambahan penghasilan pegawai) deductions from the monthly recap.

Each agency edits its own rules table; a code it has not set uses the default. Amounts are kept in
basis points (1/100 of a percent) so sums are exact; the total is capped at 100 %. Every
deduction names the day and the entries (scans, corrections) behind it, or the missing scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from databases import Database

from backend import activity_recap, audit, ledger
from backend.db import insert_or_lock, tpp_rules, utcnow
from backend.errors import ApiError
from backend.i18n import LazyText
from backend.i18n import gettext_lazy as _
from backend.recaps import EmployeeRecap

CAP = 10_000  # 100 %
DEFAULT_RULES: dict[str, int] = {
    "TL1": 50,
    "TL2": 100,
    "TL3": 125,
    "TL4": 150,
    "PSW1": 50,
    "PSW2": 100,
    "PSW3": 125,
    "PSW4": 150,
    "missing_in": 150,
    "missing_out": 150,
    "absent": 300,
    # E-Activity (backend/activity_recap.py): per full percentage point of validated minutes
    # below the threshold, a percentage itself (0: off).
    "activity_shortfall": 50,
    "activity_threshold": 0,
    "apel_absent": 250,  # per apel session missed
}
# Codes that are settings of a deduction rather than deductions.
PARAMETERS = frozenset({"activity_threshold"})
LABELS: dict[str, LazyText] = {
    "TL1": _("Late 1–30 minutes (TL1)"),
    "TL2": _("Late 31–60 minutes (TL2)"),
    "TL3": _("Late 61–90 minutes (TL3)"),
    "TL4": _("Late more than 90 minutes (TL4)"),
    "PSW1": _("Left 1–30 minutes early (PSW1)"),
    "PSW2": _("Left 31–60 minutes early (PSW2)"),
    "PSW3": _("Left 61–90 minutes early (PSW3)"),
    "PSW4": _("Left more than 90 minutes early (PSW4)"),
    "missing_in": _("No check-in"),
    "missing_out": _("No check-out"),
    "absent": _("Absent without reason"),
    "activity_shortfall": _(
        "Per percentage point of validated activity minutes below the threshold"
    ),
    "activity_threshold": _("Activity threshold: validated share of the working minutes (0 = off)"),
    "apel_absent": _("Missed apel (per session)"),
}


@dataclass(frozen=True)
class Deduction:
    day: date
    code: str
    basis_points: int
    # "scan:<id>" / "correction:<id>"; "apel:<id>" for the apel session missed; empty for a
    # day with no scan
    refs: tuple[str, ...]


@dataclass(frozen=True)
class Tpp:
    deductions: tuple[Deduction, ...]

    @property
    def uncapped(self) -> int:
        return sum(d.basis_points for d in self.deductions)

    @property
    def total(self) -> int:
        return min(CAP, self.uncapped)


def percent(basis_points: int) -> str:
    """50 -> "0.5", 125 -> "1.25", 10000 -> "100"."""
    whole, frac = divmod(basis_points, 100)
    return f"{whole}.{frac:02d}".rstrip("0").rstrip(".") if frac else str(whole)


def deductions(recap: EmployeeRecap, rules: dict[str, int]) -> Tpp:
    found = []
    for day in recap.days:
        for code, refs in day.events():
            points = rules.get(code, DEFAULT_RULES[code])
            if points:
                found.append(Deduction(day.day, code, points, refs))
    shortfall = activity_shortfall(recap, rules)
    if shortfall is not None:
        found.append(shortfall)
    return Tpp(tuple(found))


def activity_shortfall(recap: EmployeeRecap, rules: dict[str, int]) -> Deduction | None:
    """The month's diary deduction, dated the period's last day, when the recap has the diary's
    summary and the agency set a threshold."""
    summary = activity_recap.summary_of(recap)
    if summary is None:
        return None
    points = summary.points_below(rules.get("activity_threshold", 0))
    per_point = rules.get("activity_shortfall", DEFAULT_RULES["activity_shortfall"])
    if not points or not per_point:
        return None
    return Deduction(summary.last_day, "activity_shortfall", points * per_point, (summary.ref,))


def total(recap: EmployeeRecap, rules: dict[str, int]) -> int:
    """``deductions(recap, rules).total`` without building the list (the recap page's column)."""
    points = 0
    for day in recap.days:
        if day.status == "absent":
            points += rules.get("absent", DEFAULT_RULES["absent"])
        elif day.status == "present":
            if day.late and day.first_in:
                points += rules.get(day.late, DEFAULT_RULES[day.late])
            if day.early and day.last_out:
                points += rules.get(day.early, DEFAULT_RULES[day.early])
            if day.missing_in:
                points += rules.get("missing_in", DEFAULT_RULES["missing_in"])
            if day.missing_out:
                points += rules.get("missing_out", DEFAULT_RULES["missing_out"])
        for mark in day.apel:
            if mark.status == "missed":
                points += rules.get("apel_absent", DEFAULT_RULES["apel_absent"])
    shortfall = activity_shortfall(recap, rules)
    if shortfall is not None:
        points += shortfall.basis_points
    return min(CAP, points)


async def rules_for(db: Database, agency_id: int) -> dict[str, int]:
    rules = dict(DEFAULT_RULES)
    for row in await db.fetch_all(
        sa.select(tpp_rules.c.code, tpp_rules.c.basis_points).where(
            tpp_rules.c.agency_id == agency_id
        )
    ):
        if row["code"] in rules:
            rules[row["code"]] = row["basis_points"]
    return rules


def parse_percent(value: str) -> int:
    """ "1,25" or "1.25" -> 125 basis points; at most two decimals, 0–100."""
    text = value.strip().replace(",", ".")
    whole, _dot, frac = text.partition(".")
    digits = whole.isascii() and whole.isdigit() and len(whole) <= 3
    if not digits or (frac and not (frac.isascii() and frac.isdigit())) or len(frac) > 2:
        raise ApiError("validation_failed", detail="percent: a number with at most 2 decimals")
    points = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    if points > CAP:
        raise ApiError("validation_failed", detail="percent: at most 100")
    return points


async def set_rule(
    db: Database, *, agency_id: int, code: str, basis_points: int, actor: str
) -> None:
    if code not in DEFAULT_RULES:
        raise ApiError("validation_failed", detail=f"code: one of {', '.join(DEFAULT_RULES)}")
    if not 0 <= basis_points <= CAP:
        raise ApiError("validation_failed", detail="percent: 0–100")
    async with db.transaction():
        values = {"basis_points": basis_points, "updated_by": actor, "updated_at": utcnow()}
        # One row per agency and code also when two admins save at once (PostgreSQL).
        inserted, previous = await insert_or_lock(
            db, tpp_rules, {"agency_id": agency_id, "code": code}, values
        )
        rule_id = previous["id"]
        if inserted:
            previous = None
        else:
            await db.execute(
                tpp_rules.update().where(tpp_rules.c.id == previous["id"]).values(**values)
            )
        await audit.record(
            db,
            actor=actor,
            action="tpp.rule",
            target=f"agency:{agency_id}",
            detail={
                "code": code,
                "from": DEFAULT_RULES[code] if previous is None else previous["basis_points"],
                "to": basis_points,
            },
        )
        await ledger.append(db, "tpp_rule", [rule_id])
