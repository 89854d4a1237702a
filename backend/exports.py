"""Exports of the presence log, the daily recap and the monthly recap with TPP, as CSV and XLSX.

Every file starts with header rows (agency, unit, period, generation time), then a blank row, the
column headings and the data. The tables are built here once and used by the admin pages too,
so a page and its export cannot disagree. CSV streams row by row; XLSX is written with
openpyxl's write-only mode to a temporary file (rows never pile up in memory) and streamed
from there in chunks.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO

from openpyxl import Workbook
from starlette.responses import StreamingResponse

from backend import absences, activity_recap, csvsafe, tpp
from backend.i18n import LazyText, gettext
from backend.i18n import gettext_lazy as _
from backend.presence import LogRow
from backend.recaps import EARLY, LATE, EmployeeRecap, Recap, daily_rate

CHUNK = 64 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Cell = str | int | float | None


@dataclass
class Sheet:
    """One table: a title, header rows (label, value), column headings and rows (possibly async)."""

    title: str
    header: list[tuple[str, str]]
    columns: list[str]
    rows: Iterable[Sequence[Cell]] | AsyncIterable[Sequence[Cell]]


def header_rows(
    lang: str, *, agency: str, unit: str | None, start: date, end: date, generated: datetime
) -> list[tuple[str, str]]:
    period = start.isoformat() if start == end else f"{start.isoformat()} – {end.isoformat()}"
    return [
        (gettext(lang, "Agency"), agency),
        (gettext(lang, "Unit"), unit or gettext(lang, "All units")),
        (gettext(lang, "Period"), period),
        (gettext(lang, "Generated"), generated.isoformat(sep=" ", timespec="seconds")),
    ]


def _t(lang: str, text: LazyText | str) -> str:
    return text.render(lang) if isinstance(text, LazyText) else text


COUNT_COLUMNS: list[tuple[str, LazyText | str]] = [
    ("scheduled", _("Work days")),
    ("present", _("Present")),
    *[(c, c) for c in LATE],
    *[(c, c) for c in EARLY],
    ("missing_in", _("No check-in")),
    ("missing_out", _("No check-out")),
    ("absent", _("Absent without reason")),
    *[(k, absences.SHORT[k]) for k in absences.KINDS],
    ("holiday", _("Holiday")),
]


# Apel sessions of the month (backend/apel.py): due (held and not excused), attended, missed.
APEL_COLUMNS: list[tuple[str, LazyText | str]] = [
    ("apel_due", _("Apel due")),
    ("apel_attended", _("Apel attended")),
    ("apel_missed", _("Apel missed")),
]


def _rate(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def monthly_table(
    recap: Recap, rules: dict[str, int], lang: str
) -> tuple[list[str], list[list[Cell]]]:
    """One row per employee: the counts, the attendance rate (%) and the TPP deduction (%)."""
    columns = [gettext(lang, "No."), "NIP", gettext(lang, "Name"), gettext(lang, "Unit")]
    columns += [_t(lang, label) for _key, label in COUNT_COLUMNS]
    columns += [_t(lang, label) for _key, label in APEL_COLUMNS]
    # The diary's columns (when attached) come before the two last ones, which stay last.
    diary = any(activity_recap.summary_of(emp) for emp in recap.employees)
    if diary:
        columns += [_t(lang, label) for label in ACTIVITY_COLUMNS]
    columns += [gettext(lang, "Attendance %"), gettext(lang, "TPP deduction %")]
    rows: list[list[Cell]] = []
    for i, emp in enumerate(recap.employees, 1):
        counts = emp.counts()
        due = counts["present"] + counts["absent"]
        row: list[Cell] = [i, emp.nip, emp.name, emp.unit_name]
        row += [counts[key] for key, _label in COUNT_COLUMNS]
        row += [counts[key] for key, _label in APEL_COLUMNS]
        if diary:
            row += activity_cells(emp)
        row += [_rate(counts["present"] / due if due else None), tpp.total(emp, rules) / 100]
        rows.append(row)
    return columns, rows


ACTIVITY_COLUMNS: list[LazyText] = [
    _("Activity days submitted"),
    _("Activity days approved"),
    _("Validated minutes"),
    _("Effective working minutes"),
    _("Activity %"),
]


def activity_cells(emp: EmployeeRecap) -> list[Cell]:
    summary = activity_recap.summary_of(emp)
    if summary is None:
        return [None] * len(ACTIVITY_COLUMNS)
    return [
        summary.submitted_days,
        summary.approved_days,
        summary.validated_minutes,
        summary.effective_minutes,
        summary.percent,
    ]


def tpp_detail_table(
    recap: Recap, rules: dict[str, int], lang: str
) -> tuple[list[str], list[list[Cell]]]:
    """One row per deduction, naming the entries (or the missing scan) behind it."""
    columns = ["NIP", gettext(lang, "Name"), gettext(lang, "Date"), gettext(lang, "Code")]
    columns += [gettext(lang, "Reason"), gettext(lang, "Deduction %"), gettext(lang, "Entries")]
    rows: list[list[Cell]] = []
    for emp in recap.employees:
        rows.extend(_deduction_rows(emp, rules, lang))
    return columns, rows


def _deduction_rows(emp: EmployeeRecap, rules: dict[str, int], lang: str) -> list[list[Cell]]:
    return [
        [
            emp.nip,
            emp.name,
            d.day.isoformat(),
            d.code,
            tpp.LABELS[d.code].render(lang),
            d.basis_points / 100,
            " ".join(d.refs) or gettext(lang, "no scan"),
        ]
        for d in tpp.deductions(emp, rules).deductions
    ]


def daily_table(recap: Recap, lang: str) -> tuple[list[str], list[list[Cell]]]:
    """One row per day and unit."""
    columns = [gettext(lang, "Date"), gettext(lang, "Unit")]
    columns += [_t(lang, label) for _key, label in COUNT_COLUMNS]
    columns += [gettext(lang, "Attendance %")]
    names = {e.unit_id: e.unit_name for e in recap.employees}
    rows: list[list[Cell]] = []
    for day in recap.days:
        for unit_id, counts in sorted(recap.daily(day).items(), key=lambda u: names[u[0]]):
            rows.append(
                [day.isoformat(), names[unit_id]]
                + [counts[key] for key, _label in COUNT_COLUMNS]
                + [_rate(daily_rate(counts))]
            )
    return columns, rows


def log_columns(lang: str) -> list[str]:
    return [
        gettext(lang, "Time"), gettext(lang, "Working day"), "NIP", gettext(lang, "Name"),
        gettext(lang, "Unit"), gettext(lang, "Office"), gettext(lang, "Display"),
        gettext(lang, "In/out"), gettext(lang, "Category"), gettext(lang, "Status"),
        gettext(lang, "Flags"), gettext(lang, "Note"), gettext(lang, "Entry"),
    ]  # fmt: skip


async def log_rows(rows: AsyncIterable[LogRow]) -> AsyncIterator[list[Cell]]:
    async for r in rows:
        yield [
            r.at.isoformat(sep=" ", timespec="seconds"), r.local_date.isoformat(), r.nip, r.name,
            r.unit, r.office, r.display, r.kind, r.category, r.status, " ".join(r.flags), r.note,
            r.ref,
        ]  # fmt: skip


# --- writing ------------------------------------------------------------------------------------


async def _each(
    rows: Iterable[Sequence[Cell]] | AsyncIterable[Sequence[Cell]],
) -> AsyncIterator[Sequence[Cell]]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


def _safe(value: Cell) -> Cell:
    # openpyxl writes text starting with "=" as a formula; a cell is never split, so only its
    # start matters.
    return csvsafe.neutralise_start(value)


async def csv_chunks(sheet: Sheet) -> AsyncIterator[bytes]:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Indonesian names right."""
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)
    buffer.write("\ufeff")
    for label, value in sheet.header:
        writer.writerow([label, value])
    writer.writerow([])
    writer.writerow(sheet.columns)
    async for row in _each(sheet.rows):
        writer.writerow(row)
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def write_xlsx(sheets: Sequence[Sheet], out: IO[bytes]) -> None:
    """Write-only workbook: rows go to the sheet's temporary XML as they come."""
    book = Workbook(write_only=True)
    for sheet in sheets:
        ws = book.create_sheet(title=_sheet_title(sheet.title))
        for label, value in sheet.header:
            ws.append([label, _safe(value)])
        ws.append([])
        ws.append(sheet.columns)
        async for row in _each(sheet.rows):
            ws.append([_safe(v) for v in row])
    book.save(out)


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Sheet"


def filename(stem: str, start: date, end: date, extension: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "presensi"
    period = start.isoformat() if start == end else f"{start.isoformat()}_{end.isoformat()}"
    return f"{safe}_{period}.{extension}"


def csv_response(sheet: Sheet, name: str) -> StreamingResponse:
    return StreamingResponse(
        csv_chunks(sheet),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def xlsx_response(sheets: Sequence[Sheet], name: str) -> StreamingResponse:
    spool: IO[bytes] = tempfile.TemporaryFile()
    try:
        await write_xlsx(sheets, spool)
    except BaseException:
        spool.close()
        raise

    async def stream() -> AsyncIterator[bytes]:
        try:
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield chunk
        finally:
            spool.close()

    return StreamingResponse(
        stream(),
        media_type=XLSX_TYPE,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
