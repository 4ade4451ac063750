"""The web admin through the app: signing in (token or password), CSRF, cookies, the CSP, every
page, editing a number (audited as from the web), both languages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from backline.config import Config
from backline.manage import audit, tokens, users
from backline.manage.engine import open_database as open_engine
from backline.manage.numbers import add_number
from backline.web.admin.i18n import WORDS
from backline.web.app import create_app
from tests.support import ADMIN_PASSWORD, csrf_of


@pytest.fixture
def site(sqlite_url: str, make_config: Callable[..., Config]) -> Iterator[TestClient]:
    engine = open_engine(sqlite_url)
    tokens.create(engine, "ops")
    users.add(engine, "hanako", ADMIN_PASSWORD)
    users.add(engine, "viewer", ADMIN_PASSWORD, read_only=True)
    add_number(engine, "+815031234567", ["+81312345678"], client="Sakura Dental", new_client=True)
    with TestClient(create_app(make_config(sqlite_url)), base_url="https://testserver") as client:
        yield client


def sign_in(client: TestClient, user: str = "hanako", password: str = ADMIN_PASSWORD) -> None:
    form = client.get("/admin/sign-in")
    response = client.post(
        "/admin/sign-in",
        data={"csrf": csrf_of(form.text), "user": user, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def test_nothing_is_visible_without_signing_in(site: TestClient) -> None:
    for path in (
        "/admin/",
        "/admin/numbers",
        "/admin/numbers/+815031234567",
        "/admin/clients",
        "/admin/calls",
        "/admin/audit",
    ):
        response = site.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/admin/sign-in"
    assert (
        site.post(
            "/admin/numbers/+815031234567", data={"mode": "sequential"}, follow_redirects=False
        ).status_code
        == 303
    )
    assert site.get("/admin", follow_redirects=False).headers["location"] == "/admin/"


def test_sign_in_with_a_password_sets_a_secure_host_cookie(site: TestClient) -> None:
    form = site.get("/admin/sign-in")
    assert form.status_code == 200
    csp = form.headers["content-security-policy"]
    assert (
        "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    )
    response = site.post(
        "/admin/sign-in",
        data={"csrf": csrf_of(form.text), "user": "hanako", "password": ADMIN_PASSWORD},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-backline_session=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    page = site.get("/admin/")
    assert page.status_code == 200 and "user:hanako" in page.text


def test_wrong_passwords_and_tokens_are_refused(site: TestClient) -> None:
    form = site.get("/admin/sign-in")
    bad = site.post(
        "/admin/sign-in",
        data={"csrf": csrf_of(form.text), "user": "hanako", "password": "nope" * 4},
    )
    assert bad.status_code == 401
    bad = site.post("/admin/sign-in", data={"csrf": csrf_of(form.text), "token": "bl_nope"})
    assert bad.status_code == 401
    # The sign-in form's own token must come back too.
    bad = site.post(
        "/admin/sign-in", data={"csrf": "forged", "user": "hanako", "password": ADMIN_PASSWORD}
    )
    assert bad.status_code == 403
    assert site.get("/admin/", follow_redirects=False).status_code == 303


def test_sign_in_with_a_token(sqlite_url: str, make_config: Callable[..., Config]) -> None:
    _entry, token = tokens.create(open_engine(sqlite_url), "browser")
    with TestClient(create_app(make_config(sqlite_url))) as client:
        form = client.get("/admin/sign-in")
        assert "backline_session" not in form.headers.get("set-cookie", "")
        done = client.post(
            "/admin/sign-in",
            data={"csrf": csrf_of(form.text), "token": token},
            follow_redirects=False,
        )
        # Over plain HTTP the cookie cannot have the __Host- prefix (it needs Secure).
        assert done.headers["set-cookie"].startswith("backline_session=")
        assert "token:browser" in client.get("/admin/").text


def test_every_page_renders_in_both_languages(site: TestClient) -> None:
    sign_in(site)
    for language in ("en", "ja"):
        site.get(f"/admin/language?lang={language}&back=/admin/")
        for path, word in (
            ("/admin/", "dashboard"),
            ("/admin/numbers", "numbers"),
            ("/admin/numbers/+815031234567", "try_it"),
            ("/admin/clients", "clients"),
            ("/admin/calls", "calls"),
            ("/admin/audit", "audit"),
        ):
            page = site.get(path)
            assert page.status_code == 200, (path, page.text)
            assert WORDS[language][word] in page.text, (language, path)
            assert f'<html lang="{language}">' in page.text


def test_languages_have_the_same_words() -> None:
    assert set(WORDS["ja"]) == set(WORDS["en"])


def test_editing_a_number_changes_the_answer_and_is_audited(
    site: TestClient, sqlite_url: str
) -> None:
    sign_in(site)
    page = site.get("/admin/numbers/+815031234567")
    assert "+81312345678" in page.text
    form = {
        "csrf": csrf_of(page.text),
        "destinations": "+81399998888\n+81311112222",
        "client": "Sakura Dental",
        "mode": "sequential",
        "ring_timeout": "25",
        "message": "",
        "language": "",
        "voice": "",
        "enabled": "on",
    }
    saved = site.post("/admin/numbers/+815031234567", data=form)
    assert saved.status_code == 200
    assert WORDS["ja"]["saved"] in saved.text
    twiml = re.search(r'<pre id="twiml">(.*?)</pre>', saved.text, re.S)
    assert twiml and "+81399998888" in twiml.group(1) and "+81312345678" not in twiml.group(1)
    entry = audit.list_entries(open_engine(sqlite_url))[0]
    assert (entry.actor, entry.source, entry.action) == ("user:hanako", "web", "number.update")
    assert entry.before["mode"] == "simultaneous" and entry.after["mode"] == "sequential"
    assert "number.update" in site.get("/admin/audit").text


def test_a_refused_value_names_its_field(site: TestClient) -> None:
    sign_in(site)
    page = site.get("/admin/numbers/+815031234567")
    form = {
        "csrf": csrf_of(page.text),
        "destinations": "+81312345678",
        "mode": "simultaneous",
        "ring_timeout": "2",
        "enabled": "on",
    }
    refused = site.post("/admin/numbers/+815031234567", data=form)
    assert refused.status_code == 422
    assert 'data-field="ring_timeout"' in refused.text
    assert 'value="2"' in refused.text  # what was typed stays in the form


def test_the_form_sets_hours_voicemail_and_screening(site: TestClient, sqlite_url: str) -> None:
    from backline.manage.numbers import get_number

    sign_in(site)
    page = site.get("/admin/numbers/+815031234567")
    form = {
        "csrf": csrf_of(page.text),
        "destinations": "+81312345678",
        "mode": "simultaneous",
        "ring_timeout": "30",
        "enabled": "on",
        "when_unanswered": "voicemail",
        "voicemail_max_length": "90",
        "transcribe": "off",
        "screen": "on",
        "hours": "mon-fri 09:00-18:00\nsat 09:00-12:00",
        "timezone": "Asia/Tokyo",
        "closed_on": "2026-12-31\n2026-12-30",
        "holidays": "",
        "when_closed": "voicemail",
        "closed_message": "本日の営業は終了しました。",
    }
    saved = site.post("/admin/numbers/+815031234567", data=form)
    assert saved.status_code == 200, saved.text
    entry = get_number(open_engine(sqlite_url), "+815031234567")
    assert (entry.when_unanswered, entry.voicemail_max_length) == ("voicemail", 90)
    assert (entry.transcribe, entry.screen) == (False, True)
    assert entry.hours == ("mon-fri 09:00-18:00", "sat 09:00-12:00")
    assert entry.closed_on == ("2026-12-30", "2026-12-31")
    assert (entry.timezone, entry.when_closed) == ("Asia/Tokyo", "voicemail")
    assert entry.closed_message == "本日の営業は終了しました。"
    # The form shows what is stored, and setting a field back to "(setting)" clears it.
    assert "sat 09:00-12:00" in saved.text and '<option value="on" selected>' in saved.text
    cleared = site.post(
        "/admin/numbers/+815031234567",
        data={**form, "csrf": csrf_of(saved.text), "screen": "", "hours": "", "closed_on": ""},
    )
    assert cleared.status_code == 200, cleared.text
    entry = get_number(open_engine(sqlite_url), "+815031234567")
    assert (entry.screen, entry.hours, entry.closed_on) == (None, (), ())


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("hours", "mon-fri 25:00-26:00", "25:00"),
        ("voicemail_max_length", "1", "out of range"),
        ("when_unanswered", "music", "not one of"),
        ("closed_on", "2026-02-30", "2026-02-30"),
        ("timezone", "Mars/Olympus", "Mars/Olympus"),
    ],
)
def test_a_refused_value_is_shown_next_to_its_field(
    site: TestClient, sqlite_url: str, field: str, value: str, words: str
) -> None:
    from backline.manage.numbers import get_number

    sign_in(site)
    page = site.get("/admin/numbers/+815031234567")
    form = {
        "csrf": csrf_of(page.text),
        "destinations": "+81312345678",
        "mode": "simultaneous",
        "ring_timeout": "30",
        "enabled": "on",
        field: value,
    }
    refused = site.post("/admin/numbers/+815031234567", data=form)
    assert refused.status_code == 422, refused.text
    label = re.search(
        rf'<label class="bad">[^<]*<(?:input|textarea) name="{field}".*?</label>',
        refused.text,
        re.S,
    )
    assert label, refused.text
    assert f'<span class="field-error" id="error-{field}">' in label.group(0)
    assert words in label.group(0) and value in label.group(0)  # why, and what was typed
    assert refused.text.count('class="field-error"') == 1
    entry = get_number(open_engine(sqlite_url), "+815031234567")
    assert (entry.hours, entry.when_unanswered) == ((), None)  # nothing was saved


def test_forms_without_the_session_token_are_refused(site: TestClient) -> None:
    sign_in(site)
    form = {
        "destinations": "+81399998888",
        "mode": "simultaneous",
        "ring_timeout": "25",
        "enabled": "on",
    }
    assert (
        site.post("/admin/numbers/+815031234567", data={**form, "csrf": "forged"}).status_code
        == 403
    )
    page = site.get("/admin/numbers/+815031234567")
    cross_site = site.post(
        "/admin/numbers/+815031234567",
        data={**form, "csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert "+81312345678" in site.get("/admin/numbers/+815031234567").text


def test_read_only_users_see_but_cannot_save(site: TestClient) -> None:
    sign_in(site, "viewer")
    page = site.get("/admin/numbers/+815031234567")
    assert page.status_code == 200 and 'type="submit"' not in page.text
    form = {
        "csrf": csrf_of(page.text),
        "destinations": "+81399998888",
        "mode": "simultaneous",
        "ring_timeout": "25",
        "enabled": "on",
    }
    refused = site.post("/admin/numbers/+815031234567", data=form)
    assert refused.status_code == 403


def test_sign_out_ends_the_session(site: TestClient) -> None:
    sign_in(site)
    page = site.get("/admin/")
    site.post("/admin/sign-out", data={"csrf": csrf_of(page.text)})
    assert site.get("/admin/", follow_redirects=False).status_code == 303


def test_send_test_from_the_clients_page(site: TestClient, sqlite_url: str) -> None:
    from backline.manage.channels import add_channel
    from tests.standins import StandIn

    receiver = StandIn()
    try:
        channel = add_channel(
            open_engine(sqlite_url),
            "webhook",
            receiver.url,
            client="Sakura Dental",
            allow_private=True,
        )
        sign_in(site)
        page = site.get("/admin/clients")
        assert f"/admin/channels/{channel.spec.id}/test" in page.text
        done = site.post(
            f"/admin/channels/{channel.spec.id}/test", data={"csrf": csrf_of(page.text)}
        )
        assert done.status_code == 200
        assert receiver.received, "no test message arrived"
    finally:
        receiver.close()


def test_revoking_or_removing_ends_the_sessions(site: TestClient, sqlite_url: str) -> None:
    engine = open_engine(sqlite_url)
    sign_in(site)
    users.set_password(engine, "hanako", ADMIN_PASSWORD + "!")
    assert site.get("/admin/", follow_redirects=False).status_code == 303
    _entry, token = tokens.create(engine, "laptop")
    form = site.get("/admin/sign-in")
    site.post("/admin/sign-in", data={"csrf": csrf_of(form.text), "token": token})
    assert site.get("/admin/").status_code == 200
    tokens.revoke(engine, "laptop")
    assert site.get("/admin/", follow_redirects=False).status_code == 303
