"""Real processes: `backline worker` killed with SIGKILL and restarted; three workers sharing
one PostgreSQL database over a thousand deliveries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from tests.standins import StandIn
from tests.support import call_record, record, wait_for

BACKLINE = [sys.executable, "-c", "from backline.cli import main; main()"]


def worker_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    env.update(
        {
            "BACKLINE_DATABASE_URL": database_url,
            "BACKLINE_STATE_DIR": str(tmp_path / "state"),
            "BACKLINE_NOTIFY_LANGUAGE": "en",
            "BACKLINE_NOTIFY_QUIET_SECONDS": "0",
            "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS": "0",
            "BACKLINE_NOTIFY_POLL_SECONDS": "0.05",
            "BACKLINE_NOTIFY_RETRY_BASE_SECONDS": "0.2",
            "BACKLINE_NOTIFY_RETRY_MAX_SECONDS": "0.5",
            "BACKLINE_NOTIFY_SEND_TIMEOUT_SECONDS": "2",
            "BACKLINE_LOG_LEVEL": "WARNING",
            "BACKLINE_ALLOW_PRIVATE_CHANNELS": "1",  # the stand-in listens on 127.0.0.1
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def start_worker(
    started: list[subprocess.Popen[bytes]], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [*BACKLINE, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started.append(process)
    return process


def test_pending_notifications_survive_kill_9_and_are_sent_once(
    database_url: str,
    stand_in: StandIn,
    tmp_path: Path,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    engine = make_engine(database_url)
    add_channel(engine, "slack", stand_in.url, allow_private=True)
    engine.dispose()
    stand_in.default = (500, {}, "down for maintenance")
    env = worker_env(database_url, tmp_path)
    first = start_worker(workers, env)
    record(database_url, *[call_record(f"CAkill{i}", to=f"+8131234567{i}") for i in range(3)])
    wait_for(lambda: len(stand_in.received) >= 2, what="the worker trying and failing")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert stand_in.accepted() == []
    stand_in.default = (200, {}, "ok")
    start_worker(workers, env)
    # If the kill fell inside a send, that channel waits for its lease (3 x 2 s + 5 s) to lapse.
    wait_for(lambda: len(stand_in.accepted()) == 3, timeout=40, what="all three after restart")
    # Give a duplicate every chance to appear before counting.
    record(database_url, call_record("CAafter", to="+81399999999"))
    wait_for(lambda: len(stand_in.accepted()) == 4, what="a later call, sent after them")
    numbers = Counter(
        item.json()["blocks"][1]["fields"][0]["text"].split()[-1] for item in stand_in.accepted()
    )
    assert numbers == {"+81312345670": 1, "+81312345671": 1, "+81312345672": 1, "+81399999999": 1}


@pytest.mark.slow
@pytest.mark.postgres_only
def test_three_workers_on_postgresql_deliver_a_thousand_notifications_once_each(
    postgres_url: str,
    stand_in: StandIn,
    tmp_path: Path,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
    engine = make_engine(postgres_url)
    for index in range(20):
        add_channel(
            engine, "webhook", f"{stand_in.url}/channel/{index}", secret="s", allow_private=True
        )
    engine.dispose()
    env = worker_env(postgres_url, tmp_path, BACKLINE_NOTIFY_WORKERS="4")
    for _ in range(3):
        start_worker(workers, env)
    for batch in range(5):
        record(postgres_url, *[call_record(f"CAmany{batch}x{i:02d}") for i in range(10)])
    wait_for(lambda: len(stand_in.accepted()) >= 1000, timeout=90, what="1,000 deliveries")
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process in workers:
        process.wait(timeout=30)
    ids = Counter(item.headers["x-backline-delivery"] for item in stand_in.received)
    assert len(ids) == 1000
    assert set(ids.values()) == {1}
    per_channel = Counter(item.path for item in stand_in.received)
    assert set(per_channel.values()) == {50}
