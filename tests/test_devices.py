from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import devices
from tests.client import Phone, b64url, der_to_p1363


def test_p1363_round_trips_through_der() -> None:
    phone = Phone(http=None)  # type: ignore[arg-type]
    message = b"presensi/checkin/v1|t|d|1|n"
    raw = der_to_p1363(phone.key.sign(message, ec.ECDSA(hashes.SHA256())))
    assert len(raw) == 64
    key = devices.load_public_key(phone.jwk())
    assert devices.verify_signature(key, b64url(raw), message)
    assert not devices.verify_signature(key, b64url(raw), message + b"x")


@settings(max_examples=25)
@given(
    st.integers(min_value=1, max_value=2**256 - 1), st.integers(min_value=1, max_value=2**256 - 1)
)
def test_p1363_to_der_keeps_r_and_s(r: int, s: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert decode_dss_signature(devices.p1363_to_der(raw)) == (r, s)


@pytest.mark.parametrize("length", [0, 63, 65, 72])
def test_p1363_must_be_64_bytes(length: int) -> None:
    with pytest.raises(ValueError):
        devices.p1363_to_der(b"\x01" * length)


def test_der_signature_is_refused() -> None:
    """A DER signature must not slip through: WebCrypto never sends one."""
    phone = Phone(http=None)  # type: ignore[arg-type]
    der = phone.key.sign(b"m", ec.ECDSA(hashes.SHA256()))
    assert not devices.verify_signature(devices.load_public_key(phone.jwk()), b64url(der), b"m")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: {**j, "crv": "P-384"},
        lambda j: {**j, "kty": "RSA"},
        lambda j: {**j, "x": j["x"][:-2]},
        lambda j: {**j, "y": "!!"},
        lambda j: {**j, "d": j["x"]},
        lambda j: {k: v for k, v in j.items() if k != "y"},
        lambda j: {**j, "y": j["x"]},  # not on the curve
        lambda j: "not a jwk",
    ],
)
def test_bad_public_keys(mutate) -> None:  # type: ignore[no-untyped-def]
    jwk = Phone(http=None).jwk()  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        devices.load_public_key(mutate(jwk))


def test_codes_avoid_look_alikes_and_hash_per_purpose() -> None:
    code = devices.new_code()
    assert len(code) == 8 and not set(code) & set("01OIL5SZ2B8")
    assert devices.hash_code(b"k", "enrol", code) == devices.hash_code(b"k", "enrol", code.lower())
    assert devices.hash_code(b"k", "enrol", code) != devices.hash_code(b"k", "pair", code)
