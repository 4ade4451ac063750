"""Plan -> TwiML, through the official twilio builder so that every value is escaped by it.

Nothing here concatenates markup by hand: a caller-supplied or configured string can never
change the structure of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from twilio.twiml.voice_response import VoiceResponse

from backline.core.models import (
    BUILT_IN_LANGUAGE,
    BUILT_IN_MESSAGE,
    BUILT_IN_VOICE,
    Dial,
    Plan,
    Say,
)

__all__ = ["LAST_RESORT_TWIML", "render", "xml_safe"]

# Characters XML 1.0 cannot carry at all, escaped or not. The builder escapes markup but passes
# these through, which would make the whole answer unparseable for Twilio.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def render(plan: Plan, action_url: Callable[[int], str]) -> str:
    """Render ``plan``; ``action_url(step)`` gives the dial-outcome URL for a step."""
    response = VoiceResponse()
    for verb in plan.verbs:
        if isinstance(verb, Dial):
            attributes: dict[str, object] = {
                "timeout": verb.timeout,
                "action": action_url(verb.step),
                "method": "POST",
            }
            if verb.caller_id:
                attributes["caller_id"] = verb.caller_id
            dial = response.dial(**attributes)
            for target in verb.destinations:
                if target.lower().startswith(("sip:", "sips:")):
                    dial.sip(target)
                else:
                    dial.number(target)
        elif isinstance(verb, Say):
            response.say(xml_safe(verb.text), language=verb.language, voice=verb.voice)
        else:
            response.hangup()
    return str(response.to_xml())


def _last_resort() -> str:
    response = VoiceResponse()
    response.say(BUILT_IN_MESSAGE, language=BUILT_IN_LANGUAGE, voice=BUILT_IN_VOICE)
    response.hangup()
    return str(response.to_xml())


# Built once at import so that answering with it can never fail.
LAST_RESORT_TWIML = _last_resort()
