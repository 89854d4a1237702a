"""A wheel built from the repository runs on its own, templates and migrations included."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("presensi-*.whl")
    return built


def test_wheel_contains_the_non_python_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "backend/locale/id/LC_MESSAGES/messages.po" in names
    assert "backend/migrations/script.py.mako" in names
    assert any(n.startswith("backend/migrations/versions/0001") for n in names)
    assert "templates/__init__.py" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    assert not any(n.startswith(("tests/", "node_modules/", "data/")) for n in names)


def test_wheel_runs_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import backend, sys; assert backend.__file__.startswith(sys.argv[1]), backend.__file__\n"
        "from backend.cli import main\n"
        "sys.exit(main(['demo', '--json']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "PRESENSI_DATA_DIR": str(tmp_path / "data")}
    env.pop("PRESENSI_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", script, str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert '"employees"' in result.stdout
    assert (tmp_path / "data" / "presensi.db").exists()
