"""Every setting Presensi reads, in one place.

Values come from the environment with the prefix ``PRESENSI_`` or from a ``.env`` file in the
working directory. Each setting is declared once in ``SETTINGS`` with its type, default and help
text; the README documents them all (``tests/test_docs.py`` fails when one is missing).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.config import Config
from starlette.datastructures import Secret

ENV_PREFIX = "PRESENSI_"


@dataclass(frozen=True)
class Setting:
    name: str
    cast: Callable[[Any], Any]
    default: Any
    help: str


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", Path, "./data", "Folder for the SQLite database and generated keys."),
    Setting(
        "DATABASE_URL",
        str,
        "",
        "Database URL. Empty: SQLite file `presensi.db` in DATA_DIR. "
        "PostgreSQL: `postgresql://user@host:5432/dbname`.",
    ),
    Setting(
        "PUBLIC_URL",
        str,
        "http://127.0.0.1:8000",
        "The address staff phones reach the server at; QR codes encode `<PUBLIC_URL>/s#<token>`.",
    ),
    Setting("QR_PERIOD", int, 15, "Seconds each QR code is shown before the next one."),
    Setting(
        "QR_GRACE_WINDOWS",
        int,
        1,
        "How many past QR windows are still accepted (1: a code is valid for at most 2 periods).",
    ),
    Setting(
        "QR_KEYS",
        Secret,
        "",
        "QR signing keys as `id:secret` pairs separated by commas; the last one signs new codes. "
        "Empty: one key is generated into DATA_DIR/qr_keys on first run.",
    ),
    Setting(
        "SECRET_KEY",
        Secret,
        "",
        "Secret for sessions and hashed codes. Empty: generated into DATA_DIR/secret_key.",
    ),
    Setting(
        "ENROLMENT_CODE_TTL",
        int,
        86400,
        "Seconds an enrolment code for a phone stays valid.",
    ),
    Setting(
        "REQUEST_ESCALATE_DAYS",
        int,
        3,
        "Working days a request from the phone may wait for its supervisor before it moves up "
        "to the supervisor's supervisor and the unit's operators.",
    ),
    Setting(
        "ENROL_LIMIT_PER_NIP",
        int,
        5,
        "Failed or successful enrolment attempts allowed per NIP per ENROL_LIMIT_WINDOW.",
    ),
    Setting(
        "ENROL_LIMIT_PER_IP",
        int,
        200,
        "Enrolment attempts allowed per client IP per ENROL_LIMIT_WINDOW "
        "(a whole office often shares one public IP).",
    ),
    Setting("ENROL_LIMIT_WINDOW", int, 900, "Seconds of the enrolment rate-limit window."),
    Setting(
        "MAX_BODY_BYTES",
        int,
        8192,
        "Largest request body accepted by the phone-facing JSON endpoints.",
    ),
    Setting(
        "TRUSTED_PROXIES",
        str,
        "127.0.0.1",
        "Comma-separated proxy addresses whose X-Forwarded-For header is trusted for client IPs.",
    ),
    Setting(
        "SIGNATURE_HELPERS",
        int,
        1,
        "Helper processes beside each server process that verify phones' signatures, so other "
        "CPU cores do that work during a rush; 0 verifies inside the server process.",
    ),
    Setting("LOG_LEVEL", str, "info", "Logging level: debug, info, warning, error."),
    Setting(
        "LOG_FORMAT",
        str,
        "text",
        "Log lines as `text` or `json` (one object per line, for log collectors); secrets are "
        "always masked.",
    ),
    Setting(
        "DEFAULT_TIMEZONE",
        str,
        "Asia/Jakarta",
        "Time zone for new offices: Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT).",
    ),
    Setting(
        "ACTIVITY_DEADLINE_DAYS",
        int,
        3,
        "Working days after a day during which its activity diary can still be submitted "
        "(later: `activity_deadline_passed`); a returned day gets as many again from its return.",
    ),
    Setting(
        "ACTIVITY_VALIDATION_DAYS",
        int,
        5,
        "Working days a supervisor has to decide a submitted diary day; an undecided day then "
        "escalates to the supervisor's own supervisor (and the unit operator's console).",
    ),
    Setting(
        "ACTIVITY_BREAK_MINUTES",
        int,
        60,
        "Break minutes taken off each scheduled day when the month's effective working minutes "
        "are counted (Monday–Thursday and rostered shifts).",
    ),
    Setting(
        "ACTIVITY_FRIDAY_BREAK_MINUTES",
        int,
        90,
        "Break minutes taken off a Friday (Friday prayer); with the default week this gives the "
        "37.5 hours of Perpres 21/2023.",
    ),
    Setting(
        "LOCATION_RETENTION_DAYS",
        int,
        90,
        "Days a scan's reported position is kept with the record; the nightly pass "
        "(`presensi fraud-scan`) clears older ones.",
    ),
    # -- integration (issue 14) --
    Setting(
        "CHANGES_RETENTION_DAYS",
        int,
        90,
        "Days the changes feed keeps a change (at least 90); older ones are deleted.",
    ),
    Setting(
        "WEBHOOK_ALLOW_HTTP",
        _bool,
        False,
        "Allow webhook URLs with plain `http` (otherwise only `https`).",
    ),
    Setting(
        "WEBHOOK_ALLOWED_NETWORKS",
        str,
        "",
        "Comma-separated CIDRs a webhook may reach although they are loopback, link-local or "
        "private (refused otherwise, also after DNS resolution). Empty: none.",
    ),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    public_url: str
    qr_period: int
    qr_grace_windows: int
    qr_keys: tuple[tuple[str, bytes], ...] = field(repr=False)
    secret_key: bytes = field(repr=False)
    enrolment_code_ttl: int = 86400
    request_escalate_days: int = 3
    enrol_limit_per_nip: int = 5
    enrol_limit_per_ip: int = 200
    enrol_limit_window: int = 900
    max_body_bytes: int = 8192
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    signature_helpers: int = 1
    log_level: str = "info"
    log_format: str = "text"
    default_timezone: str = "Asia/Jakarta"
    activity_deadline_days: int = 3
    activity_validation_days: int = 5
    activity_break_minutes: int = 60
    activity_friday_break_minutes: int = 90
    location_retention_days: int = 90
    changes_retention_days: int = 90
    webhook_allow_http: bool = False
    webhook_allowed_networks: tuple[str, ...] = ()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # Created with 0600 from the start so the secret is never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def parse_qr_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    """Parse ``id:secret,id:secret``; the secret is used as its UTF-8 bytes."""
    keys: list[tuple[str, bytes]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, secret = item.partition(":")
        if not sep or not kid or not secret:
            raise ValueError(f"QR_KEYS: expected 'id:secret', got an entry without ':' ({kid!r})")
        if not kid.isalnum():
            raise ValueError(f"QR_KEYS: key id must be letters and digits, got {kid!r}")
        if len(secret) < 16:
            raise ValueError(f"QR_KEYS: the secret of key {kid!r} is shorter than 16 characters")
        keys.append((kid, secret.encode()))
    if not keys:
        raise ValueError("QR_KEYS: no keys given")
    if len({kid for kid, _ in keys}) != len(keys):
        raise ValueError("QR_KEYS: key ids must be unique")
    return tuple(keys)


def normalise_database_url(url: str) -> str:
    """Give the URL the async driver that both `databases` and SQLAlchemy understand."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _log_format(value: str) -> str:
    fmt = value.strip().lower()
    if fmt not in {"text", "json"}:
        raise ValueError(f"{ENV_PREFIX}LOG_FORMAT must be text or json, got {value!r}")
    return fmt


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting; generate the per-install secrets on first run."""
    # A missing .env is normal (settings usually come from the environment), so only name it
    # when it exists: Starlette warns about a missing file.
    env_file = ".env" if Path(".env").is_file() else None
    config = Config(
        env_file, environ=os.environ if environ is None else environ, env_prefix=ENV_PREFIX
    )
    raw = {s.name: config(s.name, cast=s.cast, default=s.default) for s in SETTINGS}
    data_dir = Path(raw["DATA_DIR"]).resolve()
    database_url = raw["DATABASE_URL"] or f"sqlite:///{data_dir / 'presensi.db'}"
    qr_keys_text = str(raw["QR_KEYS"]) or _read_or_create(
        data_dir / "qr_keys", lambda: f"k1:{secrets.token_urlsafe(32)}"
    )
    secret_text = str(raw["SECRET_KEY"]) or _read_or_create(
        data_dir / "secret_key", lambda: secrets.token_urlsafe(48)
    )
    for name in (
        "QR_PERIOD",
        "QR_GRACE_WINDOWS",
        "ENROLMENT_CODE_TTL",
        "MAX_BODY_BYTES",
        "REQUEST_ESCALATE_DAYS",
        "LOCATION_RETENTION_DAYS",
    ):
        if raw[name] < (0 if name == "QR_GRACE_WINDOWS" else 1):
            raise ValueError(f"{ENV_PREFIX}{name} must be positive, got {raw[name]}")
    for name in (
        "ACTIVITY_DEADLINE_DAYS",
        "ACTIVITY_VALIDATION_DAYS",
        "ACTIVITY_BREAK_MINUTES",
        "ACTIVITY_FRIDAY_BREAK_MINUTES",
    ):
        if raw[name] < 0:
            raise ValueError(f"{ENV_PREFIX}{name} must be 0 or more, got {raw[name]}")
    if raw["CHANGES_RETENTION_DAYS"] < 90:
        raise ValueError(f"{ENV_PREFIX}CHANGES_RETENTION_DAYS must be at least 90")
    networks = tuple(n.strip() for n in raw["WEBHOOK_ALLOWED_NETWORKS"].split(",") if n.strip())
    for network in networks:
        ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
    if raw["SIGNATURE_HELPERS"] < 0:
        raise ValueError(f"{ENV_PREFIX}SIGNATURE_HELPERS must be 0 or more")
    return Settings(
        data_dir=data_dir,
        database_url=normalise_database_url(database_url),
        public_url=raw["PUBLIC_URL"].rstrip("/"),
        qr_period=raw["QR_PERIOD"],
        qr_grace_windows=raw["QR_GRACE_WINDOWS"],
        qr_keys=parse_qr_keys(qr_keys_text),
        secret_key=secret_text.encode(),
        enrolment_code_ttl=raw["ENROLMENT_CODE_TTL"],
        request_escalate_days=raw["REQUEST_ESCALATE_DAYS"],
        enrol_limit_per_nip=raw["ENROL_LIMIT_PER_NIP"],
        enrol_limit_per_ip=raw["ENROL_LIMIT_PER_IP"],
        enrol_limit_window=raw["ENROL_LIMIT_WINDOW"],
        max_body_bytes=raw["MAX_BODY_BYTES"],
        trusted_proxies=tuple(p.strip() for p in raw["TRUSTED_PROXIES"].split(",") if p.strip()),
        signature_helpers=raw["SIGNATURE_HELPERS"],
        log_level=raw["LOG_LEVEL"].lower(),
        log_format=_log_format(raw["LOG_FORMAT"]),
        default_timezone=raw["DEFAULT_TIMEZONE"],
        activity_deadline_days=raw["ACTIVITY_DEADLINE_DAYS"],
        activity_validation_days=raw["ACTIVITY_VALIDATION_DAYS"],
        activity_break_minutes=raw["ACTIVITY_BREAK_MINUTES"],
        activity_friday_break_minutes=raw["ACTIVITY_FRIDAY_BREAK_MINUTES"],
        location_retention_days=raw["LOCATION_RETENTION_DAYS"],
        changes_retention_days=raw["CHANGES_RETENTION_DAYS"],
        webhook_allow_http=raw["WEBHOOK_ALLOW_HTTP"],
        webhook_allowed_networks=networks,
    )
