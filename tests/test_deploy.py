"""The deployment files as shipped: the container's command and health check, and the systemd
unit, run here with this checkout's backline in place of the installed one."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port
from tests.support import AUTH_TOKEN, PUBLIC_URL

ROOT = Path(__file__).resolve().parent.parent
BACKLINE = str(Path(sys.executable).parent / "backline")


def _dockerfile() -> tuple[dict[str, str], list[str], list[str]]:
    """The final stage's ENV, CMD (after ENTRYPOINT ["backline"]) and HEALTHCHECK command."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(dict(pair.split("=", 1) for pair in shlex.split(line[4:])))
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", final, re.M)[1])  # type: ignore[index]
    command = json.loads(re.search(r"^CMD (\[.*\])$", final, re.M)[1])  # type: ignore[index]
    check = json.loads(re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", final, re.M)[1])  # type: ignore[index]
    assert entrypoint == ["backline"]
    return env, command, check


def _unit() -> tuple[dict[str, str], list[str], str]:
    """The unit's Environment= values, ExecStart and EnvironmentFile."""
    env: dict[str, str] = {}
    exec_start: list[str] = []
    env_file = ""
    for line in (ROOT / "deploy" / "systemd" / "backline.service").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(value)))
        elif key == "ExecStart":
            exec_start = shlex.split(value)
        elif key == "EnvironmentFile":
            env_file = value
    return env, exec_start, env_file


def _wait_for_health(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "backline serve exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on port {port}")


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    env.update(
        {
            "BACKLINE_DATABASE_URL": f"sqlite:///{tmp_path}/backline.db",
            "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        }
    )
    return env


def test_the_container_health_check_asks_the_port_serve_listens_on(tmp_path: Path) -> None:
    image_env, command, check = _dockerfile()
    assert check[0] == "python"
    port = free_port()  # as `docker run -e BACKLINE_PORT=...` chooses it
    env = {
        **_base_env(tmp_path),
        **image_env,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),  # the image's /var/lib/backline
        "BACKLINE_PORT": str(port),
    }
    health = [sys.executable, *check[1:]]

    server = subprocess.Popen([BACKLINE, *command], env=env, cwd=tmp_path)
    try:
        _wait_for_health(port, server)
        healthy = subprocess.run(health, env=env, capture_output=True, timeout=30, check=False)
    finally:
        server.terminate()
        server.wait(timeout=20)
    unhealthy = subprocess.run(health, env=env, capture_output=True, timeout=30, check=False)

    assert healthy.returncode == 0, healthy.stderr
    assert unhealthy.returncode != 0  # the check can fail: nothing listens any more


def test_the_systemd_unit_runs_the_installed_command_on_the_configured_port(
    tmp_path: Path,
) -> None:
    unit_env, exec_start, env_file = _unit()
    text = (ROOT / "deploy" / "systemd" / "backline.service").read_text()
    # The command is the one its install lines put there: a virtual environment's backline,
    # installed from the source (backline is not on a package index), its dependencies from
    # the lock file the container uses too.
    venv = re.search(r"python3 -m venv (\S+)$", text, re.M)
    assert venv is not None, "the unit's comment must say how backline gets installed"
    installs = re.findall(rf"sudo {re.escape(venv[1])}/bin/pip install (.+)$", text, re.M)
    assert installs == [
        "--no-deps --require-hashes -r requirements/server.lock",
        "--no-deps .",
    ]
    assert exec_start == [f"{venv[1]}/bin/backline", "serve"]
    assert env_file == "/etc/backline/backline.env"
    port = free_port()  # BACKLINE_PORT from the EnvironmentFile, which wins over Environment=
    env = {
        **_base_env(tmp_path),
        **unit_env,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),  # the unit's StateDirectory
        "BACKLINE_PORT": str(port),
    }

    server = subprocess.Popen([BACKLINE, *exec_start[1:]], env=env, cwd=tmp_path)
    try:
        _wait_for_health(port, server)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert unit_env["BACKLINE_HOST"] == "127.0.0.1"  # behind nginx: loopback only


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    _env, exec_start, _file = _unit()
    unit = tmp_path / "backline.service"
    text = (ROOT / "deploy" / "systemd" / "backline.service").read_text()
    unit.write_text(text.replace(exec_start[0], BACKLINE))

    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # an unknown key is only a warning there
