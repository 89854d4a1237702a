from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend import tokens
from backend.errors import ApiError

KEYS = (("k0", b"old-key-0123456789abcdef"), ("k1", b"new-key-0123456789abcdef"))
PERIOD = 15
displays = st.integers(min_value=0, max_value=10**9)
windows = st.integers(min_value=1, max_value=10**10)


def verify(text: str, now_window: int, keys=KEYS, grace: int = 1) -> tokens.Token:
    # The middle of the window, so float rounding never moves the boundary.
    return tokens.verify(
        keys, text, period=PERIOD, grace_windows=grace, now=(now_window + 0.5) * PERIOD
    )


def code_of(text: str, now_window: int, keys=KEYS) -> str:
    with pytest.raises(ApiError) as info:
        verify(text, now_window, keys)
    return info.value.code


@given(displays, windows, st.integers(min_value=0, max_value=1))
def test_round_trip_within_grace(display: int, window: int, age: int) -> None:
    text = tokens.issue(KEYS, display, window)
    token = verify(text, window + age)
    assert (token.kid, token.display_id, token.window) == ("k1", display, window)


def test_format_and_mac_length() -> None:
    text = tokens.issue(KEYS, 12, 118000123)
    version, kid, display, window, mac = text.split(".")
    assert (version, kid, display, window) == ("v1", "k1", "12", "118000123")
    assert len(mac) == 22  # 128 bits in base64url


@given(displays, windows, st.data())
def test_every_one_character_change_is_rejected(
    display: int, window: int, data: st.DataObject
) -> None:
    text = tokens.issue(KEYS, display, window)
    i = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(
        st.characters(codec="ascii", categories=("L", "N", "P", "S")).filter(lambda c: c != text[i])
    )
    changed = text[:i] + replacement + text[i + 1 :]
    with pytest.raises(ApiError):
        verify(changed, window)


@given(displays, windows, st.integers(min_value=2, max_value=10**6))
def test_windows_past_the_grace_are_expired(display: int, window: int, age: int) -> None:
    assert code_of(tokens.issue(KEYS, display, window), window + age) == "expired_token"


@given(displays, windows, st.integers(min_value=1, max_value=10**6))
def test_future_windows_are_never_accepted(display: int, window: int, ahead: int) -> None:
    assert code_of(tokens.issue(KEYS, display, window + ahead), window) == "future_token"


@given(displays, windows)
def test_token_signed_with_a_retired_key_is_rejected(display: int, window: int) -> None:
    old = tokens.issue(KEYS[:1], display, window)
    assert verify(old, window).kid == "k0"  # still listed: verifies until it expires
    assert code_of(old, window, keys=KEYS[1:]) == "unknown_key"


@given(displays, displays, windows)
def test_token_for_one_display_never_verifies_as_another(a: int, b: int, window: int) -> None:
    if a == b:
        return
    text = tokens.issue(KEYS, a, window)
    forged = text.replace(f".{a}.{window}.", f".{b}.{window}.", 1)
    assert code_of(forged, window) == "bad_mac"


@pytest.mark.parametrize(
    "text",
    ["", "v1", "v2.k1.1.2.AAAAAAAAAAAAAAAAAAAAAA", "v1.k1.01.2.AAAAAAAAAAAAAAAAAAAAAA",
     "v1.k1.+1.2.AAAAAAAAAAAAAAAAAAAAAA", "v1.k1.1.2.AAAA", "v1.k-1.1.2.AAAAAAAAAAAAAAAAAAAAAA",
     "v1.k1.1.2.AAAAAAAAAAAAAAAAAAAAAA.x", "v1.k1.١.2.AAAAAAAAAAAAAAAAAAAAAA", "x" * 500],
)  # fmt: skip
def test_malformed_tokens(text: str) -> None:
    assert code_of(text, 2) == "malformed_token"


def test_grace_zero_accepts_only_the_current_window() -> None:
    text = tokens.issue(KEYS, 1, 100)
    assert verify(text, 100, grace=0).window == 100
    with pytest.raises(ApiError, match="expired_token"):
        verify(text, 101, grace=0)


def test_scan_url_is_small_enough_for_qr_version_5() -> None:
    import segno

    url = tokens.scan_url(
        "https://presensi.pemkot-contoh.go.id", tokens.issue(KEYS, 99999, 118000123)
    )
    qr = segno.make_qr(url, error="m", boost_error=False)
    assert qr.version <= 5, (url, qr.version)
