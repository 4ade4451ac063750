"""Requests as Twilio sends them: every parameter of a real voice webhook, form-encoded, with
X-Twilio-Signature computed over the public URL by the official library."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN, PUBLIC_URL

_sids = itertools.count(1)


def new_call_sid() -> str:
    return f"CA{next(_sids):032x}"


def fallback_params(
    to: str,
    *,
    call_sid: str | None = None,
    from_: str = "+819012345678",
    error_code: str = "11200",
    error_url: str = "https://ivr.example.com/twilio/incoming",
) -> dict[str, str]:
    """The parameters of a fallback request, blank ones included (Twilio signs those too)."""
    return {
        "AccountSid": "AC" + "1" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid or new_call_sid(),
        "CallStatus": "ringing",
        "Called": to,
        "CalledCity": "",
        "CalledCountry": "JP",
        "CalledState": "",
        "CalledZip": "",
        "Caller": from_,
        "CallerCity": "",
        "CallerCountry": "JP",
        "CallerState": "",
        "CallerZip": "",
        "Direction": "inbound",
        "ErrorCode": error_code,
        "ErrorUrl": error_url,
        "From": from_,
        "FromCity": "",
        "FromCountry": "JP",
        "FromState": "",
        "FromZip": "",
        "To": to,
        "ToCity": "",
        "ToCountry": "JP",
        "ToState": "",
        "ToZip": "",
    }


def dial_params(call: dict[str, str], status: str, duration: int = 0) -> dict[str, str]:
    """What Twilio posts to the <Dial action> URL when a leg ends."""
    return dict(
        call,
        CallStatus="in-progress",
        DialCallStatus=status,
        DialCallSid=new_call_sid(),
        DialCallDuration=str(duration),
    )


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def signed_post(
    path_and_query: str,
    params: dict[str, str],
    *,
    public_url: str = PUBLIC_URL,
    token: str = AUTH_TOKEN,
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a POST Twilio would send to ``public_url + path_and_query``."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(public_url + path_and_query, params, token),
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": "0f2b7c3e-5d1a-4c2b-9a55-1b2c3d4e5f60",
    }
    return urlencode(params).encode(), headers
