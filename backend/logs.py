"""Structured logs: one JSON object per line (LOG_FORMAT=json) or plain text, never a secret.

A redaction filter runs on every record before it is formatted: QR token MACs, device
signatures, display credentials, enrolment and pairing codes and database passwords are
masked wherever they appear in a message or its arguments, so a careless log line elsewhere
cannot leak one.

Every record logged while a request is served carries that request's id (``request_id``, also
sent to the client as ``X-Request-ID`` and shown on error pages), so a TU can quote the id of a
failed request and the operator finds its log lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import random
import re
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # v1.<kid>.<display>.<window>.<mac>: keep what identifies the display and window
    (re.compile(r"\b(v1\.[A-Za-z0-9]+\.\d+\.\d+\.)[A-Za-z0-9_-]{16,}"), r"\1" + REDACTED),
    # user:password@ in URLs (DATABASE_URL)
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"), r"\1" + REDACTED + r"\2"),
    # "signature": "...", "code": "...", "credential": "...", "password": "..." in JSON or k=v
    (
        re.compile(
            r"""(?i)(["']?\b(?:signature|code|pairing_code|credential|password|secret|"""
            r"""qr_keys|secret_key|token)\b["']?\s*[:=]\s*["']?)[^"',\s}]+"""
        ),
        r"\1" + REDACTED,
    ),
    # the display credential cookie
    (re.compile(r"(presensi_display=)[^;\s]+"), r"\1" + REDACTED),
)


# Set for each HTTP request by backend/checkin/fastpath.py's outermost layer; "-" outside requests.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


# Not a secret, so not os.urandom: a getrandom() call costs ~8 µs on a busy VM, more than the
# rest of the check-in path's framing. Seeded per process, so workers do not repeat each other.
_ids = random.Random(os.urandom(16))


def new_request_id() -> str:
    """16 hex digits: short enough to read out on the phone, unique enough for a day's logs."""
    return f"{_ids.getrandbits(64):016x}"


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


def install_request_ids() -> None:
    """Stamp every log record with the current request id when it is created, so handlers
    configured anywhere (uvicorn's, pytest's) see it; idempotent."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "stamps_request_id", False):
        return

    def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    stamped.stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(stamped)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on the record (``%(request_id)s``, JSON ``request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?}`` plus the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", "-")
        if rid != "-":
            entry["request_id"] = rid
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and Presensi's own loggers."""
    formatter = (
        {"()": "backend.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["request_id", "redact"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "backend.logs.RequestIdFilter"},
            "redact": {"()": "backend.logs.RedactingFilter"},
        },
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
            for name in ("presensi", "uvicorn", "uvicorn.error", "databases", "alembic")
        },
    }
