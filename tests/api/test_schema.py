"""Schemathesis against the live OpenAPI document: `backline serve` in a child process, every
operation fed generated requests (valid and not); no answer may be a 5xx or break the document.

Channel creation and "send test" are left out of the generated run: a generated target could be
a host on the internet (both are covered in test_api.py against a receiver on 127.0.0.1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from backline.manage.engine import open_database as open_engine
from backline.manage.numbers import add_number
from backline.manage.settings import set_setting
from backline.web.api.operations import OPERATIONS
from tests.processes import Server
from tests.support import AUTH_TOKEN, PUBLIC_URL

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "schemathesis-admin-token-0123456789"
LEFT_OUT = ("channels.create", "channels.test")


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from backline.manage.migrate import upgrade

    root = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{root}/backline.db"
    upgrade(url)
    engine = open_engine(url)
    add_number(engine, "+815031234567", ["+81312345678"], client="Sakura Dental", new_client=True)
    set_setting(engine, "catch_all", "+81300000000")
    engine.dispose()
    env = {
        "BACKLINE_DATABASE_URL": url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(root / "state"),
        "BACKLINE_ADMIN_TOKEN": ADMIN_TOKEN,
        "BACKLINE_LOG_LEVEL": "WARNING",
    }
    server = Server(env, root)
    try:
        yield server.base
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(live_api: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{live_api}/api/openapi.json")
    schema.config.update(base_url=live_api)
    return schema


CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
@pytest.mark.parametrize("operation_id", [op.name for op in OPERATIONS if op.name not in LEFT_OUT])
def test_no_server_error_and_no_schema_violation(
    api_schema: Any, operation_id: str, mode: schemathesis.GenerationMode
) -> None:
    (operation,) = [
        result.ok()
        for result in api_schema.get_all_operations()
        if result.ok().definition.raw.get("operationId") == operation_id
    ]

    @settings(
        max_examples=int(os.environ.get("BACKLINE_TEST_SCHEMATHESIS_EXAMPLES", "20")),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def generated(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, checks=CHECKS, timeout=15
        )

    generated()


def test_the_document_is_served(live_api: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{live_api}/api/openapi.json", timeout=5) as response:
        assert json.load(response)["openapi"] == "3.1.0"
