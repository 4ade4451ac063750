"""The old per-number TwiML files, read as routes: pure code, bytes in, a route or a reason out.

What maps: ``<Dial>`` with ``<Number>`` or ``<Sip>`` nouns, or a bare number as its text;
several ``<Dial>`` verbs of one number each (rung one after another); numbers in quotes as
VTL templates (API Gateway mapping templates) wrote them; ``callerId`` (a template naming
``To``/``Called`` is the Twilio number, ``From``/``Caller`` the caller); ``timeout``; the
``<Say>`` after the dial (what callers heard when nobody answered) with its ``language`` and
``voice``; ``<Sms to>`` and ``<Message to>`` (someone was told by SMS). VTL ``#set`` lines and
``##`` comments are left out.

What does not: a file that is not well-formed XML or not a ``<Response>``, a menu
(``<Gather>``), a ``<Redirect>``, a ``<Dial>`` to a conference, queue or client, a number the
template computes, VTL conditions (``#if``), or several ``<Dial>`` verbs ringing several numbers
each. The reason says which. Whatever is left out of a file that maps is listed in its notes.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from backline.core import validation
from backline.core.validation import InvalidValue
from backline.core.voices import RETIRED_VOICES, speaks

__all__ = ["MAX_BYTES", "LegacyRoute", "NotMapped", "parse"]

# A TwiML file that forwards a call is a few hundred bytes.
MAX_BYTES = 64 * 1024

_DECLARED = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_VTL_DROPPED = re.compile(r"^\s*(#set\b|##)")
_VTL_LOGIC = re.compile(r"^\s*#(if|elseif|else|end|foreach|macro|parse|include|define)\b")
_TEMPLATE = re.compile(r"\$!?\{?[A-Za-z]")
_PARAMETER = re.compile(r"""['"](To|Called|From|Caller)['"]""")
# Verbs that make a file something other than "forward this call": a person must map it.
_REFUSED_VERBS = {
    "Gather": "a menu (<Gather>)",
    "Redirect": "a <Redirect> to other TwiML",
    "Enqueue": "a queue (<Enqueue>)",
    "Connect": "a <Connect>",
    "Reject": "a <Reject>",
    "Pay": "a payment (<Pay>)",
    "Refer": "a <Refer>",
}
_LEFT_OUT_VERBS = ("Play", "Pause", "Record", "Leave", "Stream", "Start", "Stop")
_REFUSED_NOUNS = ("Client", "Conference", "Queue", "Application", "WhatsApp")


class NotMapped(ValueError):
    """The file cannot be read as a route; the message says why, for a person to act on."""


