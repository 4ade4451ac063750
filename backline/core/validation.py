"""One source of truth for what a valid number, destination, language, voice or URL is.

The CLI, the imports and the answer path all call these functions, so a value that one of them
accepts is accepted by all of them. Every check raises :class:`InvalidValue` with a sentence that
says what is wrong and what would be right.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from backline.core.voices import RETIRED_VOICES, VOICES, languages_of, speaks

__all__ = [
    "CALLER_ID_POLICIES",
    "MODES",
    "RING_TIMEOUT_RANGE",
    "InvalidValue",
    "caller_id_policy",
    "client_name",
    "destination",
    "destination_list",
    "e164",
    "http_url",
    "is_e164",
    "is_sip",
    "language",
    "message",
    "mode",
    "public_base_url",
    "ring_timeout",
    "ring_tone",
    "time_zone",
    "voice",
    "voice_for_language",
    "voice_of_apology",
    "voicemail_max_length",
    "when_closed",
    "when_unanswered",
]


class InvalidValue(ValueError):
    """A value a person typed (or a file held) is not acceptable; the message says why."""


# E.164: a "+", a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# SIP URIs as Twilio's <Sip> noun takes them; no whitespace, no markup characters.
_SIP = re.compile(r"sips?:[^\s<>\"']+@[^\s<>\"']+", re.IGNORECASE)
# BCP-47 as Twilio uses it for <Say language>: "ja-JP", "en-US", "cmn-CN", "en-IN".
_LANGUAGE = re.compile(r"[a-z]{2,3}-[A-Z]{2}")
# Twilio's basic voices, Amazon Polly voices ("Polly.Mizuki", "Polly.Takumi-Neural") and
# Google voices ("Google.ja-JP-Standard-B", "Google.en-US-Chirp3-HD-Aoede"). Which voice may
# speak which language is backline.core.voices' table.
_VOICE = re.compile(
    r"man|woman|alice"
    r"|Polly\.[A-Z][A-Za-z]+(-Neural|-Generative|-LongForm)?"
    r"|Google\.[a-z]{2,3}-[A-Z]{2}(-[A-Za-z0-9]+)+"
)

MODES = ("simultaneous", "sequential")
# Twilio's <Dial timeout> accepts 5 to 600 seconds.
RING_TIMEOUT_RANGE = (5, 600)
# "twilio-number" shows the called Twilio number (the only caller ID Japanese carriers do not
# withhold), "caller" passes the original caller's number through, or an explicit E.164 number.
CALLER_ID_POLICIES = ("twilio-number", "caller")
# Twilio rings at most ten numbers at once in one <Dial>.
MAX_DESTINATIONS = 10
CLIENT_NAME_MAX_LENGTH = 200
# <Say> is capped by Twilio at 4,096 characters; an apology that long would not be heard anyway.
MESSAGE_MAX_LENGTH = 1000
# <Record maxLength>: Twilio takes 2 s to hours; a voicemail is seconds to minutes.
VOICEMAIL_MAX_LENGTH_RANGE = (5, 3600)
# Twilio transcribes recordings of at most two minutes.
TRANSCRIPTION_MAX_SECONDS = 120
# <Dial ringTone>: the ringback a caller hears while destinations ring, by country.
RING_TONES = (
    "at", "au", "bg", "br", "be", "ch", "cl", "cn", "cz", "de", "dk", "ee", "es", "fi", "fr",
    "gr", "hu", "il", "in", "it", "lt", "jp", "mx", "my", "nl", "no", "nz", "ph", "pl", "pt",
    "ru", "se", "sg", "th", "uk", "us", "us-old", "tw", "ve", "za",
)  # fmt: skip
WHEN_UNANSWERED = ("apology", "voicemail")
WHEN_CLOSED = ("apology", "voicemail", "forward:<number>")


def is_e164(value: str) -> bool:
    return _E164.fullmatch(value) is not None


def is_sip(value: str) -> bool:
    """Whether a destination is a SIP URI (dialled with <Sip>) rather than a phone number."""
    return value[:5].lower().startswith(("sip:", "sips:"))


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value)


def e164(value: str, *, what: str = "number") -> str:
    """Return the E.164 form of ``value`` or raise, saying what is wrong."""
    cleaned = value.strip()
    if is_e164(cleaned):
        return cleaned
    compact = re.sub(r"[\s\-().]", "", cleaned)
    if is_e164(compact):
        # Spaces, dashes and brackets are common when numbers are copied from a page.
        return compact
    if compact.startswith("0"):
        raise InvalidValue(
            f"{what} {value!r} is not in E.164 form: drop the leading 0 and add the country "
            f"code, for example +81{compact[1:]} for a Japanese number"
        )
    if compact.isdigit():
        raise InvalidValue(
            f"{what} {value!r} is not in E.164 form: it must start with + and "
            f"the country code, for example +{compact}"
        )
    raise InvalidValue(f"{what} {value!r} is not in E.164 form (+ followed by up to 15 digits)")


def destination(value: str) -> str:
    """A forwarding destination: an E.164 phone number or a ``sip:`` URI."""
    cleaned = value.strip()
    if _has_control(cleaned):
        # Twilio would refuse the markup, or a carrier would see a header split in two.
        raise InvalidValue(f"destination {value!r} contains control characters")
    if is_sip(cleaned):
        if _SIP.fullmatch(cleaned):
            return cleaned
        raise InvalidValue(f"destination {value!r} is not a valid SIP URI (sip:user@host)")
    return e164(cleaned, what="destination")


def mode(value: str) -> str:
    cleaned = value.strip().lower()
    if cleaned in MODES:
        return cleaned
    raise InvalidValue(f"mode {value!r} is not one of: {', '.join(MODES)}")


def ring_timeout(value: int | str) -> int:
    low, high = RING_TIMEOUT_RANGE
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"ring timeout {value!r} is not a whole number of seconds") from None
    if not low <= seconds <= high:
        raise InvalidValue(
            f"ring timeout {seconds} is out of range: Twilio rings for {low} to {high} seconds"
        )
    return seconds


def language(value: str) -> str:
    cleaned = value.strip()
    if _LANGUAGE.fullmatch(cleaned):
        return cleaned
    # Accept the common lower-case spelling ("ja-jp") and normalise it.
    parts = cleaned.split("-")
    if len(parts) == 2 and _LANGUAGE.fullmatch(f"{parts[0].lower()}-{parts[1].upper()}"):
        return f"{parts[0].lower()}-{parts[1].upper()}"
    raise InvalidValue(f"language {value!r} is not a language tag such as ja-JP or en-US")


def voice(value: str) -> str:
    cleaned = value.strip()
    retired = RETIRED_VOICES.get(cleaned)
    if retired is not None:
        raise InvalidValue(
            f"voice {cleaned!r}: {retired}; use a Polly or Google voice "
            f"(for example Polly.Joanna for en-US, Polly.Mizuki for ja-JP)"
        )
    if _VOICE.fullmatch(cleaned):
        return cleaned
    raise InvalidValue(
        f"voice {value!r} is not a Twilio voice: use Polly.<Name> "
        f"(for example Polly.Mizuki) or Google.<language>-<type>-<letter> "
        f"(for example Google.ja-JP-Neural2-B)"
    )


def voice_for_language(language_tag: str, voice_name: str, *, what: str = "voice") -> str:
    """Check that ``voice_name`` can speak ``language_tag``; the message lists the choices."""
    if speaks(voice_name, language_tag) is not False:
        return voice_name
    choices = VOICES.get(language_tag)
    known = languages_of(voice_name)
    speaks_what = f" (it speaks {', '.join(known)})" if known else ""
    if choices is None:
        raise InvalidValue(
            f"{what} {voice_name} cannot speak {language_tag}{speaks_what}; choose a voice "
            f"for {language_tag} from Twilio's text-to-speech list"
        )
    raise InvalidValue(
        f"{what} {voice_name} cannot speak {language_tag}{speaks_what}; the voices for "
        f"{language_tag} are: {', '.join(choices.voices)}"
    )


def voice_of_apology(
    language_tag: str | None, voice_name: str | None, default_language: str
) -> None:
    """Check the voice a route (or the defaults) names against the language it will speak:
    its own language, else the voice's language, else the default language (as the planner
    resolves them). No voice named: the language's default voice is used, nothing to check."""
    if voice_name is None:
        return
    if language_tag is None:
        spoken = languages_of(voice_name)
        language_tag = default_language if not spoken or default_language in spoken else spoken[0]
    voice_for_language(language_tag, voice_name)


