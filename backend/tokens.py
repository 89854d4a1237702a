"""The rotating QR token: ``v1.<kid>.<display>.<window>.<mac>``.

Tokens are derived, never stored: any process holding the keys can issue and verify them, and
only the server's clock decides which window is current.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from backend.errors import ApiError

VERSION = "v1"
MAC_BYTES = 16  # 128 bits, the floor DESIGN.md sets; 22 base64url characters keep the QR small
_MAC_CHARS = 22
_CONTEXT = b"presensi/qr/v1|"
# Tokens printed by `presensi display token` (operators testing a phone) have a MAC of their
# own, so the server knows a scan was made with one and flags it ``console_token``.
_CONSOLE_CONTEXT = b"presensi/qr/console/v1|"
# Every phone in an office scans the same token for a whole period: once its MAC has verified,
# remember that (only genuine tokens get in, so the table cannot be flooded; cleared when full).
_GENUINE: dict[str, tuple[str, bytes, int, int, bool]] = {}  # text -> (kid, key, d, w, console)
_GENUINE_MAX = 4096


@dataclass(frozen=True)
class Token:
    kid: str
    display_id: int
    window: int
    text: str
    console: bool = False  # printed by `presensi display token`, not shown by a display


def current_window(period: int, now: float | None = None) -> int:
    return math.floor((time.time() if now is None else now) / period)


def window_expires_at(window: int, period: int) -> float:
    """Unix time at which the window ends (when the display must show the next token)."""
    return float((window + 1) * period)


def _mac(key: bytes, display_id: int, window: int, context: bytes = _CONTEXT) -> str:
    digest = hmac.new(key, context + f"{display_id}|{window}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).rstrip(b"=").decode()


def issue(keys: Sequence[tuple[str, bytes]], display_id: int, window: int) -> str:
    """Token for a display and window, signed with the newest key (the last one)."""
    kid, key = keys[-1]
    return f"{VERSION}.{kid}.{display_id}.{window}.{_mac(key, display_id, window)}"


def issue_console(keys: Sequence[tuple[str, bytes]], display_id: int, window: int) -> str:
    """A token for ``presensi display token``: scans with it verify but are flagged."""
    kid, key = keys[-1]
    mac = _mac(key, display_id, window, _CONSOLE_CONTEXT)
    return f"{VERSION}.{kid}.{display_id}.{window}.{mac}"


def is_console(keys: Sequence[tuple[str, bytes]], text: str) -> bool:
    """Whether a well-formed token carries a console MAC (checked for queued scans, whose
    token ``verify`` refuses as expired)."""
    try:
        kid, display_id, window, mac = parse(text)
    except ApiError:
        return False
    key = dict(keys).get(kid)
    return key is not None and hmac.compare_digest(
        _mac(key, display_id, window, _CONSOLE_CONTEXT), mac
    )


def parse(text: str) -> tuple[str, int, int, str]:
    """Split a token into (kid, display_id, window, mac) or raise ``malformed_token``."""
    parts = text.split(".") if isinstance(text, str) and len(text) <= 128 else []
    if len(parts) != 5 or parts[0] != VERSION:
        raise ApiError("malformed_token")
    _, kid, display, window, mac = parts
    if not (kid.isascii() and kid.isalnum()):
        raise ApiError("malformed_token")
    # isdecimal() on ASCII only: int() would also accept "+5", " 5" or Arabic-Indic digits, and
    # two spellings of the same number must never both verify.
    for number in (display, window):
        if not (number.isascii() and number.isdecimal()) or (len(number) > 1 and number[0] == "0"):
            raise ApiError("malformed_token")
    if len(mac) != _MAC_CHARS or not all(c.isascii() and (c.isalnum() or c in "-_") for c in mac):
        raise ApiError("malformed_token")
    return kid, int(display), int(window), mac


def verify(
    keys: Sequence[tuple[str, bytes]],
    text: str,
    *,
    period: int,
    grace_windows: int,
    now: float | None = None,
) -> Token:
    """Check a token's MAC and freshness, in the order DESIGN.md gives; raise ApiError."""
    genuine = _GENUINE.get(text) if isinstance(text, str) else None
    if genuine is not None and (genuine[0], genuine[1]) in keys:
        kid, _, display_id, window, console = genuine
    else:
        kid, display_id, window, mac = parse(text)
        key = dict(keys).get(kid)
        if key is None:
            raise ApiError("unknown_key")
        console = False
        if not hmac.compare_digest(_mac(key, display_id, window), mac):
            # Only a MAC that fails as a display's costs the second HMAC.
            console = hmac.compare_digest(_mac(key, display_id, window, _CONSOLE_CONTEXT), mac)
            if not console:
                raise ApiError("bad_mac")
        if len(_GENUINE) >= _GENUINE_MAX:
            _GENUINE.clear()
        _GENUINE[text] = (kid, key, display_id, window, console)
    age = current_window(period, now) - window
    if age < 0:
        raise ApiError("future_token")
    if age > grace_windows:
        raise ApiError("expired_token")
    return Token(kid=kid, display_id=display_id, window=window, text=text, console=console)


def scan_url(public_url: str, token: str) -> str:
    """What the QR encodes: any camera app opens the scanner with the token in the fragment."""
    return f"{public_url}/s#{token}"
