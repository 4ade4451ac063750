"""`backline admin serve`: the REST API and the web admin as a process of their own, with no
Twilio paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from backline.answer import FALLBACK_PATH
from backline.manage import tokens
from backline.manage.engine import open_database as open_engine
from backline.manage.numbers import add_number
from tests.processes import free_port
from tests.support import fallback_params, signed_post


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


@pytest.mark.slow
def test_admin_serve_runs_the_api_and_no_twilio_path(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_engine(sqlite_url)
    add_number(engine, "+815031234567", ["+81312345678"])
    _entry, token = tokens.create(engine, "ops")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "admin.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backline.cli",
            "admin",
            "serve",
            "--port",
            str(port),
            "--database-url",
            sqlite_url,
        ],
        env={
            **os.environ,
            "BACKLINE_STATE_DIR": str(tmp_path / "state"),
            "BACKLINE_LOG_LEVEL": "WARNING",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "admin.log").read_text()
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "admin serve did not start"
            time.sleep(0.1)
        status, body = _get(base + "/api/numbers", token)
        assert status == 200 and json.loads(body)[0]["number"] == "+815031234567"
        assert _get(base + "/api/numbers")[0] == 401
        assert _get(base + "/admin/", token)[0] == 200  # the sign-in page (redirected)
        body_bytes, headers = signed_post(FALLBACK_PATH, fallback_params("+815031234567"))
        request = urllib.request.Request(base + FALLBACK_PATH, data=body_bytes, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 404
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
