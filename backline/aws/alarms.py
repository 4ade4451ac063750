"""The log lines the SAM template's metric filters count, and the name each one carries.

On Lambda each log record becomes one JSON object (the template sets ``LogFormat: JSON``), and
the runtime copies a record's extra attributes into it as fields. The lines that should raise
an alarm carry ``"backline": "<event>"``; the template's filters match that field, so rewording
a message never silently breaks an alarm. tests/aws/test_alarms.py triggers each event and runs
the template's filter patterns over the records.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FIELD", "LogEvent", "tagged"]

FIELD = "backline"


class LogEvent(StrEnum):
    # A call answered from the built-in last resort (the apology, or the configured forward):
    # the secrets or the service could not be had, or no table of numbers was at hand.
    LAST_RESORT = "last-resort-answer"
    # A call or leg recorded in the instance's local journal instead of the database.
    JOURNALED = "journaled"
    # A request refused for an invalid X-Twilio-Signature.
    SIGNATURE_REFUSED = "signature-refused"
    # A dispatcher run that failed.
    DISPATCHER_FAILED = "dispatcher-failed"


def tagged(event: LogEvent) -> dict[str, str]:
    """The ``extra=`` of a log call that marks it as ``event``."""
    return {FIELD: event.value}
