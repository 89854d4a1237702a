"""Structured logs: JSON lines, and no secret survives formatting."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest

from backend import tokens
from backend.logs import REDACTED, log_config, redact
from backend.settings import parse_qr_keys


def test_redact_masks_secrets_but_keeps_context() -> None:
    keys = parse_qr_keys("k1:test-key-0123456789abcdef")
    token = tokens.issue(keys, 7, 123456)
    mac = token.rsplit(".", 1)[1]
    text = redact(
        f"scan {token} from postgresql://presensi:s3cret-pw@db:5432/presensi "
        '{"signature": "AAAABBBBCCCC", "code": "K7QW4RTX"} password=hunter2 '
        "cookie presensi_display=abcdef123456"
    )
    assert mac not in text and "v1.k1.7.123456." + REDACTED in text
    for secret in ("s3cret-pw", "AAAABBBBCCCC", "K7QW4RTX", "hunter2", "abcdef123456"):
        assert secret not in text
    assert "postgresql://presensi:" in text and "@db:5432/presensi" in text


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configured_logging_masks_arguments(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = log_config("info", fmt)
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in config["loggers"]
        for lg in [logging.getLogger(name)]
    }
    logging.config.dictConfig(config)
    try:
        logging.getLogger("presensi.test").info(
            "enrolled with %s at %s", "code=QWERTY77", "postgresql://u:pw123@h/db"
        )
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
    assert "QWERTY77" not in line and "pw123" not in line
    if fmt == "json":
        entry = json.loads(line)
        assert entry["level"] == "info" and entry["logger"] == "presensi.test"
        assert entry["msg"].startswith("enrolled with code=" + REDACTED)
    else:
        assert "presensi.test" in line and REDACTED in line


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_lines_logged_during_a_request_carry_its_id(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from backend.logs import install_request_ids, new_request_id, request_id

    install_request_ids()
    config = log_config("info", fmt)
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in config["loggers"]
        for lg in [logging.getLogger(name)]
    }
    logging.config.dictConfig(config)
    rid = new_request_id()
    token = request_id.set(rid)
    try:
        logging.getLogger("presensi.test").info("inside")
        request_id.reset(token)
        logging.getLogger("presensi.test").info("outside")
        inside, outside = capsys.readouterr().err.strip().splitlines()[-2:]
    finally:
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
    if fmt == "json":
        assert json.loads(inside)["request_id"] == rid
        assert "request_id" not in json.loads(outside)
    else:
        assert f"[{rid}]" in inside and "[-]" in outside
