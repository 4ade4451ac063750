"""An outage surge: 2,000 calls in 20 s, open loop, with the database stopped halfway.

What an outage of the primary voice app looks like from here: a steady stream of diverted calls
(100 a second, each on a connection of its own, sent on schedule however the service fares),
and in the middle of it the database goes away. `backline serve` (one worker) runs on a private
PostgreSQL cluster of its own, stopped with ``pg_ctl stop -m immediate`` at 10 s (without the
server binaries: the test server at 127.0.0.1:5432 behind a TCP relay that is cut). Two
channels, a Slack one and a webhook, are loopback receivers.

Reported: answers (valid TwiML: a <Dial> for a number in the table, the apology for one that is
not), errors, latency measured from each call's scheduled start (before and after the stop),
the calls in the database once it is back and the journal replayed, and the messages each
channel received, by kind. Never asserts.

Run: python -m bench surge (BENCH_SURGE_CALLS, BENCH_SURGE_SECONDS to change its size).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.answer import (
    KNOWN_SHARE,
    PATH,
    PUBLIC_URL,
    TOKEN,
    _params,
    fill_table,
    free_port,
    known_numbers,
    unknown_number,
)
from bench.receivers import Receiver

CALLS = int(os.environ.get("BENCH_SURGE_CALLS", "2000"))
SECONDS = float(os.environ.get("BENCH_SURGE_SECONDS", "20"))
DEADLINE = 15.0  # Twilio's, for the whole fallback
# Shorter than the defaults (10 minutes quiet, 5 minutes between summaries) so that the surge's
# summaries and its closing message come within the run.
NOTIFY = {
    "BACKLINE_NOTIFY_QUIET_SECONDS": "10",
    "BACKLINE_NOTIFY_SUMMARY_SECONDS": "5",
    "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS": "1",
}


@dataclass
class Outcome:
    index: int
    known: bool
    scheduled: float
    latency: float = 0.0
    error: str = ""


@dataclass
class Surge:
    database: str
    outcomes: list[Outcome] = field(default_factory=list)
    stopped_at: float = 0.0
    recorded: int = 0
    drained_seconds: float | None = None
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


class _Database:
    """A PostgreSQL the surge may stop: a private cluster, else the test server via a relay."""

    def __init__(self) -> None:
        import pytest

        from tests.processes import PrivatePostgres, Relay

        self.cluster: PrivatePostgres | None = None
        self.relay: Relay | None = None
        try:
            self.cluster = PrivatePostgres()
            self.cluster.start()
            self.url = self.cluster.url
            self.what = "a private PostgreSQL cluster, stopped with pg_ctl stop -m immediate"
        except pytest.skip.Exception:
            url = _shared_postgres()
            if url is None:
                raise RuntimeError("no PostgreSQL: neither initdb nor a server on 5432") from None
            from tests.processes import relayed

            self.url, self.relay = relayed(url)
            self.what = "the PostgreSQL server on 127.0.0.1:5432 behind a TCP relay, cut"

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        elif self.relay is not None:
            self.relay.cut()

    def start(self) -> None:
        if self.cluster is not None:
            self.cluster.start()
        elif self.relay is not None:
            self.relay.restore()

    def remove(self) -> None:
        if self.cluster is not None:
            self.cluster.remove()
        elif self.relay is not None:
            self.relay.close()


def _shared_postgres() -> str | None:
    from bench.answer import _postgres_url

    return _postgres_url()


def _requests() -> list[tuple[bool, bytes]]:
    validator = RequestValidator(TOKEN)
    chooser = random.Random(3)
    known = known_numbers()
    out = []
    for index in range(CALLS):
        is_known = chooser.random() < KNOWN_SHARE
        to = chooser.choice(known) if is_known else unknown_number(chooser.randrange(1000))
        params = _params(f"CA2{index:031x}", to, f"+8190{chooser.randrange(10**8):08d}")
        body = urlencode(params).encode()
        signature = validator.compute_signature(PUBLIC_URL + PATH, params)
        out.append(
            (
                is_known,
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body,
            )
        )
    return out


async def _one(port: int, outcome: Outcome, request: bytes) -> None:
    try:
        async with asyncio.timeout(DEADLINE):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                response = await reader.read()
            finally:
                writer.close()
    except TimeoutError:
        outcome.error = f"no answer within {DEADLINE:g} s"
        return
    except OSError as error:
        outcome.error = f"connection: {error.strerror or error}"
        return
    finally:
        outcome.latency = time.perf_counter() - outcome.scheduled
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        outcome.error = head.split(b"\r\n", 1)[0].decode(errors="replace") or "no response"
        return
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 (our own server's answer)
    except ElementTree.ParseError:
        outcome.error = "not XML"
        return
    if outcome.known and root.find("Dial") is None:
        outcome.error = "a number in the table was not forwarded"
    elif not outcome.known and root.find("Say") is None:
        outcome.error = "an unknown number got no apology"


async def _surge(port: int, requests: list[tuple[bool, bytes]], stop: Callable[[], None]) -> Surge:
    surge = Surge("")
    loop = asyncio.get_running_loop()
    interval = SECONDS / CALLS
    started = time.perf_counter() + 0.2
    tasks = []
    stopping: asyncio.Future[None] | None = None
    for index, (known, request) in enumerate(requests):
        at = started + index * interval
        if stopping is None and index >= CALLS // 2:
            surge.stopped_at = time.perf_counter() - started
            stopping = loop.run_in_executor(None, stop)
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        outcome = Outcome(index, known, at)
        surge.outcomes.append(outcome)
        tasks.append(asyncio.create_task(_one(port, outcome, request)))
    await asyncio.gather(*tasks)
    if stopping is not None:
        await stopping
    return surge


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        return dict(json.load(response))


def _count_calls(url: str) -> int:
    from backline.store.database import Database

    database = Database(url, timeout=5)
    connection = database.connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM calls")
        return int(cursor.fetchone()[0])
    finally:
        connection.close()


def measure() -> Surge:
    from backline.manage.channels import add_channel
    from backline.manage.engine import make_engine

    database = _Database()
    scratch = Path(tempfile.mkdtemp(prefix="backline-surge-"))
    slack, webhook = Receiver(), Receiver()
    process: subprocess.Popen[bytes] | None = None
    try:
        fill_table(database.url)
        engine = make_engine(database.url)
        # The receivers listen on 127.0.0.1, where channels may only point when allowed.
        add_channel(engine, "slack", slack.url, label="ops", allow_private=True)
        add_channel(engine, "webhook", webhook.url, label="pager", allow_private=True)
        engine.dispose()
        port = free_port()
        env = {
            **os.environ,
            "BACKLINE_DATABASE_URL": database.url,
            "BACKLINE_TWILIO_AUTH_TOKEN": TOKEN,
            "BACKLINE_PUBLIC_URL": PUBLIC_URL,
            "BACKLINE_STATE_DIR": str(scratch / "state"),
            "BACKLINE_LOG_LEVEL": "ERROR",
            "BACKLINE_NOTIFY_LANGUAGE": "en",
            "BACKLINE_ALLOW_PRIVATE_CHANNELS": "1",
            **NOTIFY,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "backline.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                _health(port)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("backline serve did not start") from None
                time.sleep(0.1)
        requests = _requests()
        surge = asyncio.run(_surge(port, requests, database.stop))
        surge.database = database.what
        ended = time.monotonic()
        database.start()
        back = time.monotonic()
        while time.monotonic() - back < 180:
            if _health(port)["journal_pending"] == 0 and _count_calls(database.url) >= CALLS:
                surge.drained_seconds = time.monotonic() - back
                break
            time.sleep(0.5)
        surge.recorded = _count_calls(database.url)
        # The closing message comes once no call has come for the quiet period.
        quiet = float(NOTIFY["BACKLINE_NOTIFY_QUIET_SECONDS"])
        while time.monotonic() - ended < quiet + 30:
            if all(
                r.counts().get("closing") or r.counts().get("outage.closed")
                for r in (slack, webhook)
            ):
                break
            time.sleep(0.5)
        surge.messages = {"slack": slack.counts(), "webhook": webhook.counts()}
        return surge
    finally:
        if process is not None:
            process.terminate()
            process.wait()
        slack.close()
        webhook.close()
        database.remove()
        shutil.rmtree(scratch, ignore_errors=True)


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return 0.0, 0.0, 0.0
    ordered = sorted(values)
    return (
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        ordered[-1] * 1000,
    )


def markdown(surge: Surge) -> str:
    half = CALLS // 2
    rows = [
        "| calls | answered with valid TwiML | errors | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for label, part in (
        ("database up (first half)", surge.outcomes[:half]),
        ("database stopped (second half)", surge.outcomes[half:]),
        ("all", surge.outcomes),
    ):
        good = [o for o in part if not o.error]
        p50, p99, worst = _percentiles([o.latency for o in good])
        rows.append(
            f"| {label}: {len(part):,} | {len(good):,} | {len(part) - len(good):,} "
            f"| {p50:.1f} | {p99:.1f} | {worst:.1f} |"
        )
    errors: dict[str, int] = {}
    for outcome in surge.outcomes:
        if outcome.error:
            errors[outcome.error] = errors.get(outcome.error, 0) + 1
    lines = [
        f"{CALLS:,} calls in {SECONDS:g} s ({CALLS / SECONDS:.0f} a second, open loop, one "
        f"connection each), {KNOWN_SHARE:.0%} to numbers in the table; the database: "
        f"{surge.database}, {surge.stopped_at:.1f} s in; `backline serve`, one worker; "
        "notifications: quiet "
        f"{NOTIFY['BACKLINE_NOTIFY_QUIET_SECONDS']} s, summaries every "
        f"{NOTIFY['BACKLINE_NOTIFY_SUMMARY_SECONDS']} s, at most one message a second per channel.",
        "",
        *rows,
        "",
    ]
    if errors:
        lines += [f"- errors: {', '.join(f'{k} ({v})' for k, v in errors.items())}"]
    drained = (
        f"{surge.drained_seconds:.1f} s after the database returned"
        if surge.drained_seconds is not None
        else "not within 3 minutes"
    )
    lines += [
        f"- calls in the database once the journal was replayed: {surge.recorded:,} of "
        f"{CALLS:,} (replayed {drained})",
    ]
    for channel, counts in surge.messages.items():
        total = sum(counts.values())
        detail = ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "none"
        lines.append(f"- messages to the {channel} channel: {total} ({detail})")
    return "\n".join(lines)


def main() -> Surge:
    print(f"Outage surge: {CALLS} calls in {SECONDS:g} s, the database stopped halfway", flush=True)
    surge = measure()
    print(markdown(surge))
    return surge


if __name__ == "__main__":
    main()