@dataclass(frozen=True, slots=True)
class LegacyRoute:
    """A route as an old file wrote it. Values are the texts as written (quotes and template
    wrappers removed); backline checks them as it checks any imported row."""

    destinations: tuple[str, ...]
    mode: str = "simultaneous"
    ring_timeout: str | None = None
    # "twilio-number", "caller", or a number as written; None: the file set none.
    caller_id: str | None = None
    message: str | None = None
    language: str | None = None
    voice: str | None = None
    sms_to: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _text(data: bytes) -> tuple[str, list[str]]:
    if len(data) > MAX_BYTES:
        raise NotMapped(f"larger than {MAX_BYTES // 1024} KiB: not a TwiML file")
    data = data.removeprefix(codecs.BOM_UTF8)
    if not data.strip():
        raise NotMapped("empty file")
    declared = _DECLARED.search(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise NotMapped(f"declares the encoding {encoding!r}, which is unknown") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise NotMapped(f"not {encoding} text (byte {error.start})") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        # TwiML never needs one, and entities are how XML files attack their readers.
        raise NotMapped("has a DOCTYPE or ENTITY declaration, which TwiML never needs: refused")
    kept: list[str] = []
    notes: list[str] = []
    for line in text.splitlines():
        logic = _VTL_LOGIC.match(line)
        if logic:
            raise NotMapped(f"has VTL logic (#{logic.group(1)}): map this number by hand")
        if _VTL_DROPPED.match(line):
            notes.append(f"left out the VTL line {line.strip()[:60]!r}")
            continue
        kept.append(line)
    return "\n".join(kept).strip(), notes


def _unquoted(value: str) -> str:
    """A value as a VTL template may have written it: ``"+81..."``, ``'+81...'``."""
    cleaned = value.strip()
    while len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in "\"'":
        cleaned = cleaned[1:-1].strip()
    return cleaned


def _caller_id(value: str) -> str:
    cleaned = _unquoted(value)
    if not _TEMPLATE.search(cleaned):
        return cleaned
    named = {match.group(1) for match in _PARAMETER.finditer(cleaned)}
    if named and named <= {"To", "Called"}:
        return "twilio-number"
    if named and named <= {"From", "Caller"}:
        return "caller"
    raise NotMapped(f"callerId {cleaned[:60]!r} is computed by the template: map it by hand")


def _destination(value: str, noun: str) -> str:
    cleaned = _unquoted(value)
    if not cleaned:
        raise NotMapped(f"a <{noun}> is empty")
    if _TEMPLATE.search(cleaned):
        raise NotMapped(f"the {noun.lower()} {cleaned[:60]!r} is computed by the template")
    return cleaned


@dataclass
class _Dial:
    destinations: list[str]
    caller_id: str | None
    timeout: str | None


def _dial(element: ET.Element, notes: list[str]) -> _Dial:
    destinations: list[str] = []
    for child in element:
        noun = child.tag
        if noun in ("Number", "Sip"):
            destinations.append(_destination(child.text or "", noun))
            extra = sorted(set(child.attrib) - {"statusCallbackEvent"})
            if extra:
                notes.append(f"left out <{noun}> {', '.join(extra)}")
        elif noun in _REFUSED_NOUNS:
            raise NotMapped(f"dials a {noun.lower()} (<{noun}>), not a phone number")
        else:
            raise NotMapped(f"<Dial> holds <{noun}>, which is not TwiML backline knows")
    bare = (element.text or "").strip()
    if bare:
        if destinations:
            notes.append(f"left out the text {bare[:40]!r} beside the <Dial>'s nouns")
        else:
            destinations.append(_destination(bare, "Dial"))
    if not destinations:
        raise NotMapped("a <Dial> dials nothing")
    caller = element.get("callerId")
    timeout = element.get("timeout")
    if timeout is not None:
        timeout = _unquoted(timeout)
        if _TEMPLATE.search(timeout):
            notes.append(f"left out timeout {timeout[:40]!r} (computed by the template)")
            timeout = None
    extra = sorted(set(element.attrib) - {"callerId", "timeout"})
    if extra:
        notes.append(f"left out <Dial> {', '.join(extra)}")
    return _Dial(destinations, None if caller is None else _caller_id(caller), timeout)


def _say(element: ET.Element, notes: list[str]) -> tuple[str | None, str | None, str | None]:
    message = " ".join((element.text or "").split()) or None
    language = element.get("language")
    voice = element.get("voice")
    language = _unquoted(language) if language else None
    voice = _unquoted(voice) if voice else None
    if voice in RETIRED_VOICES:
        notes.append(f"voice {voice} is retired: the language's default voice is used")
        voice = None
    if voice and language:
        try:
            checked = validation.language(language), validation.voice(voice)
        except InvalidValue:
            checked = None  # the import's own checks say what is wrong with it
        if checked is not None and speaks(checked[1], checked[0]) is False:
            # Twilio read such a file in some voice anyway; the language is what callers knew.
            notes.append(f"voice {voice} cannot speak {language}: its default voice is used")
            voice = None
    return message, language, voice


def parse(data: bytes) -> LegacyRoute:
    """The route an old TwiML file describes; :class:`NotMapped` with the reason otherwise."""
    text, notes = _text(data)
    try:
        root = ET.fromstring(text)  # noqa: S314 - DOCTYPE and ENTITY refused above
    except ET.ParseError as error:
        raise NotMapped(f"not well-formed XML ({error})") from None
    if root.tag != "Response":
        raise NotMapped(f"not TwiML: the document is <{root.tag[:40]}>, not <Response>")
    dials: list[_Dial] = []
    say: tuple[str | None, str | None, str | None] | None = None
    sms_to: list[str] = []
    for element in root:
        verb = element.tag
        if verb == "Dial":
            dials.append(_dial(element, notes))
        elif verb == "Say":
            if not dials:
                notes.append("left out a <Say> before the <Dial> (backline plays no greeting)")
            elif say is None:
                say = _say(element, notes)
            else:
                notes.append("left out a second <Say> after the <Dial>")
        elif verb in ("Sms", "Message"):
            to = element.get("to")
            if to is None:
                notes.append(f"left out <{verb}> without to= (an SMS back to the caller)")
            else:
                sms_to.append(_destination(to, verb))
        elif verb in _REFUSED_VERBS:
            raise NotMapped(f"{_REFUSED_VERBS[verb]}: map this number by hand")
        elif verb in _LEFT_OUT_VERBS:
            notes.append(f"left out <{verb}>")
        elif verb != "Hangup":
            raise NotMapped(f"<{verb[:40]}> is not TwiML backline knows")
    if not dials:
        raise NotMapped("no <Dial>: nothing to forward to")
    if len(dials) == 1:
        destinations, mode = dials[0].destinations, "simultaneous"
    elif all(len(dial.destinations) == 1 for dial in dials):
        destinations, mode = [dial.destinations[0] for dial in dials], "sequential"
    else:
        raise NotMapped(
            "several <Dial> verbs ringing several numbers each: backline rings all at once or "
            "one after another, not both"
        )
    timeouts = {dial.timeout for dial in dials if dial.timeout is not None}
    callers = {dial.caller_id for dial in dials if dial.caller_id is not None}
    timeout = next((dial.timeout for dial in dials if dial.timeout is not None), None)
    caller = next((dial.caller_id for dial in dials if dial.caller_id is not None), None)
    if len(timeouts) > 1:
        notes.append(f"the <Dial> timeouts differ ({', '.join(sorted(timeouts))}): {timeout} used")
    if len(callers) > 1:
        notes.append(f"the callerIds differ ({', '.join(sorted(callers))}): {caller} used")
    message, language, voice = say if say is not None else (None, None, None)
    return LegacyRoute(
        destinations=tuple(destinations),
        mode=mode,
        ring_timeout=timeout,
        caller_id=caller,
        message=message,
        language=language,
        voice=voice,
        sms_to=tuple(sms_to),
        notes=tuple(notes),
    )