def message(value: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidValue("message is empty: give the words callers should hear")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in cleaned):
        raise InvalidValue("message contains control characters; use plain text")
    if len(cleaned) > MESSAGE_MAX_LENGTH:
        raise InvalidValue(
            f"message is {len(cleaned)} characters long; keep it under {MESSAGE_MAX_LENGTH}"
        )
    return cleaned


def when_unanswered(value: str) -> str:
    cleaned = value.strip().lower()
    if cleaned in WHEN_UNANSWERED:
        return cleaned
    raise InvalidValue(f"when-unanswered {value!r} is not one of: {', '.join(WHEN_UNANSWERED)}")


def when_closed(value: str) -> str:
    """``apology``, ``voicemail`` or ``forward:<destination>`` (what a closed number does)."""
    cleaned = value.strip()
    lowered = cleaned.lower()
    if lowered in ("apology", "voicemail"):
        return lowered
    if lowered.startswith("forward:"):
        target = cleaned.partition(":")[2]
        if not target.strip():
            raise InvalidValue(
                "when-closed forward: needs a number, for example forward:+81312345678"
            )
        return f"forward:{destination(target)}"
    raise InvalidValue(
        f"when-closed {value!r} is not apology, voicemail or forward:<number> "
        f"(for example forward:+81312345678)"
    )


