"""Checks for the values admins type into forms and send to the admin API."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from backend.employees import ValidationError
from backend.i18n import LazyText
from backend.i18n import gettext_lazy as _

NAME = _("name")
ADDRESS = _("address")

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
TIMEZONES = ("Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura")


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


def int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError("expected a number, got {value!r}", value=value)
    if isinstance(value, int):
        return value
    text_value = str(value).strip()
    if not text_value.isdigit() or len(text_value) > 9:
        raise ValidationError("expected a number, got {value!r}", value=text_value)
    return int(text_value)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "on", "yes")
