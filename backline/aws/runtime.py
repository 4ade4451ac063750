"""What one Lambda instance keeps between events: configuration, the service, the kick.

Built on the first event (not at import, so a failure is answered, not crashed on) and kept
while the instance is warm. There are no threads here: Lambda freezes the instance between
events, so the table of numbers is refreshed inline, at the start of an event, when it is older
than BACKLINE_SNAPSHOT_REFRESH_SECONDS, and the journal is replayed by the recorder itself on
the next write once the database answers again.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from backline.aws.awsapi import AwsClient
from backline.aws.invoke import DispatcherKick
from backline.aws.secrets import reread, resolve
from backline.config import Config, auth_tokens
from backline.service import Service

__all__ = ["LAMBDA_STATE_DIR", "Runtime", "load_config"]

log = logging.getLogger("backline.aws")

# The only writable place in a Lambda instance; lost when the instance is reclaimed.
LAMBDA_STATE_DIR = "/tmp/backline"  # noqa: S108
_BOOT_RETRY_SECONDS = 1.0
_REFRESH_RETRY_SECONDS = 5.0
_KICK_BUDGET_SECONDS = 1.0
_KICK_MARGIN_SECONDS = 0.5
# A refused signature may mean the auth token was rotated in its secret after this instance
# started: read the secret again, but at most this often (forged requests cost no more), and
# within this budget.
_TOKEN_REREAD_SECONDS = 60.0
_TOKEN_REREAD_BUDGET_SECONDS = 2.0
_TOKEN_VARIABLES = ("BACKLINE_TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+):[^@\s]+@")


def without_passwords(text: str) -> str:
    """Mask the password of any URL in a message (a bad BACKLINE_DATABASE_URL is quoted)."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


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


def remaining_seconds(context: Any) -> float | None:
    try:
        return float(context.get_remaining_time_in_millis()) / 1000.0
    except Exception:  # no context (tests, the bench) or an unusual one
        return None


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

    def boot(self) -> Service | None:
        """The service, built on first use; None (and a logged reason) while it cannot be."""
        if self.service is not None:
            return self.service
        if time.monotonic() < self._boot_after:
            return None
        try:
            if self._config is None:
                config, env = load_config(self.env, self.aws)
            else:
                config = self._config.with_overrides(notify_in_serve=False)
                env = dict(self.env)
            config.check_can_serve()
            service = Service(config)
            service.start(background=False)
            self.kicker = DispatcherKick.from_env(env, self.aws)
        except Exception as error:
            self.boot_error = without_passwords(f"{type(error).__name__}: {error}")
            self._boot_after = time.monotonic() + _BOOT_RETRY_SECONDS
            log.critical(
                "cannot start backline (%s); answering with the built-in apology", self.boot_error
            )
            return None
        self.boot_error = None
        self.service = service
        if self.kicker is None:
            log.warning(
                "BACKLINE_DISPATCHER_FUNCTION is not set: notifications wait for the "
                "dispatcher's schedule"
            )
        return service

    def refresh_if_stale(self, service: Service) -> None:
        """Reload the table of numbers when it is older than the refresh interval."""
        keeper = service.snapshot
        now = time.time()
        if now - keeper.current.loaded_at < service.config.snapshot_refresh_seconds:
            return
        if time.monotonic() < self._refresh_after:
            return
        if not keeper.refresh():
            self._refresh_after = time.monotonic() + _REFRESH_RETRY_SECONDS
            log.warning(
                "cannot refresh the table of numbers (%s); answering from the one loaded at %s",
                keeper.last_error,
                time.ctime(keeper.current.loaded_at),
            )

    def reread_auth_tokens(self, service: Service, context: Any) -> bool:
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
        budget = _TOKEN_REREAD_BUDGET_SECONDS
        remaining = remaining_seconds(context)
        if remaining is not None:
            budget = min(budget, remaining - _KICK_MARGIN_SECONDS)
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

    def kick(self, key: str, call_sid: str, context: Any) -> bool:
        """Wake the dispatcher for a newly recorded call or leg, within the time left."""
        if self.kicker is None:
            return False
        budget = _KICK_BUDGET_SECONDS
        remaining = remaining_seconds(context)
        if remaining is not None:
            budget = min(budget, remaining - _KICK_MARGIN_SECONDS)
        if budget < 0.05:
            log.warning("too little time left to wake the dispatcher for %s", key)
            return False
        payload = {"source": "backline.fallback", "record": key, "call_sid": call_sid}
        return self.kicker.kick(payload, timeout=budget)
