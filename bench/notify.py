"""Notification benchmark: time to know, and what a burst of calls turns into.

* time to know: a diverted call is answered through the real app (Starlette, recorder,
  SQLite) with the dispatcher running in-process as in ``backline serve``; measured from the
  moment the answer is back to the moment a loopback Slack stand-in receives the POST.
* burst: 200 calls answered back to back; how many messages reached the channel (first call,
  summaries, the closing one) with the default grouping rules on short thresholds.

Prints figures; asserts nothing about them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.receivers import Receiver

TIME_TO_KNOW_CALLS = 40
BURST_CALLS = 200


def _service(root: Path, slack: Receiver, **settings: Any) -> Any:
    from backline.config import Config
    from backline.manage.channels import add_channel
    from backline.manage.engine import make_engine
    from backline.manage.migrate import upgrade
    from backline.service import Service

    url = f"sqlite:///{root}/backline.db"
    upgrade(url)
    engine = make_engine(url)
    # The stand-in listens on 127.0.0.1, where channels may only point when allowed.
    add_channel(engine, "slack", slack.url, allow_private=True)
    engine.dispose()
    config = Config(
        database_url=url,
        state_dir=root / "state",
        insecure_demo=True,
        notify_language="en",
        notify_poll_seconds=1.0,
        allow_private_channels=True,
        **settings,
    )
    service = Service(config)
    service.start()
    return service


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def time_to_know() -> list[float]:
    from starlette.testclient import TestClient

    from backline.web.app import create_app

    slack = Receiver()
    with tempfile.TemporaryDirectory() as directory:
        # Quiet period 0: every call is "the first after a quiet period", told at once.
        service = _service(
            Path(directory), slack, notify_quiet_seconds=0.0, notify_min_interval_seconds=0.0
        )
        client = TestClient(create_app(service=service))
        delays = []
        try:
            for index in range(TIME_TO_KNOW_CALLS):
                slack.event.clear()
                seen = len(slack.times)
                client.post(
                    "/twilio/voice/fallback",
                    data={
                        "CallSid": f"CAttk{index:04d}",
                        "To": "+81312345678",
                        "From": "+819011112222",
                        "ErrorCode": "11205",
                    },
                )
                answered = time.perf_counter()
                deadline = answered + 10
                while len(slack.times) == seen and time.perf_counter() < deadline:
                    slack.event.wait(0.5)
                if len(slack.times) > seen:
                    delays.append(slack.times[seen] - answered)
                time.sleep(0.02)
        finally:
            service.stop()
            slack.close()
    return delays


def burst() -> tuple[int, list[str], float]:
    from starlette.testclient import TestClient

    from backline.web.app import create_app

    slack = Receiver()
    with tempfile.TemporaryDirectory() as directory:
        service = _service(
            Path(directory),
            slack,
            notify_quiet_seconds=2.0,
            notify_summary_seconds=1.0,
            notify_min_interval_seconds=1.0,
        )
        client = TestClient(create_app(service=service))
        started = time.perf_counter()
        try:
            for index in range(BURST_CALLS):
                client.post(
                    "/twilio/voice/fallback",
                    data={
                        "CallSid": f"CAburst{index:04d}",
                        "To": f"+8131234567{index % 4}",
                        "From": "+819011112222",
                        "ErrorCode": "12100",
                    },
                )
            answered = time.perf_counter() - started
            deadline = time.perf_counter() + 20
            while "closing" not in slack.kinds and time.perf_counter() < deadline:
                time.sleep(0.1)
        finally:
            service.stop()
            slack.close()
    return BURST_CALLS, slack.kinds, answered


def main() -> None:
    import logging

    logging.getLogger("backline").setLevel(logging.ERROR)  # the demo-mode warning, twice
    print("notify: time to know (call answered -> first Slack POST on loopback), SQLite")
    delays = time_to_know()
    if delays:
        print(f"  {'calls':>8} {'p50 ms':>10} {'p99 ms':>10} {'max ms':>10}")
        print(
            f"  {len(delays):>8} {_percentile(delays, 0.5) * 1000:>10.1f} "
            f"{_percentile(delays, 0.99) * 1000:>10.1f} {max(delays) * 1000:>10.1f}"
        )
    else:
        print("  no message arrived")
    calls, kinds, answered = burst()
    counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    print(
        f"notify: burst of {calls} calls answered in {answered:.2f} s "
        f"(quiet 2 s, summaries every 1 s, 1 message/s per channel)"
    )
    print(f"  {'calls':>8} {'messages':>10}  by kind")
    print(
        f"  {calls:>8} {len(kinds):>10}  "
        + ", ".join(f"{kind} {count}" for kind, count in counts.items())
    )


if __name__ == "__main__":
    main()
