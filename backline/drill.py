"""`backline drill`: prove every number's fallback against the live service, on demand.

For each number of the table (or each one named), a fallback request signed as Twilio signs it
is sent to the running service with a drill CallSid (see :func:`backline.core.models.is_drill`):
answered exactly like a call, recorded nowhere, told to nobody. The drill then walks the
forwarding as Twilio would if nobody answered (one dial-outcome request per ``<Dial>``) and
holds each answer against the route the table holds (:mod:`backline.core.drill`). Then, unless
told not to, each notification channel gets one message saying how the drill went: that is
its reachability check, and never an outage message.

The table and the channels are read the way the service reads them (plain DB-API); the result
is written to the ``drills`` table, from where the service shows it in ``/healthz``.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, assert_never
from urllib.parse import urlsplit, urlunsplit

from backline.answer import FALLBACK_PATH
from backline.config import Config
from backline.core.drill import (
    DRILL_CALLER,
    ChannelResult,
    DrillReport,
    Expectation,
    ExpectedDial,
    ExpectedSay,
    NumberResult,
    check,
    drill_call_sid,
    expect,
    read_answer,
)
from backline.core.models import Defaults, Route
from backline.simulate import SignedSender
from backline.store.calls import load_table
from backline.store.database import Database, utc_now
from backline.store.snapshot import load_channels

__all__ = ["DrillError", "run_drill", "save_report"]

# Twilio gives the fallback 15 s in all; an answer slower than that is a failed call.
TWILIO_DEADLINE_SECONDS = 15.0
_WORKERS = 8
_HEALTH_TIMEOUT_SECONDS = 5.0


class DrillError(Exception):
    """The drill cannot run at all; the message says why, fit to show a person."""


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")


def _shown_url(url: str) -> str:
    """A URL as it may be stored and shown: without credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _read_table(
    config: Config,
) -> tuple[dict[str, Route], Defaults, tuple[dict[str, Any], ...]]:
    database = Database(config.database_url, timeout=max(config.db_timeout_seconds, 5.0))
    try:
        connection = database.connect()
        try:
            routes, defaults = load_table(database, connection)
            channels = load_channels(connection)
        finally:
            connection.close()
    except Exception as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DrillError(f"cannot read the table of numbers: {reason}") from None
    if not defaults.catch_all and config.last_resort_forward_to:
        # The service answers unknown numbers this way too (see SnapshotKeeper.refresh).
        defaults = Defaults(
            defaults.message,
            defaults.language,
            defaults.voice,
            config.last_resort_forward_to,
            defaults.ring_timeout,
        )
    return routes, defaults, channels


def _fallback_params(number: str, call_sid: str, account_sid: str) -> dict[str, str]:
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": number,
        "Caller": DRILL_CALLER,
        "Direction": "inbound",
        "ErrorCode": "11200",
        "From": DRILL_CALLER,
        "To": number,
    }


def drill_number(
    sender: SignedSender, expectation: Expectation, call_sid: str, account_sid: str
) -> NumberResult:
    """Walk one number: the fallback request, then one no-answer per dial, checking each."""
    params = _fallback_params(expectation.number, call_sid, account_sid)
    target = FALLBACK_PATH
    problems: list[str] = []
    slowest = 0.0
    requests = 0
    for index, step in enumerate(expectation.steps):
        where = "" if index == 0 else f"after no answer on dial {index}: "
        started = time.monotonic()
        try:
            status, body = sender.post(target, params)
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError) or isinstance(error, TimeoutError):
                problems.append(
                    f"{where}no answer within {TWILIO_DEADLINE_SECONDS:g} s (Twilio gives up)"
                )
            else:
                problems.append(f"{where}cannot reach {sender.base_url}: {reason}")
            break
        finally:
            requests += 1
            slowest = max(slowest, time.monotonic() - started)
        observed = read_answer(status, body)
        if isinstance(observed, str):
            problems.append(where + observed)
            break
        found = check(step, observed)
        if found:
            problems.extend(where + problem for problem in found)
            break
        match step:
            case ExpectedSay():
                pass  # the last answer: nothing more to request
            case ExpectedDial():
                assert observed.dial is not None  # check() found a <Dial>
                action = observed.dial.action
                if not action.startswith(sender.public_url + "/"):
                    problems.append(
                        f"{where}the dial-outcome URL {_shown_url(action)} is not under "
                        f"{sender.public_url} (the service's BACKLINE_PUBLIC_URL differs)"
                    )
                    break
                target = action
                params = dict(
                    params,
                    CallStatus="in-progress",
                    DialCallStatus="no-answer",
                    DialCallSid=f"{call_sid}-{index}"[:64],
                    DialCallDuration="0",
                    DialBridged="false",
                )
            case _:
                assert_never(step)
    return NumberResult(
        number=expectation.number,
        client=expectation.client,
        kind=expectation.kind,
        expected=expectation.describe(),
        problems=tuple(problems),
        requests=requests,
        slowest_ms=slowest * 1000,
    )


def _service_health(base_url: str) -> dict[str, Any] | None:
    """The service's /healthz, when it shows one (informative: not part of the verdict)."""
    try:
        with urllib.request.urlopen(  # noqa: S310 (base_url is checked to be http(s))
            base_url.rstrip("/") + "/healthz", timeout=_HEALTH_TIMEOUT_SECONDS
        ) as response:
            value = json.loads(response.read(65536))
    except Exception:
        return None
    return value if isinstance(value, dict) else None


