"""The presence log: derived statuses, corrections as entries, filters and paging."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from backend import presence
from backend.errors import ApiError
from backend.presence import LogFilter
from tests import fixtures_month as fm
from tests.conftest import app_db, run


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    return run(client, fm.load, app_db(client))


def log(client: TestClient, month: dict[str, Any], **kw: Any) -> tuple[list[presence.LogRow], int]:
    number = kw.pop("number", 1)
    size = kw.pop("size", 500)
    f = LogFilter(
        agency_id=month["agency_id"],
        start=kw.pop("start", fm.START),
        end=kw.pop("end", fm.END),
        **kw,
    )
    return run(client, presence.page, app_db(client), f, number=number, size=size)


def test_statuses_are_derived_from_reviews_and_corrections(
    client: TestClient, month: dict[str, Any]
) -> None:
    rejected, n = log(client, month, status="rejected")
    assert n == 1 and rejected[0].name == "Bayu Saputra"
    assert rejected[0].at.strftime("%d %H:%M") == "30 07:20" and rejected[0].flags == (
        "offline_submission",
    )
    assert rejected[0].note.startswith("rejected · admin:1 · Dikirim")
    fixes, n = log(client, month, status="correction")
    assert n == 1 and (fixes[0].kind, fixes[0].at.strftime("%d %H:%M")) == ("out", "10 16:05")
    assert "Lupa pindai pulang" in fixes[0].note and fixes[0].ref.startswith("correction:")
    assert log(client, month, status="pending_review")[1] == 0
    offline, n = log(client, month, flag="offline_submission")
    assert n == 2 and {r.status for r in offline} == {"accepted", "rejected"}


def test_filters_and_paging(client: TestClient, month: dict[str, Any]) -> None:
    ani = month["employees"]["Ani Lestari"]
    rows, total = log(client, month, employee_id=ani)
    assert (
        total == len(rows) == 21 * 2 + 2 - 2 + 1
    )  # two scans a day, two extra on the 11th, two missing outs, one correction
    first, total = log(client, month, size=10)
    second, _ = log(client, month, size=10, number=2)
    assert len(first) == len(second) == 10 and not {r.ref for r in first} & {r.ref for r in second}
    assert first[0].at >= first[-1].at >= second[0].at  # newest first
    one_day, _ = log(client, month, start=fm.d(3), end=fm.d(3))
    assert {r.local_date for r in one_day} == {fm.d(3)}
    night_out = [r for r in one_day if r.name == "Citra Dewi" and r.kind == "out"]
    assert night_out[0].at.strftime("%m-%d %H:%M") == "12-04 07:05"  # counts for the 3rd


def test_iterate_yields_everything_oldest_first(client: TestClient, month: dict[str, Any]) -> None:
    f = LogFilter(agency_id=month["agency_id"], start=fm.START, end=fm.END)

    async def collect() -> list[presence.LogRow]:
        return [r async for r in presence.iterate(app_db(client), f)]

    rows = run(client, collect)
    assert len(rows) == log(client, month)[1]
    assert [r.at for r in rows] == sorted(r.at for r in rows)


def test_bad_filters() -> None:
    for kw in ({"status": "lost"}, {"flag": "weird"}, {"start": fm.d(2), "end": fm.d(1)}):
        with pytest.raises(ApiError):
            LogFilter(agency_id=1, **{"start": fm.START, "end": fm.END, **kw})
