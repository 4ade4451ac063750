"""Wake the notification dispatcher: an asynchronous Lambda Invoke sent before the answer leaves.

Lambda freezes the fallback's instance as soon as its handler returns, so a notification cannot
be sent "in the background" there. Instead the call is recorded durably first (its events are
in the database), then this sends ``Invoke`` with ``InvocationType=Event`` to the dispatcher
function: Lambda queues the event and answers 202 at once, and the dispatcher runs in its own
instance, unfrozen, within a second or so. The request has a short time budget and never raises;
if it fails, the dispatcher's schedule picks the events up on its next run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from backline.aws.awsapi import AwsClient, AwsError, endpoint_for

__all__ = ["DispatcherKick"]

log = logging.getLogger("backline.aws.invoke")

FUNCTION_VARIABLE = "BACKLINE_DISPATCHER_FUNCTION"


class DispatcherKick:
    """Sends ``Invoke(InvocationType=Event)`` to one function."""

    def __init__(self, function: str, region: str, client: AwsClient) -> None:
        self.function = function
        self.region = region
        self.client = client
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], client: AwsClient | None = None
    ) -> DispatcherKick | None:
        """The kick named by BACKLINE_DISPATCHER_FUNCTION, or None when it is not set."""
        function = env.get(FUNCTION_VARIABLE, "").strip()
        if not function:
            return None
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
        if function.startswith("arn:"):
            region = function.split(":")[3] or region
        if not region:
            log.error(
                "%s is set but AWS_REGION is not; the dispatcher will only run on its schedule",
                FUNCTION_VARIABLE,
            )
            return None
        return cls(function, region, client or AwsClient(env))

    def kick(self, payload: Mapping[str, Any], *, timeout: float = 1.0) -> bool:
        """Queue one dispatcher run; True when Lambda accepted it (HTTP 202). Never raises."""
        try:
            endpoint = endpoint_for("Lambda", "lambda", self.region, self.client.env)
            reply = self.client.request(
                endpoint=endpoint,
                service="lambda",
                region=self.region,
                method="POST",
                path=f"/2015-03-31/functions/{quote(self.function, safe='')}/invocations",
                headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
                body=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
                timeout=timeout,
            )
        except AwsError as error:
            self.failed += 1
            log.warning(
                "could not wake the dispatcher (%s); its schedule will send the notifications",
                error,
            )
            return False
        except Exception:  # an answer must never fail because of a notification
            self.failed += 1
            log.exception("waking the dispatcher failed unexpectedly")
            return False
        if reply.status != 202:
            self.failed += 1
            log.warning(
                "the dispatcher's Invoke answered HTTP %d: %s; its schedule will send "
                "the notifications",
                reply.status,
                reply.body[:300].decode("utf-8", "replace"),
            )
            return False
        self.sent += 1
        return True