def _tell_channels(
    config: Config,
    channels: Sequence[Mapping[str, Any]],
    results: Sequence[NumberResult],
    stamp: str,
    at: str,
) -> list[ChannelResult]:
    """Send each channel the drill's result, as its reachability check."""
    from zoneinfo import ZoneInfo

    from backline.core.messages import drill_message
    from backline.notify.channels import ChannelSpec, DeliveryError, describe
    from backline.notify.channels.kinds import transport_for

    zone = ZoneInfo(config.timezone)
    language = config.notify_language
    outcomes = []
    for value in channels:
        spec = ChannelSpec.from_json(value)
        # A client's channel hears of its own client's numbers only, like its call messages.
        scope = [r for r in results if spec.client is None or r.client == spec.client]
        failing = [(r.number, r.problems[0]) for r in scope if not r.ok]
        message = drill_message(len(scope), failing, zone, language, at=at)
        try:
            receipt = transport_for(spec, config).send(message, f"drill:{stamp}@{spec.id}")
        except DeliveryError as error:
            kind = "permanent" if error.permanent else "temporary"
            outcomes.append(
                ChannelResult(spec.id, describe(spec), spec.client, False, f"{kind}: {error}")
            )
            continue
        except Exception as error:  # a transport's own bug must not hide the other channels
            outcomes.append(
                ChannelResult(
                    spec.id, describe(spec), spec.client, False, f"{type(error).__name__}: {error}"
                )
            )
            continue
        detail = receipt
        if spec.failing:
            detail += " (it was marked failing; it is back in use)"
        outcomes.append(ChannelResult(spec.id, describe(spec), spec.client, True, detail))
    return outcomes


def run_drill(
    config: Config,
    *,
    url: str | None = None,
    numbers: Sequence[str] = (),
    notify: bool = True,
    progress: Callable[[NumberResult], None] | None = None,
) -> DrillReport:
    """Drill the service at ``url`` (default: BACKLINE_PUBLIC_URL); raises :class:`DrillError`
    when it cannot start (no token, no URL, no table)."""
    # With several tokens (subaccounts, a rotation) the service accepts any of them; the drill
    # signs with the first, as Twilio's account would.
    if not config.rest_auth_token:
        raise DrillError(
            "cannot sign drill requests: set BACKLINE_TWILIO_AUTH_TOKEN to the token the "
            "service checks signatures with"
        )
    base_url = (url or config.public_url).rstrip("/")
    if not base_url:
        raise DrillError("no service to drill: give --url or set BACKLINE_PUBLIC_URL")
    public_url = config.public_url or base_url
    routes, defaults, channels = _read_table(config)
    chosen = list(dict.fromkeys(numbers)) if numbers else sorted(routes)
    if not chosen:
        raise DrillError(
            "the table has no numbers to drill: add one with `backline numbers add`, "
            "or name one with --number"
        )
    started = time.time()
    started_at = utc_now(started)
    stamp = _stamp(started)
    account_sid = config.twilio_account_sid or "AC" + "0" * 32
    sender = SignedSender(
        config.rest_auth_token,
        public_url,
        base_url,
        timeout=TWILIO_DEADLINE_SECONDS,
        user_agent="TwilioProxy/1.1 (backline drill)",
    )

    def one(number: str) -> NumberResult:
        expectation = expect(number, routes.get(number), defaults, now=time.time())
        sid = drill_call_sid(stamp, secrets.token_hex(6))
        result = drill_number(sender, expectation, sid, account_sid)
        if progress is not None:
            progress(result)
        return result

    with ThreadPoolExecutor(min(_WORKERS, len(chosen)), thread_name_prefix="drill") as pool:
        results = tuple(pool.map(one, chosen))
    service = _service_health(base_url)
    told: list[ChannelResult] = []
    if notify and channels:
        told = _tell_channels(config, channels, results, stamp, utc_now())
    return DrillReport(
        started_at=started_at,
        finished_at=utc_now(),
        url=_shown_url(base_url),
        numbers=results,
        channels=tuple(told),
        notified=notify,
        service=service,
    )


def save_report(database_url: str, report: DrillReport) -> None:
    """Keep the result where the service reads it (``/healthz``), and each channel's result
    where `backline channels list` shows it. Raises :class:`DrillError` if it cannot.

    Plain DB-API, like the service: the drill also runs on Lambda, whose package holds no ORM.
    """
    from backline.notify.outbox import Outbox

    database = Database(database_url, timeout=5.0)
    try:
        connection = database.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(
                database.sql(
                    "INSERT INTO drills (started_at, finished_at, url, ok, numbers, channels, "
                    "failures, report) VALUES (:started_at, :finished_at, :url, :ok, :numbers, "
                    ":channels, :failures, :report)"
                ),
                {
                    "started_at": report.started_at,
                    "finished_at": report.finished_at,
                    "url": report.url,
                    "ok": report.ok,
                    "numbers": len(report.numbers),
                    "channels": len(report.channels),
                    "failures": json.dumps(report.failures(), ensure_ascii=False),
                    "report": json.dumps(report.to_json(), ensure_ascii=False),
                },
            )
            connection.commit()
        finally:
            connection.close()
        outbox = Outbox(database)
        try:
            for channel in report.channels:
                outbox.record_check(
                    channel.id, ok=channel.ok, result=channel.detail, now=report.finished_at
                )
        finally:
            outbox.close()
    except Exception as error:
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        if "drills" in reason:
            reason += " (run `backline db upgrade`)"
        raise DrillError(f"could not keep the drill's result: {reason}") from None
