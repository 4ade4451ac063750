"""A full disk, and a SQLite file deleted or replaced under a running server.

With the disk full, calls used to be forwarded while every record was lost and /healthz said
`journal_pending: 0`; a server started on a full disk crashed and never listened. The disk here
is a real one: a small tmpfs mounted for the test, filled by writing to it until the kernel
says ENOSPC (root is needed to mount it; elsewhere these tests are skipped)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.manage.migrate import upgrade
from tests.abuse.conftest import (
    OFFICE,
    STATUS,
    TWILIO,
    run_backline,
    serve_env,
    signed_call,
    wait_for,
)
from tests.processes import Server
from tests.support import add_number, dial_params, query, signed_post


class SmallDisk:
    """A tmpfs of a few MiB that the test can fill to the last byte and empty again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self) -> None:
        descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (65536, 4096, 1):  # what a block could not take, in smaller pieces
                with contextlib.suppress(OSError):
                    while True:
                        os.write(descriptor, b"\0" * size)
        finally:
            os.close(descriptor)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    root = Path(tempfile.mkdtemp(prefix="backline-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        root.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)
        root.rmdir()


def forwarded(text: str) -> bool:
    return all(f"<Number>{number}</Number>" in text for number in OFFICE)


@pytest.mark.slow
def test_serve_starts_and_answers_on_a_full_disk_and_records_every_call_once_there_is_room(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    (small_disk.root / "db").mkdir()
    url = f"sqlite:///{small_disk.root}/db/backline.db"
    upgrade(url)
    add_number(url, TWILIO, OFFICE)
    state = small_disk.root / "state"
    # A first run leaves its copy of the table in the state directory, as a real one would.
    Server(serve_env(url, state), tmp_path).stop()

    small_disk.fill()
    server = Server(serve_env(url, state), tmp_path)
    try:
        sids = []
        for _ in range(3):
            call, status, text = signed_call(server)
            assert status == 200 and forwarded(text), text
            sids.append(call["CallSid"])
        health = server.health()
        assert health["status"] == "degraded"
        assert health["unrecorded"] > 0
        assert health["unrecorded"] + health["journal_pending"] == 3

        small_disk.free()
        wait_for(
            lambda: (h := server.health())["unrecorded"] == 0 and h["journal_pending"] == 0,
            what="the held calls to be recorded",
        )
        assert sorted(row[0] for row in query(url, "SELECT call_sid FROM calls")) == sorted(sids)
        assert server.health()["lost"] == 0
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text()


@pytest.mark.slow
def test_a_disk_that_fills_while_serving_loses_no_call_and_keeps_their_order(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    (small_disk.root / "db").mkdir()
    url = f"sqlite:///{small_disk.root}/db/backline.db"
    upgrade(url)
    add_number(url, TWILIO, OFFICE)
    server = Server(serve_env(url, small_disk.root / "state"), tmp_path)
    try:
        _call, status, _text = signed_call(server)
        assert status == 200
        small_disk.fill()
        call, status, text = signed_call(server)
        assert status == 200 and forwarded(text)
        # The leg comes after its call: replayed in the wrong order, the outcome would be lost.
        path = f"{STATUS}?step=0"
        status, text = server.post(path, *signed_post(path, dial_params(call, "completed", 42)))
        assert status == 200 and "<Hangup" in text
        health = server.health()
        assert health["status"] == "degraded"
        assert health["unrecorded"] + health["journal_pending"] == 2

        small_disk.free()
        wait_for(
            lambda: (h := server.health())["unrecorded"] == 0 and h["journal_pending"] == 0,
            what="the held calls to be recorded",
        )
        rows = query(
            url, "SELECT outcome, duration FROM calls WHERE call_sid = :sid", sid=call["CallSid"]
        )
        assert rows == [("answered", 42)]
    finally:
        server.stop()


@pytest.mark.slow
def test_a_replaced_database_file_is_reopened(sqlite_url: str, tmp_path: Path) -> None:
    add_number(sqlite_url, TWILIO, OFFICE)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    server = Server(serve_env(sqlite_url, tmp_path / "state"), tmp_path)
    try:
        _first, status, _ = signed_call(server)
        assert status == 200
        # A restored backup moved into place, as `mv` does it: a new file under the same name.
        replacement = tmp_path / "restored.db"
        upgrade(f"sqlite:///{replacement}")
        add_number(f"sqlite:///{replacement}", TWILIO, OFFICE)
        os.replace(replacement, path)
        second, status, _ = signed_call(server)
        assert status == 200
        assert query(sqlite_url, "SELECT call_sid FROM calls") == [(second["CallSid"],)]
    finally:
        server.stop()
    assert "was replaced" in server.log.read_text()


@pytest.mark.slow
def test_a_deleted_database_file_is_reported_and_its_calls_wait_for_a_new_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "db").mkdir()
    url = f"sqlite:///{tmp_path}/db/backline.db"
    upgrade(url)
    add_number(url, TWILIO, OFFICE)
    env = serve_env(url, tmp_path / "state")
    server = Server(env, tmp_path)
    try:
        signed_call(server)
        for leftover in (tmp_path / "db").iterdir():  # rm backline.db*
            leftover.unlink()
        call, status, text = signed_call(server)
        assert status == 200 and forwarded(text)  # still answered, from memory
        health = server.health()
        assert health["database"] == "down"
        assert health["database_error"] == "DatabaseFileGone"
        assert health["journal_pending"] == 1
        assert not (tmp_path / "db" / "backline.db").exists()  # not silently recreated

        upgraded = run_backline(env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        wait_for(lambda: server.health()["journal_pending"] == 0, what="the replay")
        assert query(url, "SELECT call_sid FROM calls") == [(call["CallSid"],)]
    finally:
        server.stop()
