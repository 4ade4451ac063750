"""The web admin in a real browser: Debian's Chromium, headless, driven by Playwright and
launched by its path (no browser of Playwright's own). Against `backline serve` in a child
process: sign in, find a number, edit it, see the "try it" panel and the fallback's real answer
change; screenshots of the main pages are saved (into docs/screenshots with
BACKLINE_SCREENSHOTS=docs/screenshots, as `make screenshots` does).

Without Chromium the test is skipped, unless BACKLINE_TEST_REQUIRE_BROWSER=1 (set by CI).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backline.answer import FALLBACK_PATH, STATUS_PATH
from backline.manage import tokens, users
from backline.manage.channels import add_channel
from backline.manage.engine import open_database as open_engine
from backline.manage.numbers import add_number
from tests.processes import Server
from tests.support import AUTH_TOKEN, PUBLIC_URL, dial_params, fallback_params, signed_post

CHROMIUM = Path(os.environ.get("BACKLINE_TEST_CHROMIUM", "/usr/bin/chromium"))
PASSWORD = "a long and private passphrase"
NUMBER = "+815031234567"

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("BACKLINE_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium is required but {CHROMIUM} does not exist")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


def _divert(server: Server, index: int, outcomes: tuple[str, ...]) -> None:
    params = fallback_params(NUMBER, from_=f"+8190{index:08d}")
    status, _text = server.post(FALLBACK_PATH, *signed_post(FALLBACK_PATH, params))
    assert status == 200
    for step, outcome in enumerate(outcomes):
        path = f"{STATUS_PATH}?step={step}"
        server.post(path, *signed_post(path, dial_params(params, outcome, 12)))


def _answer(server: Server) -> str:
    params = fallback_params(NUMBER)
    status, text = server.post(FALLBACK_PATH, *signed_post(FALLBACK_PATH, params))
    assert status == 200
    return text


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Server]:
    from backline.manage.migrate import upgrade

    url = f"sqlite:///{tmp_path}/backline.db"
    upgrade(url)
    engine = open_engine(url)
    add_number(
        engine,
        NUMBER,
        ["+81312345678", "+819011112222"],
        client="Sakura Dental",
        new_client=True,
        mode="sequential",
        ring_timeout=20,
    )
    add_number(engine, "+815031230000", ["+81398765432"], client="Hinode Clinic", new_client=True)
    add_channel(engine, "slack", "http://127.0.0.1:9/hooks/T000/B000/XXXX", allow_private=True)
    add_channel(engine, "sms", "+819033334444", client="Sakura Dental")
    tokens.create(engine, "browser")
    users.add(engine, "hanako", PASSWORD)
    engine.dispose()
    env = {
        "BACKLINE_DATABASE_URL": url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),
        "BACKLINE_SNAPSHOT_REFRESH_SECONDS": "0.2",
        "BACKLINE_NOTIFY_IN_SERVE": "0",
        "BACKLINE_LOG_LEVEL": "WARNING",
    }
    server = Server(env, tmp_path)
    try:
        for index, outcomes in enumerate(
            [
                ("completed",),
                ("busy", "completed"),
                ("no-answer", "no-answer"),
                ("completed",),
                ("busy", "no-answer"),
                ("completed",),
            ]
        ):
            _divert(server, index, outcomes)
        yield server
    finally:
        server.stop()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BACKLINE_SCREENSHOTS", "") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_sign_in_edit_a_number_and_the_answer_changes(
    browser: Any, site: Server, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    assert "+81312345678" in _answer(site)
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto(site.base + "/admin/")
    assert page.url.endswith("/admin/sign-in")
    page.screenshot(path=str(shots / "sign-in.png"))
    page.fill("input[name=user]", "hanako")
    page.fill("input[name=password]", "wrong password, surely")
    page.click("button[type=submit]")
    assert "did not match" in page.text_content("[role=alert]")
    page.fill("input[name=user]", "hanako")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.base + "/admin/")
    assert page.text_content("#diverted-day") == "7"  # and the answer checked above
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

    page.click("nav >> text=Numbers")
    page.fill("input[name=q]", "sakura")
    page.click("form.search button")
    assert page.locator("tbody tr").count() == 1
    page.screenshot(path=str(shots / "numbers.png"), full_page=True)
    page.click(f"text={NUMBER}")
    assert "+81312345678" in page.text_content("#twiml")

    page.fill("textarea[name=destinations]", "+81355556666\n+819011112222")
    page.fill(
        "textarea[name=message]", "Sorry, nobody can take your call. Please call again later."
    )
    page.fill("input[name=language]", "en-US")
    page.click("form.edit button[type=submit]")
    assert "Saved." in page.text_content("[role=status]")
    twiml = page.text_content("#twiml")
    assert "+81355556666" in twiml and "+81312345678" not in twiml
    page.screenshot(path=str(shots / "number.png"), full_page=True)

    # The running fallback answers from the new table within its refresh interval.
    deadline = time.monotonic() + 10
    while "+81355556666" not in (answer := _answer(site)):
        assert time.monotonic() < deadline, answer
        time.sleep(0.1)
    assert "+81312345678" not in answer

    page.fill("input[name=ring_timeout]", "1")
    page.click("form.edit button[type=submit]")
    assert page.get_attribute("[role=alert]", "data-field") == "ring_timeout"

    page.click("nav >> text=Clients")
    assert page.locator("text=Send test").count() == 2
    # The Slack channel points at a closed port: the test is sent, and fails, and says why.
    page.locator("tr", has_text="slack").locator("text=Send test").click()
    assert "#1 Test failed" in page.text_content("[role=status]")
    page.screenshot(path=str(shots / "clients.png"), full_page=True)
    page.click("nav >> text=Call log")
    assert page.locator("tbody tr").count() >= 6
    page.screenshot(path=str(shots / "calls.png"), full_page=True)
    page.click("nav >> text=Audit log")
    assert "number.update" in page.text_content("table")
    assert "user:hanako" in page.text_content("table")
    page.screenshot(path=str(shots / "audit.png"), full_page=True)

    page.click("text=日本語")
    assert page.text_content("h1") == "監査ログ"
    page.goto(site.base + f"/admin/numbers/{NUMBER}")
    page.screenshot(path=str(shots / "number-ja.png"), full_page=True)

    page.click("header button")  # sign out
    page.goto(site.base + "/admin/calls")
    assert page.url.endswith("/admin/sign-in")
    assert blocked == [], blocked
    context.close()
