"""Plan -> TwiML, through the official twilio builder so that every value is escaped by it.

Nothing here concatenates markup by hand: a caller-supplied or configured string can never
change the structure of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol, assert_never

from twilio.twiml.voice_response import VoiceResponse

from backline.core.models import (
    BUILT_IN_LANGUAGE,
    BUILT_IN_MESSAGE,
    BUILT_IN_VOICE,
    END_KEY,
    Dial,
    Gather,
    Hangup,
    Plan,
    Record,
    Say,
    Verb,
)

__all__ = ["LAST_RESORT_TWIML", "Links", "render", "render_verbs", "xml_safe"]

# Characters XML 1.0 cannot carry at all, escaped or not. The builder escapes markup but passes
# these through, which would make the whole answer unparseable for Twilio.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


class Links(Protocol):
    """backline's own URLs, as Twilio is to request them (absolute, on the public URL)."""

    def dial_action(self, step: int, closed: bool) -> str: ...

    def whisper(self, number: str) -> str: ...

    def screen_answer(self, number: str) -> str: ...

    def voicemail_done(self) -> str: ...

    def recording_status(self, number: str, caller: str) -> str: ...

    def transcription(self, number: str, caller: str) -> str: ...


def render(plan: Plan, links: Links) -> str:
    return render_verbs(plan.verbs, links)


def render_verbs(verbs: Sequence[Verb], links: Links) -> str:
    """The TwiML for ``verbs``; an empty sequence is an empty ``<Response/>``."""
    response = VoiceResponse()
    for verb in verbs:
        match verb:
            case Dial():
                _dial(response, verb, links)
            case Say():
                _say(response, verb)
            case Hangup():
                response.hangup()
            case Record():
                _record(response, verb, links)
            case Gather():
                gather = response.gather(
                    num_digits=1,
                    action=links.screen_answer(verb.number),
                    method="POST",
                    timeout=verb.timeout,
                )
                _say(gather, verb.say)
            case _:
                assert_never(verb)
    return str(response.to_xml())


def _say(parent: Any, say: Say) -> None:
    # ``parent`` is the response or a <Gather> (the builder's classes share no say() type).
    parent.say(xml_safe(say.text), language=say.language, voice=say.voice)


def _dial(response: VoiceResponse, verb: Dial, links: Links) -> None:
    # Twilio adds about 5 s to the timeout it is given (a leg rings ~timeout + 5 s), so the
    # ring timeout a person sets is what is sent; docs/configuration.md tells them.
    attributes: dict[str, object] = {
        "timeout": verb.timeout,
        "action": links.dial_action(verb.step, verb.closed),
        "method": "POST",
    }
    if verb.caller_id:
        attributes["caller_id"] = verb.caller_id
    if verb.answer_on_bridge:
        attributes["answer_on_bridge"] = True
    if verb.ring_tone:
        attributes["ring_tone"] = verb.ring_tone
    dial = response.dial(**attributes)
    whisper = links.whisper(verb.screen_for) if verb.screen_for else None
    for target in verb.destinations:
        if target.lower().startswith(("sip:", "sips:")):
            dial.sip(target)
        elif whisper is not None:
            dial.number(target, url=whisper, method="POST")
        else:
            dial.number(target)


def _record(response: VoiceResponse, verb: Record, links: Links) -> None:
    attributes: dict[str, object] = {
        # Without an action Twilio requests the current document again, which would answer
        # with this same voicemail: a loop.
        "action": links.voicemail_done(),
        "method": "POST",
        "max_length": verb.max_length,
        "finish_on_key": END_KEY,
        "play_beep": True,
        "recording_status_callback": links.recording_status(verb.number, verb.caller),
        "recording_status_callback_method": "POST",
        "recording_status_callback_event": "completed absent",
    }
    if verb.transcribe:
        attributes["transcribe"] = True
        attributes["transcribe_callback"] = links.transcription(verb.number, verb.caller)
    response.record(**attributes)


def _last_resort() -> str:
    response = VoiceResponse()
    response.say(BUILT_IN_MESSAGE, language=BUILT_IN_LANGUAGE, voice=BUILT_IN_VOICE)
    response.hangup()
    return str(response.to_xml())


# Built once at import so that answering with it can never fail.
LAST_RESORT_TWIML = _last_resort()
