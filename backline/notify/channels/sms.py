"""SMS to an on-call phone through Twilio's Messages API.

One form POST to ``/2010-04-01/Accounts/{AccountSid}/Messages.json`` with basic auth
(account SID, auth token). Twilio answers 201 with the message SID, or an error body with a
numeric ``code``: 21211 (invalid 'To'), 21408 (region not enabled), 21606/21212 (bad 'From'),
21610 (recipient opted out), 21614 (not a mobile number) and 20003 (bad credentials) will not
work on a retry; 429 and 5xx will.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, urlencode

from backline.config import Config
from backline.core.messages import Message, short_text
from backline.notify.channels import ChannelSpec, DeliveryError, Transport
from backline.notify.channels.http import check_http_answer, post

__all__ = ["SMS_MAX", "SmsTransport", "missing_settings", "transport"]

# Japanese text is sent as UCS-2, 70 characters a segment: a few segments keep it readable and
# cheap while still carrying who called whom and why.
SMS_MAX = 320

_PERMANENT_CODES = frozenset(
    {20003, 20404, 21211, 21212, 21408, 21606, 21608, 21610, 21612, 21614, 21659}
)


def missing_settings(spec: ChannelSpec, config: Config) -> tuple[str, ...]:
    """What an SMS channel needs from the sending process's environment and does not have."""
    missing = []
    if not config.twilio_account_sid:
        missing.append("BACKLINE_TWILIO_ACCOUNT_SID")
    if not config.twilio_auth_token:
        missing.append("BACKLINE_TWILIO_AUTH_TOKEN")
    if not (spec.options.get("from") or config.sms_from):
        missing.append("BACKLINE_SMS_FROM (or the channel's --from)")
    return tuple(missing)


class SmsTransport:
    def __init__(self, spec: ChannelSpec, config: Config) -> None:
        self.missing = missing_settings(spec, config)
        self.to = spec.target
        self.from_ = str(spec.options.get("from") or config.sms_from)
        self.account = config.twilio_account_sid
        self.token = config.rest_auth_token
        self.api = config.twilio_api_url.rstrip("/")
        self.timeout = config.notify_send_timeout_seconds

    def send(self, message: Message, delivery_id: str) -> str:
        if self.missing:
            raise DeliveryError(f"SMS needs {', '.join(self.missing)}", permanent=True)
        url = f"{self.api}/2010-04-01/Accounts/{quote(self.account, safe='')}/Messages.json"
        body = urlencode(
            {"To": self.to, "From": self.from_, "Body": short_text(message, SMS_MAX)}
        ).encode("ascii")
        credentials = base64.b64encode(f"{self.account}:{self.token}".encode()).decode("ascii")
        answer = post(
            url,
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {credentials}",
            },
            self.timeout,
        )
        try:
            document = json.loads(answer.body) if answer.body else {}
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        if 200 <= answer.status < 300:
            return f"{answer.status} {document.get('sid', '')} {document.get('status', '')}".strip()
        code = document.get("code")
        if isinstance(code, int) and code in _PERMANENT_CODES:
            detail = f"{answer.status} Twilio error {code}: {document.get('message', '')}"
            raise DeliveryError(detail.strip(), permanent=True)
        return check_http_answer(answer)


def transport(spec: ChannelSpec, config: Config) -> Transport:
    return SmsTransport(spec, config)
