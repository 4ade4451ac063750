from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from backline.config import Config
from backline.web.app import create_app

ADMIN_TOKEN = "env-admin-token-0123456789abcdef"


@pytest.fixture
def api(database_url: str, make_config: Callable[..., Config]) -> Iterator[TestClient]:
    """The whole app (Twilio's paths and the admin surface), BACKLINE_ADMIN_TOKEN set, with a
    client that sends that token."""
    config = make_config(database_url, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(config), base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A webhook receiver on 127.0.0.1 (the notification tests' stand-in)."""
    from tests.standins import StandIn

    server = StandIn()
    server.bodies = server.received  # type: ignore[attr-defined]
    yield server
    server.close()


@pytest.fixture
def signed_fallback() -> Callable[..., Any]:
    """POST a fallback request to the app as Twilio would, signed."""
    from backline.answer import FALLBACK_PATH
    from tests.support import fallback_params, signed_post

    def send(client: TestClient, call_sid: str, to: str) -> Any:
        body, headers = signed_post(FALLBACK_PATH, fallback_params(to, call_sid=call_sid))
        return client.post(FALLBACK_PATH, content=body, headers=headers)

    return send
