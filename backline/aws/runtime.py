"""What one Lambda instance keeps between events: configuration, the service, the kick.

Built on the first event (not at import, so a failure is answered, not crashed on) and kept
while the instance is warm. There are no threads of our own between events: Lambda freezes the
instance then. The table of numbers is refreshed at the start of an event when it is older than
BACKLINE_SNAPSHOT_REFRESH_SECONDS, and the journal is replayed by the recorder itself on the
next write once the database answers again.

Every wait here is bounded by the event's :class:`~backline.aws.deadline.Deadline`: reading the
secrets and loading the table on a cold start run in helper threads, and an event waits for
them only as long as its deadline allows (see docs/deploy.md, "One deadline").
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backline.aws.awsapi import AwsClient
from backline.aws.deadline import Background, Deadline, remaining_seconds
from backline.aws.invoke import DispatcherKick
from backline.aws.secrets import reread, resolve
from backline.config import Config, answer_deadline, auth_tokens
from backline.core.redact import mask_password
from backline.service import Service
from backline.store.snapshot import SnapshotKeeper

__all__ = ["LAMBDA_STATE_DIR", "ConfiguredHandler", "Runtime", "load_config", "remaining_seconds"]

log = logging.getLogger("backline.aws")

# The only writable place in a Lambda instance; lost when the instance is reclaimed.
LAMBDA_STATE_DIR = "/tmp/backline"  # noqa: S108
_BOOT_RETRY_SECONDS = 1.0
_REFRESH_RETRY_SECONDS = 5.0
_KICK_BUDGET_SECONDS = 1.0
# A refused signature may mean the auth token was rotated in its secret after this instance
# started: read the secret again, but at most this often (forged requests cost no more), and
# within this budget.
_TOKEN_REREAD_SECONDS = 60.0
_TOKEN_REREAD_BUDGET_SECONDS = 2.0
_TOKEN_VARIABLES = ("BACKLINE_TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN")
# Kept back from every wait for what follows it: building and returning the answer.
ANSWER_RESERVE_SECONDS = 0.15
# Written by scripts/build-lambda next to the packages: what the package was built for.
_BUILD_MANIFEST = Path(__file__).resolve().parents[2] / "backline-build.json"
_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}


def load_config(
    env: Mapping[str, str], aws: AwsClient | None = None
) -> tuple[Config, dict[str, str]]:
    """Read secrets (once) and the configuration; return it with the resolved environment."""
    resolved = resolve(env, aws)
    if not resolved.get("BACKLINE_STATE_DIR") and resolved.get("AWS_LAMBDA_FUNCTION_NAME"):
        resolved["BACKLINE_STATE_DIR"] = LAMBDA_STATE_DIR
    # On Lambda the dispatcher is a function of its own, woken by an Invoke: no in-process
    # dispatcher (its threads would be frozen between events, and its imports would slow the
    # answer's cold start).
    config = Config.from_env(resolved).with_overrides(notify_in_serve=False)
    logging.getLogger("backline").setLevel(config.log_level)
    return config, resolved


class ConfiguredHandler:
    """The base of a scheduled function's handler (the dispatcher, the drill): its configuration
    is read from ``env`` (the process environment by default) on first use, once per instance;
    tests give a ``config`` directly."""

    def __init__(
        self, env: Mapping[str, str] | None = None, *, config: Config | None = None
    ) -> None:
        self.env = env
        self._config = config

    def config(self) -> Config:
        if self._config is None:
            self._config, _env = load_config(os.environ if self.env is None else self.env)
        return self._config


def build_mismatch(manifest: Path = _BUILD_MANIFEST) -> str | None:
    """Why this package cannot run here (built for another Python or architecture), or None."""
    try:
        built = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not a built package (tests, a server): nothing to compare
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    machine = os.uname().machine  # platform.machine(), without importing platform
    wanted_machine = _MACHINES.get(str(built.get("architecture")), "?")
    if built.get("python") == running and wanted_machine == machine:
        return None
    return (
        f"this package was built for python{built.get('python')} on "
        f"{built.get('architecture')} but runs on python{running} on {machine}: build it with "
        f"make lambda-package LAMBDA_PYTHON_VERSION=... LAMBDA_ARCH=... matching the "
        f"template's PythonVersion and Architecture"
    )


class Runtime:
    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        config: Config | None = None,
        aws: AwsClient | None = None,
    ) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.aws = aws
        self._config = config
        self.service: Service | None = None
        self.kicker: DispatcherKick | None = None
        self.boot_error: str | None = None
        self._boot_after = 0.0
        self._refresh_after = 0.0
        self._token_reread_after = 0.0
        self._loading: Background[tuple[Config, dict[str, str]]] | None = None
        self._refreshing: Background[bool] | None = None
        # Set while a bounded wait on the database has just run out: records then go to the
        # journal at once instead of waiting out the deadline a second time in the same event.
        self.database_stalled = False
        try:
            self.cap = (
                config.answer_deadline_seconds if config is not None else answer_deadline(self.env)
            )
        except ValueError as error:  # a typo must not stop the answers: the default, and why
            log.error("%s; answering within the default 2.5 s", error)
            self.cap = 2.5
        self.mismatch = build_mismatch()
        if self.mismatch:
            log.critical("%s", self.mismatch)

    def deadline(self, context: Any) -> Deadline:
        return Deadline.for_event(context, self.cap)

    # -- the service, built within the deadline ------------------------------------------------
    def _load(self) -> tuple[Config, dict[str, str]]:
        if self._config is None:
            return load_config(self.env, self.aws)
        return self._config.with_overrides(notify_in_serve=False), dict(self.env)

    def boot(self, deadline: Deadline | None = None) -> Service | None:
        """The service, built on first use; None (and a logged reason) while it cannot be."""
        if self.service is not None:
            return self.service
        if time.monotonic() < self._boot_after:
            return None
        deadline = deadline or Deadline(self.cap)
        # 1. The configuration, secrets included. Slow secrets do not hold the answer: the read
        #    goes on in its thread, and a later event takes its result.
        if self._loading is None:
            self._loading = Background(self._load, name="backline-secrets")
        if not self._loading.wait(deadline.left(keep=ANSWER_RESERVE_SECONDS)):
            self._cannot_boot("the secrets were not read within the answer deadline")
            return None
        loading, self._loading = self._loading, None
        try:
            config, env = loading.result()
            config.check_can_serve()
            service = Service(config)
            # The table's first load leaves its connection to the first record.
            service.database.keep_spare = True
            self.kicker = DispatcherKick.from_env(env, self.aws)
        except Exception as error:
            self._boot_after = time.monotonic() + _BOOT_RETRY_SECONDS
            self._cannot_boot(f"{type(error).__name__}: {error}")
            return None

        # 2. The table of numbers: from the database if it answers in time (half of what is
        #    left; the other half is the record's), else the saved copy or the built-in one.
        def start() -> bool:
            service.start(background=False)
            return service.snapshot.current.source == "database"

        starting = Background(start, name="backline-load")
        budget = deadline.left(keep=ANSWER_RESERVE_SECONDS) / 2
        if starting.wait(budget):
            self.database_stalled = False
        else:
            # Still loading: later events take its result (see refresh_if_stale).
            self.database_stalled = True
            self._refreshing = starting
            service.snapshot.use_saved_copy(
                f"the database did not answer within {budget:.2f} s; still trying"
            )
        self.boot_error = None
        self.service = service
        if self.kicker is None:
            log.warning(
                "BACKLINE_DISPATCHER_FUNCTION is not set: notifications wait for the "
                "dispatcher's schedule"
            )
        return service

    def _cannot_boot(self, reason: str) -> None:
        self.boot_error = mask_password(reason)
        log.critical(
            "cannot start backline (%s); answering with the built-in apology", self.boot_error
        )

    # -- the table of numbers, refreshed within the deadline -----------------------------------
    def refresh_if_stale(self, service: Service, deadline: Deadline | None = None) -> None:
        """Reload the table of numbers when it is older than the refresh interval.

        A load already under way (one an earlier event stopped waiting for) is not waited for
        again: the event answers from the table at hand, and takes the result once it is in.
        """
        keeper = service.snapshot
        refreshing = self._refreshing
        if refreshing is not None:
            if not refreshing.done:
                return
            self._refreshing = None
            self._refreshed(keeper, refreshing)
            return
        if time.time() - keeper.current.loaded_at < service.config.snapshot_refresh_seconds:
            return
        if time.monotonic() < self._refresh_after:
            return
        deadline = deadline or Deadline(self.cap)
        refreshing = Background(keeper.refresh, name="backline-refresh")
        # Half of what is left (the rest is the record's), and never longer than a database
        # call may take.
        budget = min(
            service.config.db_timeout_seconds, deadline.left(keep=ANSWER_RESERVE_SECONDS) / 2
        )
        if not refreshing.wait(budget):
            self.database_stalled = True
            self._refreshing = refreshing
            return
        self._refreshed(keeper, refreshing)

    def _refreshed(self, keeper: SnapshotKeeper, load: Background[bool]) -> None:
        ok = False
        try:
            ok = load.result()
        except Exception:  # refresh() catches its own errors; this is a surprise
            log.exception("loading the table of numbers failed unexpectedly")
        self.database_stalled = False
        if not ok:
            self._refresh_after = time.monotonic() + _REFRESH_RETRY_SECONDS
            log.warning(
                "cannot refresh the table of numbers (%s); answering from the one loaded at %s",
                keeper.last_error,
                time.ctime(keeper.current.loaded_at),
            )

    def reread_auth_tokens(
        self, service: Service, context: Any, deadline: Deadline | None = None
    ) -> bool:
        """After a refused signature: read the auth token's secret again (at most once a
        minute); True when it changed, so that the request is worth checking once more."""
        now = time.monotonic()
        if now < self._token_reread_after:
            return False
        self._token_reread_after = now + _TOKEN_REREAD_SECONDS
        if not any(name + "_SECRET_ARN" in self.env for name in _TOKEN_VARIABLES) and not (
            self.env.get("BACKLINE_SECRETS_ARN")
        ):
            return False  # set directly in the function's environment: nothing to re-read
        deadline = deadline or Deadline.for_event(context, self.cap)
        budget = min(_TOKEN_REREAD_BUDGET_SECONDS, deadline.left(keep=ANSWER_RESERVE_SECONDS))
        if budget < 0.1:
            return False
        try:
            values = reread(self.env, _TOKEN_VARIABLES, self.aws, timeout=budget)
        except Exception as error:  # the message names the variable, never the value
            log.warning("could not read the Twilio auth token's secret again: %s", error)
            return False
        raw = next((values[name] for name in _TOKEN_VARIABLES if values.get(name)), "")
        if not auth_tokens(raw) or auth_tokens(raw) == auth_tokens(
            service.config.twilio_auth_token
        ):
            return False
        service.config = service.config.with_overrides(twilio_auth_token=raw)
        service.answerer.use_auth_tokens(raw)
        log.warning("the Twilio auth token's secret has changed; checking with the new value")
        return True

    def record_budget(self, deadline: Deadline) -> float:
        """How long the record may wait for the database in this event."""
        if self.database_stalled:
            return 0.0  # it did not answer a moment ago: straight to the journal
        return deadline.left(keep=ANSWER_RESERVE_SECONDS)

    # -- the dispatcher's wake-up -------------------------------------------------------------
    def kick(self, key: str, call_sid: str, context: Any, deadline: Deadline | None = None) -> bool:
        """Wake the dispatcher for a newly recorded call or leg, within the time left."""
        if self.kicker is None:
            return False
        deadline = deadline or Deadline.for_event(context, self.cap)
        budget = min(_KICK_BUDGET_SECONDS, deadline.left(keep=0.05))
        if budget < 0.05:
            log.warning("too little time left to wake the dispatcher for %s", key)
            return False
        payload = {"source": "backline.fallback", "record": key, "call_sid": call_sid}
        return self.kicker.kick(payload, timeout=budget)
