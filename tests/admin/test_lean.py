"""The answer path never loads the admin: answering calls through the server's app (with the
admin surface on) imports none of the REST API, the web admin or their libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backline.answer import FALLBACK_PATH
from backline.manage.engine import open_database as open_engine
from backline.manage.numbers import add_number
from tests.support import AUTH_TOKEN, PUBLIC_URL, fallback_params, signed_post

ADMIN_MODULES = (
    "backline.web.api",
    "backline.web.admin",
    "backline.manage",
    "jinja2",
    "argon2",
    "sqlalchemy",
)


@pytest.mark.slow
def test_answering_calls_loads_no_admin(sqlite_url: str, tmp_path: Path) -> None:
    add_number(open_engine(sqlite_url), "+815031234567", ["+81312345678"])
    # Signed here: the test helpers import the migrations (and so SQLAlchemy).
    body, headers = signed_post(FALLBACK_PATH, fallback_params("+815031234567"))
    script = f"""
import json, sys
from starlette.testclient import TestClient
import pytest

from backline.answer import FALLBACK_PATH
from backline.config import Config
from backline.web.app import create_app
AUTH_TOKEN, PUBLIC_URL = {AUTH_TOKEN!r}, {PUBLIC_URL!r}
config = Config(database_url={sqlite_url!r}, twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL,
                state_dir=__import__("pathlib").Path({str(tmp_path / "state")!r}),
                admin_token="a-token-of-at-least-24-characters")
with TestClient(create_app(config)) as client:
    body, headers = {body!r}, {headers!r}
    answer = client.post(FALLBACK_PATH, content=body, headers=headers)
    loaded = sorted(m for m in sys.modules if m.startswith({ADMIN_MODULES!r}))
    print(json.dumps({{"status": answer.status_code, "dial": "+81312345678" in answer.text,
                      "loaded": loaded}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"status": 200, "dial": True, "loaded": []}
