"""Prometheus metrics at ``/metrics``: check-ins by result code, check-in latency, and the
displays that are online.

Counters and the histogram live in this process. With several processes on one port
(``presensi serve --workers N``), set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before
starting and every process's figures are summed at each scrape (prometheus-client's multiprocess
mode). Displays online are counted from the database (``last_seen_at`` is refreshed once per QR
period for every connected display), so the figure is the same whichever process answers.
"""

from __future__ import annotations

import os
from datetime import timedelta

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from backend.db import displays, utcnow
from backend.state import AppState

CHECKINS = Counter(
    "presensi_checkins_total",
    "Check-in requests by result: accepted, repeat, pending_review, or the error code.",
    ["result"],
)
LATENCY = Histogram(
    "presensi_checkin_seconds",
    "Time to answer a check-in request, from routing to the response (after COMMIT).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_by_result: dict[str, Counter] = {}  # label children, looked up once: this is the hot path
ONLINE_PERIODS = 3  # as the display_offline flag: seen within three QR periods


RESULTS = {201: "accepted", 200: "repeat", 202: "pending_review"}  # by status; else the error code


def record(result: str, seconds: float) -> None:
    """One check-in answered: its result (see RESULTS) and the time it took."""
    child = _by_result.get(result)
    if child is None:
        child = _by_result[result] = CHECKINS.labels(result)
    child.inc()
    LATENCY.observe(seconds)


def _registry() -> CollectorRegistry | None:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def metrics(request: Request) -> Response:
    state = AppState.of(request)
    since = utcnow() - timedelta(seconds=ONLINE_PERIODS * state.settings.qr_period)
    online = await state.db.fetch_val(
        sa.select(sa.func.count())
        .select_from(displays)
        .where(displays.c.revoked_at.is_(None))
        .where(displays.c.last_seen_at >= since)
    )
    registry = _registry()
    body = generate_latest(registry) if registry is not None else generate_latest()
    writer = state.hot.writer
    body += (
        b"# HELP presensi_displays_connected Displays connected now (seen within three QR"
        b" periods, any process).\n# TYPE presensi_displays_connected gauge\n"
        + f"presensi_displays_connected {int(online or 0)}\n".encode()
        + b"# HELP presensi_writer_commits_total Check-in transactions committed by this"
        b" process (group commit: several records each).\n"
        b"# TYPE presensi_writer_commits_total counter\n"
        + f"presensi_writer_commits_total {writer.batches}\n".encode()
        + b"# HELP presensi_writer_records_total Check-in records submitted to those commits.\n"
        b"# TYPE presensi_writer_records_total counter\n"
        + f"presensi_writer_records_total {writer.items}\n".encode()
    )
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
