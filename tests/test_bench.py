"""The benchmarks still run: a few seconds of the soak (both databases) and of the check-in
bench's open loop, against a real ``presensi serve``. They check the report, not the figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_postgres

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "scripts" / "bench"


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a target not met
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_short_soak_reports_every_kind_of_load(db: str) -> None:
    if db == "postgresql":
        require_postgres()
    out = run(
        str(BENCH / "soak"),
        "--minutes=0.1",
        f"--db={db}",
        "--displays=10",
        "--phones=300",
        "--scale=2",
    )
    assert "displays connected: 10 (0 failed)" in out
    assert re.search(r"minute   1: \d+ requests", out), out
    # Arrivals are random: only the kinds that certainly arrive within 6 s are looked for.
    for kind in ("checkin", "api_read", "monitor_stream"):
        assert re.search(rf"^    {kind} +\d+ +p50", out, re.M), (kind, out)
    checkins = int(re.search(r"^    checkin +(\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    assert checkins > 0
    assert int(re.search(r"monitor events (\d+)", out).group(1)) > 0, out  # type: ignore[union-attr]
    assert re.search(r"^5xx: +\d+ \(target 0\)$", out, re.M), out
    assert re.search(r"^RSS: .* growth [+-]\d", out, re.M), out


@pytest.mark.slow
def test_the_checkin_bench_open_loop_reports_its_rate() -> None:
    out = run(str(BENCH / "checkin"), "--rate=50", "--rate-seconds=2", "-c=16")
    assert re.search(r"open loop: +50 check-ins/s intended over 16 connections", out), out
    assert re.search(r"latency at the rate: p50 [\d.]+ ms +p99 [\d.]+ ms +max", out), out
    stored = re.search(r"rows in database: +(\d+) +acknowledged new: (\d+)", out)
    assert stored and stored.group(1) == stored.group(2) and int(stored.group(1)) > 0, out


@pytest.mark.slow
def test_the_activities_bench_reports_every_phase() -> None:
    out = run(
        str(BENCH / "activities"),
        "-n=30",
        "--rate=15",
        "--approve-rate=20",
        "--checkin-rate=5",
        "--baseline-seconds=1",
        "-c=8",
    )
    assert re.search(r"diaries: +30 of 30 submitted in [\d.]+s", out), out
    assert re.search(r"diary latency: +p50 [\d.]+ ms +p99 [\d.]+ ms", out), out
    assert re.search(r"check-ins: +p99 alone [\d.]+ ms", out), out
    assert "'approved': 30, 'entries': 150" in out, out


def test_the_approvals_bench_lists_every_pending_request() -> None:
    out = run(str(BENCH / "approvals"), "--pending=20", "--repeat=2")
    assert "approvals list: 20 pending requests, 2 runs" in out, out
    assert re.search(r"domain: median +[\d.]+ ms", out), out
    assert re.search(r"http: median +[\d.]+ ms +worst +[\d.]+ ms +\(target < 100 ms", out), out
