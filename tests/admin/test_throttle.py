"""Sign-in throttling: the counting itself (with a clock the test moves), then through the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from backline.config import Config
from backline.manage import tokens, users
from backline.manage.engine import open_database
from backline.web.admin.i18n import WORDS
from backline.web.admin.throttle import LIMIT, SignInThrottle
from backline.web.app import create_app
from tests.support import ADMIN_PASSWORD, csrf_of


@pytest.fixture
def site(sqlite_url: str, make_config: Callable[..., Config]) -> Iterator[TestClient]:
    engine = open_database(sqlite_url)
    tokens.create(engine, "ops")  # the admin surface is on
    users.add(engine, "hanako", ADMIN_PASSWORD)
    users.add(engine, "viewer", ADMIN_PASSWORD, read_only=True)
    with TestClient(create_app(make_config(sqlite_url)), base_url="https://testserver") as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_within_the_window_then_the_lockout() -> None:
    clock = Clock()
    throttle = SignInThrottle(limit=3, window=60, lockout=300, clock=clock)
    keys = ["address:192.0.2.1", "user:hanako"]
    for _ in range(2):
        throttle.failed(keys)
        clock.now += 10
    assert throttle.wait(keys) == 0
    throttle.failed(keys)
    assert throttle.wait(keys) == 300
    assert throttle.wait(["user:hanako"]) == 300  # the name, from any address
    assert throttle.wait(["address:192.0.2.1", "user:taro"]) == 300  # the address, any name
    assert throttle.wait(["address:192.0.2.2", "user:taro"]) == 0
    clock.now += 299.5
    assert throttle.wait(keys) == 1
    clock.now += 1
    assert throttle.wait(keys) == 0


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    throttle = SignInThrottle(limit=3, window=60, lockout=300, clock=clock)
    for _ in range(10):
        throttle.failed(["user:hanako"])
        clock.now += 31  # never three within a minute
    assert throttle.wait(["user:hanako"]) == 0
    throttle.failed(["user:hanako"])
    throttle.failed(["user:hanako"])
    assert throttle.wait(["user:hanako"]) == 300


def test_memory_is_bounded() -> None:
    throttle = SignInThrottle(limit=3, max_keys=100)
    for n in range(10_000):
        throttle.failed([f"address:10.0.{n // 256}.{n % 256}"])
    assert len(throttle) == 100
    for _ in range(3):
        throttle.failed(["user:hanako"])
    assert len(throttle) == 100 and throttle.wait(["user:hanako"]) > 0


def test_success_forgets_the_names_failures() -> None:
    throttle = SignInThrottle(limit=3)
    keys = ["address:192.0.2.1", "user:hanako"]
    throttle.failed(keys)
    throttle.failed(keys)
    throttle.succeeded(keys[1:])
    throttle.failed(["user:hanako"])
    assert throttle.wait(["user:hanako"]) == 0


def _sign_in(client: TestClient, **fields: str) -> httpx.Response:
    form = client.get("/admin/sign-in", headers={"Accept-Language": "en"})
    response: httpx.Response = client.post(
        "/admin/sign-in",
        data={"csrf": csrf_of(form.text), **fields},
        headers={"Accept-Language": "en"},
        follow_redirects=False,
    )
    return response


def test_too_many_failed_sign_ins_are_refused_for_a_while(site: TestClient) -> None:
    for n in range(LIMIT):
        response = _sign_in(site, user="hanako", password=f"wrong password {n}")
        assert response.status_code == 401
    refused = _sign_in(site, user="hanako", password=ADMIN_PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    message = WORDS["en"]["too_many_sign_ins"].format(minutes=15)
    assert message in refused.text
    # From that address, another user and a token are refused too, unchecked.
    assert _sign_in(site, user="viewer", password=ADMIN_PASSWORD).status_code == 429
    assert _sign_in(site, token="bl_anything").status_code == 429
    assert site.get("/admin/", follow_redirects=False).status_code == 303


def test_a_few_failures_then_the_right_password(site: TestClient) -> None:
    for n in range(LIMIT - 1):
        assert _sign_in(site, user="hanako", password=f"wrong {n}").status_code == 401
    assert _sign_in(site, user="hanako", password=ADMIN_PASSWORD).status_code == 303
