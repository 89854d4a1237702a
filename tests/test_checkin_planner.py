"""The batch planner without a database: refusals in DESIGN's order, history within and
before the batch, repeats read back, and the questions asked only when needed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from backend.checkin.planner import (
    READ_BACK,
    Day,
    DeviceState,
    PendingCheckin,
    ScanKey,
    Written,
    plan_batch,
    run_steps,
)
from backend.errors import ApiError
from backend.schedules import Classification

AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
DAY = date(2026, 11, 23)


class Memory:
    """A ``Dialect`` over dictionaries, recording the questions it was asked."""

    def __init__(self) -> None:
        self.displays: dict[int, bool] = {1: False, 2: True}
        self.devices: dict[str, DeviceState] = {
            "d_ok": (False, True),
            "d_other": (False, True),
            "d_revoked": (True, True),
            "d_inactive": (False, False),
        }
        self.rows: dict[ScanKey, dict[str, Any]] = {}
        self.touched: list[str] = []
        self.asked: list[str] = []

    def states(
        self, display_ids: list[int], device_ids: list[str]
    ) -> tuple[dict[int, bool], dict[str, DeviceState]]:
        self.asked.append("states")
        return (
            {i: self.displays[i] for i in display_ids if i in self.displays},
            {i: self.devices[i] for i in device_ids if i in self.devices},
        )

    def days_with_scans(self, days: list[Day]) -> set[Day]:
        self.asked.append("days_with_scans")
        stored = {(r["employee_id"], r["local_date"]) for r in self.rows.values()}
        return {d for d in days if d in stored}

    def insert(self, rows: list[dict[str, Any]]) -> dict[ScanKey, int]:
        self.asked.append("insert")
        new = {}
        for row in rows:
            key = (row["employee_id"], row["display_id"], row["window"])
            if key not in self.rows:
                self.rows[key] = {**row, "id": len(self.rows) + 1}
                new[key] = self.rows[key]["id"]
        return new

    def read_back(self, keys: list[ScanKey]) -> dict[ScanKey, dict[str, Any]]:
        self.asked.append("read_back")
        return {k: {c: self.rows[k][c] for c in READ_BACK} for k in keys if k in self.rows}

    def touch_devices(self, device_ids: list[str], at: datetime) -> None:
        self.asked.append("touch_devices")
        self.touched += device_ids


def scan(
    device: str = "d_ok", *, employee: int = 7, display: int = 1, window: int = 100
) -> PendingCheckin:
    def classify(before: bool) -> Classification:
        return Classification("out" if before else "in", 0, None)

    values = {
        "employee_id": employee,
        "device_id": device,
        "display_id": display,
        "window": window,
        "at": AT,
        "local_date": DAY,
        "status": "accepted",
    }
    return PendingCheckin(values, classify=classify, needs_history=True)


def plan(db: Memory, items: list[PendingCheckin]) -> list[Written | Exception]:
    return run_steps(plan_batch(items), db)


def test_refusals_in_design_order_write_nothing() -> None:
    db = Memory()
    results = plan(
        db,
        [
            scan(display=9),
            scan(display=2, device="d_revoked"),  # the display's refusal comes first
            scan("d_unknown"),
            scan("d_revoked"),
            scan("d_inactive"),
        ],
    )
    codes = [r.code for r in results if isinstance(r, ApiError)]
    assert codes == [
        "unknown_display",
        "display_revoked",
        "unknown_device",
        "device_revoked",
        "employee_inactive",
    ]
    assert db.rows == {} and db.asked == ["states"]  # nothing else asked, nothing written


def test_first_scan_of_the_day_is_in_and_a_later_one_out() -> None:
    db = Memory()
    first, second = plan(db, [scan(window=100), scan(window=101)])
    assert isinstance(first, Written) and first.created and first.row["kind"] == "in"
    assert isinstance(second, Written) and second.created and second.row["kind"] == "out"
    (third,) = plan(db, [scan(window=102)])  # history from the stored rows
    assert isinstance(third, Written) and third.row["kind"] == "out"
    assert db.touched == ["d_ok", "d_ok"]


def test_a_repeat_is_read_back_not_written() -> None:
    db = Memory()
    (original,) = plan(db, [scan()])
    again, twice = plan(db, [scan(), scan()])
    assert isinstance(original, Written) and original.created
    for repeat in (again, twice):
        assert isinstance(repeat, Written) and not repeat.created
        assert repeat.row == {c: db.rows[(7, 1, 100)][c] for c in READ_BACK}
    assert len(db.rows) == 1
    # ON CONFLICT inserts nothing, so nothing is touched either
    assert db.asked[-4:] == ["states", "days_with_scans", "insert", "read_back"]
    assert db.touched == ["d_ok"]


def test_the_same_scan_twice_in_one_batch_is_one_record() -> None:
    db = Memory()
    first, second = plan(db, [scan(), scan()])
    assert isinstance(first, Written) and first.created
    assert isinstance(second, Written) and not second.created
    assert second.row["id"] == first.row["id"]
    assert len(db.rows) == 1


def test_a_refused_scan_does_not_hold_back_its_neighbours() -> None:
    db = Memory()
    ok, refused, other = plan(
        db, [scan(), scan("d_revoked", employee=8), scan("d_other", employee=9)]
    )
    assert isinstance(ok, Written) and ok.created
    assert isinstance(refused, ApiError) and refused.code == "device_revoked"
    assert isinstance(other, Written) and other.created and other.row["kind"] == "in"
    assert sorted(db.touched) == ["d_ok", "d_other"]


def test_history_is_asked_only_for_schedules_that_need_it() -> None:
    db = Memory()
    rostered = scan()
    rostered.needs_history = False
    (written,) = plan(db, [rostered])
    assert isinstance(written, Written) and written.created
    assert "days_with_scans" not in db.asked
