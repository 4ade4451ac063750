"""The fault suite's fixtures; the harness (calls, checks) is in tests/faults/harness.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import SmallDisk
from tests.processes import PrivatePostgres, Server


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `backline serve` processes; each is stopped at the end of the test."""
    started: list[Server] = []

    def start(env: dict[str, str]) -> Server:
        started.append(Server(env, tmp_path))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the test's own, migrated, that it may stop and start."""
    from backline.manage.migrate import upgrade

    cluster = PrivatePostgres()
    cluster.start()
    upgrade(cluster.url)
    yield cluster
    cluster.remove()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk")
    yield disk
    disk.remove()
