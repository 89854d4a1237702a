"""The rotating QR token: ``v1.<kid>.<display>.<window>.<mac>``, and during an apel (morning
assembly) session ``a1.<kid>.<display>.<window>.<session>.<mac>``.

The two are signed under different contexts, so no daily token's MAC is ever an apel token's,
and an apel token's MAC covers its session: a daily code never counts as apel attendance, and
an apel code names the one session (and display, hence office) it was shown for.

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
APEL_VERSION = "a1"
MAC_BYTES = 16  # 128 bits, the floor DESIGN.md sets; 22 base64url characters keep the QR small
_MAC_CHARS = 22
_CONTEXT = b"presensi/qr/v1|"
_APEL_CONTEXT = b"presensi/qr/apel/v1|"
# Tokens printed by `presensi display token` (operators testing a phone) have a MAC of their
# own, so the server knows a scan was made with one and flags it ``console_token``.
_CONSOLE_CONTEXT = b"presensi/qr/console/v1|"
_CONSOLE_APEL_CONTEXT = b"presensi/qr/console/apel/v1|"
# Every phone in an office scans the same token for a whole period: once its MAC has verified,
# remember that (only genuine tokens get in, so the table cannot be flooded; cleared when full).
# text -> (kid, key, display, window, apel session or None, console)
_GENUINE: dict[str, tuple[str, bytes, int, int, int | None, bool]] = {}
_GENUINE_MAX = 4096


@dataclass(frozen=True)
class Token:
    kid: str
    display_id: int
    window: int
    text: str
    session_id: int | None = None  # the apel session of an apel token; None for the daily one
    console: bool = False  # printed by `presensi display token`, not shown by a display


def current_window(period: int, now: float | None = None) -> int:
    return math.floor((time.time() if now is None else now) / period)


def window_expires_at(window: int, period: int) -> float:
    """Unix time at which the window ends (when the display must show the next token)."""
    return float((window + 1) * period)


def _mac(
    key: bytes,
    display_id: int,
    window: int,
    session_id: int | None = None,
    *,
    console: bool = False,
) -> str:
    if session_id is None:
        context = _CONSOLE_CONTEXT if console else _CONTEXT
        message = context + f"{display_id}|{window}".encode()
    else:
        context = _CONSOLE_APEL_CONTEXT if console else _APEL_CONTEXT
        message = context + f"{display_id}|{window}|{session_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).rstrip(b"=").decode()


def issue(keys: Sequence[tuple[str, bytes]], display_id: int, window: int) -> str:
    """Token for a display and window, signed with the newest key (the last one)."""
    kid, key = keys[-1]
    return f"{VERSION}.{kid}.{display_id}.{window}.{_mac(key, display_id, window)}"


def issue_apel(
    keys: Sequence[tuple[str, bytes]], display_id: int, window: int, session_id: int
) -> str:
    """The apel token of a display, window and apel session, signed with the newest key."""
    kid, key = keys[-1]
    mac = _mac(key, display_id, window, session_id)
    return f"{APEL_VERSION}.{kid}.{display_id}.{window}.{session_id}.{mac}"


def issue_console(
    keys: Sequence[tuple[str, bytes]], display_id: int, window: int, session_id: int | None = None
) -> str:
    """A token for ``presensi display token`` (the apel one during a session): scans with it
    verify but are flagged ``console_token``."""
    kid, key = keys[-1]
    mac = _mac(key, display_id, window, session_id, console=True)
    if session_id is None:
        return f"{VERSION}.{kid}.{display_id}.{window}.{mac}"
    return f"{APEL_VERSION}.{kid}.{display_id}.{window}.{session_id}.{mac}"


def is_console(keys: Sequence[tuple[str, bytes]], text: str) -> bool:
    """Whether a well-formed token carries a console MAC (checked for queued scans, whose
    token ``verify`` refuses as expired)."""
    try:
        kid, display_id, window, session_id, mac = parse_any(text)
    except ApiError:
        return False
    key = dict(keys).get(kid)
    return key is not None and hmac.compare_digest(
        _mac(key, display_id, window, session_id, console=True), mac
    )


def parse(text: str) -> tuple[str, int, int, str]:
    """Split a token into (kid, display_id, window, mac) or raise ``malformed_token``."""
    kid, display_id, window, _session, mac = parse_any(text)
    return kid, display_id, window, mac


def parse_any(text: str) -> tuple[str, int, int, int | None, str]:
    """Split a daily or apel token into (kid, display_id, window, session or None, mac), or
    raise ``malformed_token``."""
    parts = text.split(".") if isinstance(text, str) and len(text) <= 128 else []
    if len(parts) == 5 and parts[0] == VERSION:
        _, kid, display, window, mac = parts
        numbers: tuple[str, ...] = (display, window)
    elif len(parts) == 6 and parts[0] == APEL_VERSION:
        _, kid, display, window, session, mac = parts
        numbers = (display, window, session)
    else:
        raise ApiError("malformed_token")
    if not (kid.isascii() and kid.isalnum()):
        raise ApiError("malformed_token")
    # isdecimal() on ASCII only: int() would also accept "+5", " 5" or Arabic-Indic digits, and
    # two spellings of the same number must never both verify.
    for number in numbers:
        if not (number.isascii() and number.isdecimal()) or (len(number) > 1 and number[0] == "0"):
            raise ApiError("malformed_token")
    if len(mac) != _MAC_CHARS or not all(c.isascii() and (c.isalnum() or c in "-_") for c in mac):
        raise ApiError("malformed_token")
    return kid, int(display), int(window), int(session) if len(numbers) == 3 else None, mac


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
        kid, _, display_id, window, session_id, console = genuine
    else:
        kid, display_id, window, session_id, mac = parse_any(text)
        key = dict(keys).get(kid)
        if key is None:
            raise ApiError("unknown_key")
        console = False
        if not hmac.compare_digest(_mac(key, display_id, window, session_id), mac):
            # Only a MAC that fails as a display's costs the second HMAC.
            console = hmac.compare_digest(
                _mac(key, display_id, window, session_id, console=True), mac
            )
            if not console:
                raise ApiError("bad_mac")
        if len(_GENUINE) >= _GENUINE_MAX:
            _GENUINE.clear()
        _GENUINE[text] = (kid, key, display_id, window, session_id, console)
    age = current_window(period, now) - window
    if age < 0:
        raise ApiError("future_token")
    if age > grace_windows:
        raise ApiError("expired_token")
    return Token(
        kid=kid,
        display_id=display_id,
        window=window,
        text=text,
        session_id=session_id,
        console=console,
    )


def scan_url(public_url: str, token: str) -> str:
    """What the QR encodes: any camera app opens the scanner with the token in the fragment."""
    return f"{public_url}/s#{token}"
