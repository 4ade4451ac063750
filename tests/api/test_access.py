"""Who may use the API: tokens, read-only tokens, revoked tokens, the surface off without any;
Twilio's paths never take admin credentials, the admin paths never take Twilio signatures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from backline.answer import FALLBACK_PATH
from backline.config import Config
from backline.manage import tokens
from backline.manage.engine import open_database as open_engine
from backline.web.app import create_app
from tests.api.conftest import problem
from tests.support import fallback_params, sign, signed_post


def test_off_without_a_token(database_url: str, make_config: Callable[..., Config]) -> None:
    with TestClient(create_app(make_config(database_url))) as client:
        assert client.get("/api/openapi.json").status_code == 404
        assert client.get("/api/numbers").status_code == 404
        assert client.get("/admin/").status_code == 404
        assert client.get("/admin/sign-in").status_code == 404


def test_a_stored_token_turns_it_on_and_only_its_hash_is_kept(
    database_url: str, make_config: Callable[..., Config]
) -> None:
    engine = open_engine(database_url)
    entry, token = tokens.create(engine, "ci")
    assert token.startswith("bl_") and len(token) > 40
    from sqlalchemy import select

    from backline.store.schema import api_tokens

    with engine.connect() as connection:
        stored = connection.execute(select(api_tokens.c.token_hash)).scalar_one()
    assert stored == tokens.token_hash(token) and token not in stored
    with TestClient(create_app(make_config(database_url))) as client:
        problem(client.get("/api/numbers"), 401)
        assert client.get("/api/numbers").headers["www-authenticate"] == "Bearer"
        problem(client.get("/api/numbers", headers={"Authorization": "Bearer bl_wrong"}), 401)
        ok = client.get("/api/numbers", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == []
        assert tokens.list_tokens(engine)[0].last_used_at is not None
        tokens.revoke(engine, "ci")
        problem(client.get("/api/numbers", headers={"Authorization": f"Bearer {token}"}), 401)
    del entry


def test_read_only_tokens_cannot_write(
    database_url: str, make_config: Callable[..., Config]
) -> None:
    engine = open_engine(database_url)
    _entry, token = tokens.create(engine, "dashboard", read_only=True)
    with TestClient(create_app(make_config(database_url))) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        assert client.get("/api/numbers").status_code == 200
        body = {"number": "+815031234567", "destinations": ["+81312345678"]}
        problem(client.post("/api/numbers", json=body), 403)
        problem(client.patch("/api/settings", json={"catch_all": "+81300000000"}), 403)
        problem(client.post("/api/clients", json={"name": "X"}), 403)
        assert client.get("/api/numbers").json() == []
        assert client.get("/api/audit").json()["items"] == []


def test_twilio_paths_take_no_admin_credentials(
    database_url: str, make_config: Callable[..., Config]
) -> None:
    admin_token = "env-admin-token-0123456789abcdef"
    with TestClient(create_app(make_config(database_url, admin_token=admin_token))) as client:
        params = fallback_params("+815031234567")
        refused = client.post(
            FALLBACK_PATH, data=params, headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert refused.status_code == 403
        body, headers = signed_post(FALLBACK_PATH, params)
        assert client.post(FALLBACK_PATH, content=body, headers=headers).status_code == 200


def test_admin_paths_take_no_twilio_signature(
    database_url: str, make_config: Callable[..., Config]
) -> None:
    from tests.support import PUBLIC_URL

    with TestClient(create_app(make_config(database_url, admin_token="x" * 32))) as client:
        params = {"number": "+815031234567"}
        signature = sign(PUBLIC_URL + "/api/numbers", params)
        problem(client.get("/api/numbers", headers={"X-Twilio-Signature": signature}), 401)


@pytest.mark.parametrize("name", ["", " ", "x" * 101])
def test_token_names_are_checked(sqlite_url: str, name: str) -> None:
    from backline.core.validation import InvalidValue

    with pytest.raises(InvalidValue):
        tokens.create(open_engine(sqlite_url), name)


def test_openapi_document_lists_every_operation(api: TestClient) -> None:
    from backline.web.api.operations import OPERATIONS

    document = api.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    for operation in OPERATIONS:
        entry = document["paths"]["/api" + operation.path][operation.method.lower()]
        assert entry["operationId"] == operation.name
