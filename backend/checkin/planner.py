"""One batch of check-in records, decided the same way on every database.

The write transaction of a batch (backend/checkin/records.py) asks the database five things,
always in this order, and decides everything else here without it:

1. the displays' and devices' state now (``states``): a revocation or an inactive employee
   committed by any process refuses the scan, in DESIGN's order;
2. which (employee, working day) pairs already have a scan (``days_with_scans``), for the
   schedules whose in/out verdict depends on it; a later scan of the batch, same day, comes
   after an earlier one;
3. ``insert`` the first scan of each (employee, display, window): a repeat of a stored scan
   inserts nothing (``ON CONFLICT DO NOTHING``);
4. ``read_back`` the stored record of each repeat;
5. ``touch_devices`` whose scans were recorded (``last_used_at``).

``plan_batch`` is a generator: it yields each question as a ``Step`` and receives the answer,
so the planner holds no connection and runs unchanged on SQLite's writer thread
(``run_steps``) and on PostgreSQL's asyncpg connection (``run_steps_async``);
tests/test_checkin_planner.py drives it with a dictionary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from backend.errors import ApiError
from backend.schedules import Classification

SCAN_KEY = ("employee_id", "display_id", "window")
READ_BACK = ("id", "status", "kind", "at", "late_minutes", "category")

ScanKey = tuple[int, int, int]
Day = tuple[int, date]  # employee id, working day
DeviceState = tuple[bool, bool]  # revoked, employee active


@dataclass
class PendingCheckin:
    """A scan that passed every check that does not need the write transaction."""

    values: dict[str, Any]  # the checkins row without kind, late_minutes, category
    classify: Callable[[bool], Classification]  # given "scanned earlier that day?"
    needs_history: bool  # whether classify depends on earlier scans that day


@dataclass
class Written:
    created: bool
    row: dict[str, Any] = field(default_factory=dict)  # READ_BACK columns


class Dialect(Protocol):
    """What a database supplies, inside the batch's write transaction (SQLite: called on its
    writer thread)."""

    def states(
        self, display_ids: list[int], device_ids: list[str]
    ) -> tuple[dict[int, bool], dict[str, DeviceState]]:
        """Display id → revoked, and device id → (revoked, employee active); unknown absent."""
        ...

    def days_with_scans(self, days: list[Day]) -> set[Day]: ...

    def insert(self, rows: list[dict[str, Any]]) -> dict[ScanKey, int]:
        """The ids of the rows inserted, by scan key (stored scans insert nothing)."""
        ...

    def read_back(self, keys: list[ScanKey]) -> dict[ScanKey, dict[str, Any]]:
        """The READ_BACK columns of stored scans, by scan key."""
        ...

    def touch_devices(self, device_ids: list[str], at: datetime) -> None: ...


class AsyncDialect(Protocol):
    """``Dialect`` for a database driven from the event loop (PostgreSQL)."""

    def states(
        self, display_ids: list[int], device_ids: list[str]
    ) -> Awaitable[tuple[dict[int, bool], dict[str, DeviceState]]]: ...

    def days_with_scans(self, days: list[Day]) -> Awaitable[set[Day]]: ...

    def insert(self, rows: list[dict[str, Any]]) -> Awaitable[dict[ScanKey, int]]: ...

    def read_back(self, keys: list[ScanKey]) -> Awaitable[dict[ScanKey, dict[str, Any]]]: ...

    def touch_devices(self, device_ids: list[str], at: datetime) -> Awaitable[None]: ...


@dataclass(frozen=True)
class Step:
    """One question to the database: ``Dialect.<method>(*args)``."""

    method: str
    args: tuple[Any, ...]


Results = list[Written | Exception]
Plan = Generator[Step, Any, Results]


def refusal(display_revoked: bool | None, device: DeviceState | None) -> ApiError | None:
    """What the write transaction sees now, in DESIGN's order."""
    if display_revoked is None:
        return ApiError("unknown_display")
    if display_revoked:
        return ApiError("display_revoked")
    if device is None:
        return ApiError("unknown_device")
    if device[0]:
        return ApiError("device_revoked")
    if not device[1]:
        return ApiError("employee_inactive")
    return None


def with_verdict(item: PendingCheckin, *, scanned_before: bool) -> dict[str, Any]:
    verdict = item.classify(scanned_before)
    return {
        **item.values,
        "kind": verdict.kind,
        "late_minutes": verdict.late_minutes,
        "category": verdict.category,
    }


def scan_key(values: dict[str, Any]) -> ScanKey:
    return values["employee_id"], values["display_id"], values["window"]


def plan_batch(items: list[PendingCheckin]) -> Plan:
    """The batch's records, one result per item: ``Written`` or the refusal."""
    values = [item.values for item in items]
    displays, devices = yield Step(
        "states",
        (list({v["display_id"] for v in values}), list({v["device_id"] for v in values})),
    )
    refusals: dict[int, ApiError] = {}
    for n, v in enumerate(values):
        refused = refusal(displays.get(v["display_id"]), devices.get(v["device_id"]))
        if refused is not None:
            refusals[n] = refused
    live = [n for n in range(len(items)) if n not in refusals]

    asked = list(
        {
            (values[n]["employee_id"], values[n]["local_date"])
            for n in live
            if items[n].needs_history
        }
    )
    history: set[Day] = (yield Step("days_with_scans", (asked,))) if asked else set()
    rows: dict[int, dict[str, Any]] = {}
    first_of_key: dict[ScanKey, int] = {}
    for n in live:
        day = (values[n]["employee_id"], values[n]["local_date"])
        rows[n] = with_verdict(items[n], scanned_before=day in history)
        history.add(day)  # a later scan in this batch, same day, comes after this one
        first_of_key.setdefault(scan_key(values[n]), n)

    new_rows = [rows[n] for n in first_of_key.values()]
    inserted: dict[ScanKey, int] = (yield Step("insert", (new_rows,))) if new_rows else {}
    created = {first_of_key[key]: new_id for key, new_id in inserted.items()}
    repeats = list(dict.fromkeys(scan_key(values[n]) for n in live if n not in created))
    stored: dict[ScanKey, dict[str, Any]] = (yield Step("read_back", (repeats,))) if repeats else {}
    if created:
        touched = list(dict.fromkeys(values[n]["device_id"] for n in created))
        yield Step("touch_devices", (touched, values[0]["at"]))

    results: Results = []
    for n, v in enumerate(values):
        if n in refusals:
            results.append(refusals[n])
        elif n in created:
            results.append(
                Written(True, {"id": created[n], **{k: rows[n][k] for k in READ_BACK[1:]}})
            )
        else:
            results.append(Written(False, stored[scan_key(v)]))
    return results


def run_steps(plan: Plan, dialect: Dialect) -> Results:
    answer: Any = None
    while True:
        try:
            step = plan.send(answer)
        except StopIteration as done:
            return done.value
        answer = getattr(dialect, step.method)(*step.args)


async def run_steps_async(plan: Plan, dialect: AsyncDialect) -> Results:
    answer: Any = None
    while True:
        try:
            step = plan.send(answer)
        except StopIteration as done:
            return done.value
        answer = await getattr(dialect, step.method)(*step.args)
