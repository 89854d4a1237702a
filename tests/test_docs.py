"""The README documents every setting and keeps its two commands first."""

from __future__ import annotations

import re
from pathlib import Path

from backend.settings import ENV_PREFIX, SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [s.name for s in SETTINGS if f"`{ENV_PREFIX}{s.name}`" not in README]
    assert not missing, f"add these settings to README.md: {missing}"


def test_no_unknown_settings_are_documented() -> None:
    known = {f"{ENV_PREFIX}{s.name}" for s in SETTINGS}
    documented = set(re.findall(r"`(PRESENSI_[A-Z_]+)`", README))
    assert documented <= known | {"PRESENSI_TEST_PG", "PRESENSI_SKIP_BROWSER"}, documented - known


def test_readme_starts_with_the_two_commands() -> None:
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", README, re.S)
    assert blocks, "README has no command block"
    assert blocks[0].strip().splitlines() == ["scripts/run", "scripts/test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "scripts/test" in ci