def ring_tone(value: str) -> str:
    cleaned = value.strip().lower()
    if cleaned in RING_TONES:
        return cleaned
    raise InvalidValue(
        f"ring tone {value!r} is not one of Twilio's: {', '.join(RING_TONES)} (jp for Japan)"
    )


def voicemail_max_length(value: int | str) -> int:
    low, high = VOICEMAIL_MAX_LENGTH_RANGE
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise InvalidValue(
            f"voicemail max length {value!r} is not a whole number of seconds"
        ) from None
    if not low <= seconds <= high:
        raise InvalidValue(
            f"voicemail max length {seconds} is out of range: {low} to {high} seconds"
        )
    return seconds


def time_zone(value: str) -> str:
    """An IANA time zone name (Asia/Tokyo, America/New_York, UTC), as the system knows it."""
    from zoneinfo import available_timezones

    cleaned = value.strip()
    if cleaned in available_timezones():
        return cleaned
    folded = {name.casefold(): name for name in available_timezones()}
    if cleaned.casefold() in folded:
        return folded[cleaned.casefold()]
    raise InvalidValue(
        f"time zone {value!r} is unknown: use a name such as Asia/Tokyo, Europe/London or UTC"
    )


def utc_time(value: str, *, what: str = "time") -> str:
    """An ISO-8601 time (``2026-11-24T05:00:00Z``, ``2026-11-24T14:00+09:00``, a bare date is
    its midnight UTC; no zone means UTC) in the tables' form, for comparing with stored times."""
    from datetime import UTC, datetime

    cleaned = value.strip()
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidValue(
            f"{what} {value[:40]!r} is not a time such as 2026-11-24T05:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidValue(f"{what} {value[:40]!r} is out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def caller_id_policy(value: str) -> str:
    cleaned = value.strip()
    if cleaned.lower() in CALLER_ID_POLICIES:
        return cleaned.lower()
    try:
        return e164(cleaned, what="caller ID")
    except InvalidValue:
        raise InvalidValue(
            f"caller ID {value!r} is not one of {', '.join(CALLER_ID_POLICIES)} or an E.164 number"
        ) from None


def http_url(value: str, *, what: str = "URL") -> str:
    cleaned = value.strip()
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https"):
        raise InvalidValue(f"{what} {value!r} must start with https:// (or http://)")
    if not parts.hostname:
        raise InvalidValue(f"{what} {value!r} has no host name")
    if any(c.isspace() for c in cleaned):
        raise InvalidValue(f"{what} {value!r} contains white space")
    return cleaned


# backline's own paths and their leading parts, longest first: a public URL ending in one of
# them was pasted from Twilio's console (or cut short), not the base the paths are added to.
_OWN_PATHS = ("/twilio/voice/fallback", "/twilio/voice/dial-status", "/twilio/voice", "/twilio")


def public_base_url(value: str, *, what: str = "BACKLINE_PUBLIC_URL") -> str:
    """The base URL Twilio reaches backline at (scheme, host, optional path), without a final /.

    Twilio signs the exact URL it requests, which backline rebuilds as this base + its own path:
    a base with a ``?query`` or ``#fragment`` can never match, and a base that already holds one
    of backline's paths doubles it. Both would refuse every real call, so they are refused here.
    """
    cleaned = http_url(value, what=what)
    parts = urlsplit(cleaned)
    if parts.query or "?" in cleaned:
        raise InvalidValue(
            f"{what} {value!r} has a ?query: Twilio signs the URL it requests, so give the base "
            f"URL only, for example {urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))}"
        )
    if parts.fragment or "#" in cleaned:
        raise InvalidValue(
            f"{what} {value!r} has a #fragment (connection overrides belong on the primary URL "
            f"in Twilio's console, not here): give the base URL only, for example "
            f"{urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))}"
        )
    path = parts.path.rstrip("/")
    pasted = next((p for p in _OWN_PATHS if path.lower().endswith(p)), None)
    if pasted is not None:
        base = urlunsplit((parts.scheme, parts.netloc, path[: -len(pasted)], "", ""))
        raise InvalidValue(
            f"{what} {value!r} holds backline's own path: set the base URL that backline's "
            f"paths are added to, here {base} (Twilio's console gets {base}/twilio/voice/fallback)"
        )
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def destination_list(values: Sequence[str], *, number: str | None = None) -> tuple[str, ...]:
    """Check a whole list of destinations: each valid, 1 to 10 of them, no repeats, in order."""
    if isinstance(values, str):  # a lone string would be read as a list of characters
        values = [values]
    checked = tuple(destination(value) for value in values)
    if not checked:
        raise InvalidValue("no destination given: forward to at least one number or sip: URI")
    if len(checked) > MAX_DESTINATIONS:
        raise InvalidValue(
            f"{len(checked)} destinations given; Twilio rings at most {MAX_DESTINATIONS} at once"
        )
    seen: set[str] = set()
    for value in checked:
        if value in seen:
            raise InvalidValue(f"destination {value} is given twice")
        seen.add(value)
    if number is not None and number in checked:
        raise InvalidValue(f"{number} cannot forward to itself")
    return checked


def client_name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidValue("client name is empty")
    if len(cleaned) > CLIENT_NAME_MAX_LENGTH:
        length, limit = len(cleaned), CLIENT_NAME_MAX_LENGTH
        raise InvalidValue(f"client name is {length} characters long; keep it under {limit}")
    if not cleaned.isprintable():
        raise InvalidValue(f"client name {value!r} contains control characters")
    return cleaned
