"""Which Twilio <Say> voice speaks which language, as data. Pure: no I/O.

A voice that cannot speak the language it is given reads the words wrongly (the Japanese
Polly.Mizuki reading English) or makes Twilio fail the <Say>, which for a fallback means the
caller hears nothing at all. So the table of numbers only accepts pairs listed here, and a route
that names a language but no voice gets that language's default voice.

The table lists what Twilio documents for its ``voice`` attribute: Amazon Polly voices as
``Polly.<Name>`` (standard) and ``Polly.<Name>-Neural``, Google voices as
``Google.<language>-<type>-<letter>``, and the basic ``man`` and ``woman`` where Twilio still
documents them (English). ``alice`` is no longer among Twilio's documented voices. A language
missing from the table is not refused: its voices are checked by their form only, except that a
voice the table knows (or a Google voice, whose name carries its language) must speak it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "RETIRED_VOICES",
    "VOICES",
    "LanguageVoices",
    "default_voice",
    "languages_of",
    "say_voice",
    "speaks",
]


@dataclass(frozen=True, slots=True)
class LanguageVoices:
    """The voices for one language; ``default`` is used when a route names none."""

    default: str
    voices: tuple[str, ...]


def _polly(*names: str, neural: tuple[str, ...] = ()) -> tuple[str, ...]:
    return (*(f"Polly.{n}" for n in names), *(f"Polly.{n}-Neural" for n in neural))


def _google(language: str, **kinds: str) -> tuple[str, ...]:
    return tuple(
        f"Google.{language}-{kind}-{letter}"
        for kind, letters in kinds.items()
        for letter in letters
    )


VOICES: Mapping[str, LanguageVoices] = {
    "ja-JP": LanguageVoices(
        default="Polly.Mizuki",
        voices=(
            *_polly("Mizuki", "Takumi", neural=("Takumi", "Kazuha", "Tomoko")),
            *_google("ja-JP", Standard="BCD", Wavenet="BCD", Neural2="BCD"),
        ),
    ),
    "en-US": LanguageVoices(
        default="Polly.Joanna",
        voices=(
            *_polly(
                "Ivy",
                "Joanna",
                "Joey",
                "Justin",
                "Kendra",
                "Kimberly",
                "Matthew",
                "Salli",
                neural=(
                    "Danielle",
                    "Gregory",
                    "Ivy",
                    "Joanna",
                    "Joey",
                    "Justin",
                    "Kendra",
                    "Kevin",
                    "Kimberly",
                    "Matthew",
                    "Ruth",
                    "Salli",
                    "Stephen",
                ),
            ),
            *_google("en-US", Standard="ABCDEFGHIJ", Wavenet="ABCDEFGHIJ", Neural2="ACDEFGHIJ"),
            "man",
            "woman",
        ),
    ),
    "en-GB": LanguageVoices(
        default="Polly.Amy",
        voices=(
            *_polly("Amy", "Brian", "Emma", neural=("Amy", "Arthur", "Brian", "Emma")),
            *_google("en-GB", Standard="ABCDF", Wavenet="ABCDF", Neural2="ABCDF"),
        ),
    ),
    "ko-KR": LanguageVoices(
        default="Polly.Seoyeon",
        voices=(
            *_polly("Seoyeon", neural=("Seoyeon",)),
            *_google("ko-KR", Standard="ABCD", Wavenet="ABCD", Neural2="ABC"),
        ),
    ),
    "cmn-CN": LanguageVoices(
        default="Polly.Zhiyu",
        voices=(
            *_polly("Zhiyu", neural=("Zhiyu",)),
            *_google("cmn-CN", Standard="ABCD", Wavenet="ABCD"),
        ),
    ),
}

# Voices Twilio no longer documents, with what to say instead of accepting them.
RETIRED_VOICES: Mapping[str, str] = {
    "alice": "Twilio no longer documents the alice voice",
}

# Each voice the table knows -> the languages it speaks (man and woman speak only English here).
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _language, _entry in VOICES.items():
    for _voice in _entry.voices:
        _LANGUAGES_OF[_voice] = (*_LANGUAGES_OF.get(_voice, ()), _language)

# A Google voice's name starts with its language: Google.ja-JP-Neural2-B speaks ja-JP.
_GOOGLE = re.compile(r"Google\.([a-z]{2,3}-[A-Z]{2})-.+")


def languages_of(voice: str) -> tuple[str, ...]:
    """The languages ``voice`` is known to speak; () when the table does not know it."""
    known = _LANGUAGES_OF.get(voice)
    if known is not None:
        return known
    google = _GOOGLE.fullmatch(voice)
    return (google.group(1),) if google else ()


def speaks(voice: str, language: str) -> bool | None:
    """Whether ``voice`` can speak ``language``: True, False, or None when nobody can tell
    (a voice and a language the table does not know)."""
    known = languages_of(voice)
    if known:
        return language in known
    if language in VOICES:
        return False  # the language's voices are all listed, and this is not one of them
    return None


def default_voice(language: str) -> str | None:
    entry = VOICES.get(language)
    return entry.default if entry is not None else None


def say_voice(language: str, voice: str | None) -> str | None:
    """The voice a <Say> in ``language`` is given: ``voice`` when it can speak the language
    (or nobody can tell), else the language's default; None (Twilio chooses) when there is
    neither."""
    if voice is not None and speaks(voice, language) is not False:
        return voice
    return default_voice(language)
