"""Shared fixtures: a real database of each kind, signed Twilio requests, a fresh config.

``database_url`` runs a test once on SQLite and once on the PostgreSQL server at 127.0.0.1:5432
(``BACKLINE_TEST_POSTGRES_URL`` overrides it). Without a server the PostgreSQL half is skipped,
unless ``BACKLINE_TEST_REQUIRE_POSTGRES=1`` (set by CI) turns that into a failure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from backline.config import Config
from backline.manage.migrate import upgrade
from backline.web.app import create_app
from tests.standins import StandIn
from tests.support import AUTH_TOKEN, POSTGRES_ADMIN_URL, PUBLIC_URL, empty_postgres

# Tests never assert times: on a loaded machine (CI, or tests in parallel) an example may take
# longer than Hypothesis's default 200 ms deadline without anything being wrong.
settings.register_profile("backline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("backline")

# One database per test run, so that two runs on one server (a developer's and CI's, or two
# terminals) never empty each other's tables.
TEST_DATABASE = f"backline_test_{os.getpid()}"

# The stand-ins for Slack, webhooks and Twilio listen on 127.0.0.1, where channels may not point
# in production (backline/core/addresses.py). Set for the whole run, so that the CLI in-process
# and every backline process a test starts (which inherit the environment) accept them; a test
# of the refusal removes it.
os.environ["BACKLINE_ALLOW_PRIVATE_CHANNELS"] = "1"


@pytest.fixture(autouse=True, scope="session")
def _private_default_state_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Nothing a test runs keeps files in the user's real default state directory (commands
    run in child processes inherit this too)."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))


def _environment() -> dict[str, str]:
    # pytest names the running test and phase in PYTEST_CURRENT_TEST.
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


def _root_logging() -> tuple[int, list[logging.Handler]]:
    root = logging.getLogger()
    # pytest's own capture handlers come and go with each phase of a test.
    ours = [h for h in root.handlers if not type(h).__module__.startswith("_pytest")]
    return root.level, ours


@pytest.fixture(autouse=True)
def _no_process_state_left_behind() -> Iterator[None]:
    """Tests run in any order, and spread over processes: a test that leaves the process's
    logging or environment changed (a command run in-process that configures logging, say)
    would change what later tests see. Such a test fails here, and the state is put back."""
    level, handlers = _root_logging()
    environ = _environment()
    yield
    left = []
    if _root_logging() != (level, handlers):
        left.append(f"the root logger: {_root_logging()} instead of {(level, handlers)}")
        root = logging.getLogger()
        root.setLevel(level)
        root.handlers[:] = [
            *handlers,
            *(h for h in root.handlers if type(h).__module__.startswith("_pytest")),
        ]
    if _environment() != environ:
        changed = set(_environment().items()) ^ set(environ.items())
        left.append(f"the environment: {sorted({name for name, _ in changed})}")
        for name in set(_environment()) - set(environ):
            del os.environ[name]
        os.environ.update(environ)
    assert not left, "the test left process state changed: " + "; ".join(left)


def _postgres_url() -> str | None:
    """Create the test database once; return its URL, or None when no server answers."""
    import psycopg2

    try:
        admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError:
        return None
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEST_DATABASE,))
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE DATABASE {TEST_DATABASE}")
    admin.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"postgresql+psycopg2://{base.split('://', 1)[1]}/{TEST_DATABASE}"


def _drop_test_database() -> None:
    import psycopg2

    admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)")
    admin.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = _postgres_url()
    if url is None:
        if os.environ.get("BACKLINE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but {POSTGRES_ADMIN_URL} does not answer")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL}")
    upgrade(url)
    yield url
    _drop_test_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/backline.db"
        upgrade(url)
        yield url
    else:
        url = request.getfixturevalue("postgres_url")
        empty_postgres(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database, for tests about behaviour that does not depend on the kind."""
    url = f"sqlite:///{tmp_path}/backline.db"
    upgrade(url)
    return url


@pytest.fixture
def make_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    def build(database_url: str, **changes: object) -> Config:
        base = Config(
            database_url=database_url,
            twilio_auth_token=AUTH_TOKEN,
            public_url=PUBLIC_URL,
            state_dir=tmp_path / "state",
            snapshot_refresh_seconds=0.2,
            db_timeout_seconds=1.0,
            allow_private_channels=True,
        )
        return base.with_overrides(**changes)

    return build


@pytest.fixture
def client_for(make_config: Callable[..., Config]) -> Iterator[Callable[..., TestClient]]:
    """Start the real app (lifespan included) on a config; the Host header is deliberately
    not the public one, as behind a proxy."""
    started: list[TestClient] = []

    def start(database_url: str, **changes: object) -> TestClient:
        client = TestClient(
            create_app(make_config(database_url, **changes)), base_url="http://10.0.0.7:8000"
        )
        client.__enter__()
        started.append(client)
        return client

    yield start
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def stand_in_factory() -> Iterator[Callable[[], StandIn]]:
    servers: list[StandIn] = []

    def make() -> StandIn:
        servers.append(StandIn())
        return servers[-1]

    yield make
    for server in servers:
        server.close()
