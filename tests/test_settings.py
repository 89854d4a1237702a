from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from backend.settings import SETTINGS, load_settings, normalise_database_url, parse_qr_keys


def test_defaults_generate_secrets_once(tmp_path: Path) -> None:
    env = {"PRESENSI_DATA_DIR": str(tmp_path)}
    first = load_settings(env)
    assert first.database_url == f"sqlite+aiosqlite:///{tmp_path / 'presensi.db'}"
    assert first.qr_period == 15 and first.qr_grace_windows == 1
    assert [kid for kid, _ in first.qr_keys] == ["k1"]
    for name in ("qr_keys", "secret_key"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode == 0o600, (name, oct(mode))
    second = load_settings(env)
    assert second.qr_keys == first.qr_keys and second.secret_key == first.secret_key


def test_environment_wins_and_casts(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "PRESENSI_DATA_DIR": str(tmp_path),
            "PRESENSI_QR_PERIOD": "30",
            "PRESENSI_QR_KEYS": "a1:0123456789abcdef0123,b2:fedcba9876543210fedc",
            "PRESENSI_DATABASE_URL": "postgresql://u@h:5432/db",
            "PRESENSI_PUBLIC_URL": "https://absen.example.go.id/",
        }
    )
    assert settings.qr_period == 30
    assert [kid for kid, _ in settings.qr_keys] == ["a1", "b2"]
    assert settings.database_url == "postgresql+asyncpg://u@h:5432/db"
    assert settings.public_url == "https://absen.example.go.id"
    assert settings.public_origin == "https://absen.example.go.id" and settings.https
    assert not (tmp_path / "qr_keys").exists()  # given keys are never written to disk


@pytest.mark.parametrize(
    ("text", "message"),
    [("k1", "without ':'"), ("k1:short", "shorter than 16"), ("k-1:0123456789abcdef", "letters and digits"),
     ("k1:0123456789abcdef,k1:0123456789abcdeg", "unique"), ("", "no keys")],
)  # fmt: skip
def test_bad_qr_keys_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_qr_keys(text)


def test_bad_numbers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="QR_PERIOD must be positive"):
        load_settings({"PRESENSI_DATA_DIR": str(tmp_path), "PRESENSI_QR_PERIOD": "0"})
    with pytest.raises(ValueError):
        load_settings({"PRESENSI_DATA_DIR": str(tmp_path), "PRESENSI_QR_PERIOD": "fifteen"})


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    settings = load_settings(
        {"PRESENSI_DATA_DIR": str(tmp_path), "PRESENSI_SECRET_KEY": "s3cr3t-value-xyz"}
    )
    assert "s3cr3t" not in repr(settings)
    assert settings.secret_key == b"s3cr3t-value-xyz"


def test_url_normalisation() -> None:
    assert normalise_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert normalise_database_url("postgres://h/db") == "postgresql+asyncpg://h/db"
    assert normalise_database_url("postgresql+asyncpg://h/db") == "postgresql+asyncpg://h/db"


def test_every_setting_has_help() -> None:
    assert all(s.help and s.name.isupper() for s in SETTINGS)
