"""Checks for the values admins type into forms and send to the admin API."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Any

from starlette.convertors import Convertor, register_url_convertor

from backend.employees import ValidationError
from backend.i18n import LazyText
from backend.i18n import gettext_lazy as _

NAME = _("name")
ADDRESS = _("address")
OFFICE = _("an office")

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
TIMEZONES = ("Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura")

# Every id column is an INTEGER: 32 bits on PostgreSQL. A larger number is no id at all, and
# sending it to the database would fail (asyncpg refuses it) instead of finding nothing.
MAX_ID = 2**31 - 1
# Dates admins type or send: wide enough for any real record, narrow enough that converting a
# day to a time in any zone never overflows (0001-01-01 and 9999-12-31 do).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2200, 12, 31)


def at_most(limit: int) -> str:
    """A regular expression for the decimal numbers 0..``limit`` (no leading zeros)."""
    digits = str(limit)
    options = ["0", f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else ["0"]
    for i, d in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(d) > low:
            rest = len(digits) - i - 1
            options.append(
                f"{digits[:i]}[{low}-{int(d) - 1}]" + (f"[0-9]{{{rest}}}" if rest else "")
            )
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


class IdConvertor(Convertor[int]):
    """``{name:id}`` in a route: a row id, 0..MAX_ID; anything else does not match (404)."""

    regex = at_most(MAX_ID)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= value <= MAX_ID:
            raise ValueError(f"not an id: {value}")
        return str(value)


register_url_convertor("id", IdConvertor())


def code(value: Any) -> str:
    value = str(value or "").strip().upper()
    if not CODE_RE.match(value):
        raise ValidationError("code must be 1–32 letters, digits, '.', '_' or '-'")
    return value


def text(value: Any, label: str | LazyText, *, max_length: int = 200, required: bool = True) -> str:
    value = " ".join(str(value or "").split())
    if required and (not value or len(value) > max_length):
        raise ValidationError("{label} must be 1–{n} characters", label=label, n=max_length)
    if len(value) > max_length:
        raise ValidationError("{label} must be at most {n} characters", label=label, n=max_length)
    return value


def timezone(value: Any) -> str:
    value = str(value or "").strip()
    if value not in TIMEZONES:
        raise ValidationError("time zone must be one of {zones}", zones=", ".join(TIMEZONES))
    return value


def networks(value: Any) -> str:
    """Comma- or space-separated CIDRs, normalised; empty means anywhere."""
    found = []
    for part in re.split(r"[\s,]+", str(value or "").strip()):
        if not part:
            continue
        try:
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ValidationError("not a network address: {value!r}", value=part) from exc
    joined = ",".join(found)
    if len(joined) > 1000:
        raise ValidationError("the network list is too long")
    return joined


def int_or_none(value: Any, *, maximum: int = MAX_ID) -> int | None:
    """A non-negative whole number (an id, a page) up to ``maximum``, from JSON or a form."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError("expected a number, got {value!r}", value=_short(value))
    text_value = str(value).strip()
    if not text_value.isascii() or not text_value.isdigit() or len(text_value) > len(str(maximum)):
        raise ValidationError("expected a number, got {value!r}", value=_short(value))
    number = int(text_value)
    if number > maximum:
        raise ValidationError("expected a number up to {n}, got {value!r}", n=maximum, value=number)
    return number


def lenient_int(value: Any, *, maximum: int = MAX_ID) -> int | None:
    """A filter's number from a query string or form: None unless ASCII digits up to
    ``maximum`` ("²" and "١٢" pass ``str.isdigit`` but are no ids)."""
    text_value = value.strip() if isinstance(value, str) else ""
    if not text_value.isascii() or not text_value.isdigit() or len(text_value) > len(str(maximum)):
        return None
    number = int(text_value)
    return number if number <= maximum else None


TRUE_TEXT = ("1", "true", "on", "yes")
FALSE_TEXT = ("", "0", "false", "off", "no")


def boolean(value: Any) -> bool:
    """JSON ``true``/``false``, or a checkbox or query value (on/1/true/yes, off/0/false/no or
    empty); anything else ("maybe", 2, null) is refused, never read as false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text_value = value.strip().lower()
        if text_value in TRUE_TEXT:
            return True
        if text_value in FALSE_TEXT:
            return False
    raise ValidationError("expected true or false, got {value!r}", value=_short(value))


def day(value: Any) -> date:
    """A date as YYYY-MM-DD between FIRST_DAY and LAST_DAY (ValidationError is a ValueError)."""
    text_value = value.strip() if isinstance(value, str) else ""
    try:
        parsed = date.fromisoformat(text_value)
    except ValueError:
        raise ValidationError(
            "expected a date as YYYY-MM-DD, got {value!r}", value=_short(value)
        ) from None
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise ValidationError(
            "the date must be between {first} and {last}",
            first=FIRST_DAY.isoformat(),
            last=LAST_DAY.isoformat(),
        )
    return parsed


def _short(value: Any) -> str:
    text_value = str(value) if isinstance(value, int | str | bool | None) else type(value).__name__
    return text_value if len(text_value) <= 40 else text_value[:40] + "…"


def _decimal(value: Any, low: float, high: float, what: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError("{what}: expected a number", what=what)
    try:
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else value
    except ValueError:
        raise ValidationError("{what}: expected a number", what=what) from None
    if not low <= number <= high:  # also NaN
        raise ValidationError(
            "{what}: must be between {low} and {high}", what=what, low=low, high=high
        )
    return float(number)


def geofence(data: dict[str, Any]) -> dict[str, Any]:
    """An office's optional geofence: latitude, longitude and radius (metres), all or none."""
    values = {
        "latitude": _decimal(data.get("latitude"), -90, 90, "latitude"),
        "longitude": _decimal(data.get("longitude"), -180, 180, "longitude"),
        "radius_m": _decimal(data.get("radius_m"), 10, 50_000, "radius_m"),
    }
    given = [v is not None for v in values.values()]
    if any(given) and not all(given):
        raise ValidationError("a geofence needs latitude, longitude and radius")
    if values["radius_m"] is not None:
        values["radius_m"] = round(values["radius_m"])
    return values
