"""The server's "now", in one place so tests can move time instead of sleeping.

Everything that asks what time it is (``backend.db.utcnow``, the phone request signatures, the
escalation of undecided requests, deadlines) goes through :func:`now`. Tests replace the source
with :func:`use` (a context manager), e.g. ``with clock.use(lambda: day_9am): ...``, or shift it
with :func:`advance`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


def _system() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system
_shift = timedelta(0)


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return _source() + _shift


def timestamp() -> float:
    """:func:`now` as unix seconds."""
    return now().timestamp()


@contextmanager
def use(source: Callable[[], datetime] | datetime) -> Iterator[None]:
    """Make :func:`now` answer from ``source`` (a fixed datetime or a callable) inside the block."""
    global _source
    previous = _source
    fixed = source
    _source = (lambda: fixed) if isinstance(fixed, datetime) else fixed
    try:
        yield
    finally:
        _source = previous


@contextmanager
def advance(delta: timedelta) -> Iterator[None]:
    """Move :func:`now` by ``delta`` inside the block (on top of any source in use)."""
    global _shift
    previous = _shift
    _shift = previous + delta
    try:
        yield
    finally:
        _shift = previous
