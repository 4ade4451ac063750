from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core import validation as v


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+815012345678", "+815012345678"),
        (" +81 50-1234-5678 ", "+815012345678"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_e164_accepts_and_normalises(raw: str, expected: str) -> None:
    assert v.e164(raw) == expected


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("0312345678", "+81312345678"),
        ("815012345678", "+815012345678"),
        ("+0123", "E.164"),
        ("+8150123456789012", "E.164"),
        ("abc", "E.164"),
        ("", "E.164"),
        ('+81"/><Dial>', "E.164"),
    ],
)
def test_e164_refusals_say_what_would_be_right(raw: str, hint: str) -> None:
    with pytest.raises(v.InvalidValue) as error:
        v.e164(raw)
    assert hint in str(error.value)


@given(st.text())
def test_anything_accepted_as_e164_is_plain_digits(raw: str) -> None:
    try:
        value = v.e164(raw)
    except v.InvalidValue:
        return
    assert value[0] == "+" and value[1:].isdigit() and len(value) <= 16


@pytest.mark.parametrize("raw", ["sip:desk@pbx.example.com", "sips:100@10.0.0.5:5061"])
def test_sip_destinations(raw: str) -> None:
    assert v.destination(raw) == raw


@pytest.mark.parametrize("raw", ["sip:nohost", "sip:a b@c", "sip:<x>@y", "tel:+8150"])
def test_bad_destinations(raw: str) -> None:
    with pytest.raises(v.InvalidValue):
        v.destination(raw)


@pytest.mark.parametrize(
    ("raw", "ok"),
    [(5, True), (600, True), (4, False), (601, False), ("30", True), ("thirty", False)],
)
def test_ring_timeout_range_is_twilios(raw: int | str, ok: bool) -> None:
    if ok:
        assert v.ring_timeout(raw) == int(raw)
    else:
        with pytest.raises(v.InvalidValue):
            v.ring_timeout(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ja-JP", "ja-JP"), ("ja-jp", "ja-JP"), ("en-US", "en-US"), ("cmn-CN", "cmn-CN")],
)
def test_languages(raw: str, expected: str) -> None:
    assert v.language(raw) == expected


@pytest.mark.parametrize("raw", ["ja", "japanese", "ja_JP", "ja-JP-x", ""])
def test_bad_languages(raw: str) -> None:
    with pytest.raises(v.InvalidValue):
        v.language(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "man",
        "Polly.Mizuki",
        "Polly.Takumi-Neural",
        "Google.ja-JP-Standard-B",
        "Google.ja-JP-Neural2-B",
        "Google.en-US-Chirp3-HD-Aoede",
    ],
)
def test_voices(raw: str) -> None:
    assert v.voice(raw) == raw


@pytest.mark.parametrize(
    "raw", ["Mizuki", "polly.mizuki", "Polly.", "Google.ja-JP", "robot", "alice"]
)
def test_bad_voices(raw: str) -> None:
    with pytest.raises(v.InvalidValue) as error:
        v.voice(raw)
    assert "Polly.Mizuki" in str(error.value)


def test_messages_and_modes_and_caller_ids() -> None:
    assert v.message("  hello ") == "hello"
    with pytest.raises(v.InvalidValue):
        v.message("   ")
    with pytest.raises(v.InvalidValue):
        v.message("x" * (v.MESSAGE_MAX_LENGTH + 1))
    assert v.mode("Sequential") == "sequential"
    with pytest.raises(v.InvalidValue):
        v.mode("round-robin")
    assert v.caller_id_policy("CALLER") == "caller"
    assert v.caller_id_policy("+81 50 1111 2222") == "+815011112222"
    with pytest.raises(v.InvalidValue):
        v.caller_id_policy("me")


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("https://hooks.slack.com/services/T/B/X", True),
        ("http://127.0.0.1:9000/hook", True),
        ("ftp://example.com", False),
        ("https://", False),
        ("hooks.slack.com/services", False),
        ("https://exa mple.com", False),
    ],
)
def test_http_urls(raw: str, ok: bool) -> None:
    if ok:
        assert v.http_url(raw) == raw
    else:
        with pytest.raises(v.InvalidValue):
            v.http_url(raw)


@pytest.mark.parametrize(
    ("language", "voice"),
    [
        ("ja-JP", "Polly.Mizuki"),
        ("ja-JP", "Polly.Kazuha-Neural"),
        ("ja-JP", "Google.ja-JP-Neural2-C"),
        ("en-US", "Polly.Joanna"),
        ("en-US", "Polly.Matthew-Neural"),
        ("en-US", "man"),
        ("fr-FR", "Polly.Lea"),  # a language the table does not know: not refused
        ("fr-FR", "Google.fr-FR-Wavenet-A"),
    ],
)
def test_voices_that_speak_the_language(language: str, voice: str) -> None:
    assert v.voice_for_language(language, voice) == voice


@pytest.mark.parametrize(
    ("language", "voice", "listed"),
    [
        ("en-US", "Polly.Mizuki", "Polly.Joanna"),
        ("ja-JP", "Polly.Joanna", "Polly.Mizuki"),
        ("ja-JP", "man", "Polly.Takumi-Neural"),
        ("ja-JP", "Google.en-US-Neural2-A", "Google.ja-JP-Neural2-B"),
        ("ja-JP", "Polly.Nobody", "Polly.Mizuki"),
        ("fr-FR", "Polly.Mizuki", "ja-JP"),
        ("fr-FR", "Google.de-DE-Wavenet-A", "de-DE"),
    ],
)
def test_a_voice_that_cannot_speak_the_language_is_refused_with_the_choices(
    language: str, voice: str, listed: str
) -> None:
    with pytest.raises(v.InvalidValue) as error:
        v.voice_for_language(language, voice)
    assert listed in str(error.value) and voice in str(error.value)


def test_every_language_in_the_table_has_a_default_that_speaks_it() -> None:
    from backline.core.voices import VOICES, languages_of

    assert {"ja-JP", "en-US"} <= set(VOICES)
    for language, entry in VOICES.items():
        assert entry.default in entry.voices
        for name in entry.voices:
            assert v.voice(name) == name
            assert language in languages_of(name)
    assert "alice" not in {name for entry in VOICES.values() for name in entry.voices}


@pytest.mark.parametrize(
    "raw",
    ["sip:desk\x00@pbx.example.com", "sip:desk@pbx.example.com\x07", "sip:a@b\r\nX-Evil: 1"],
)
def test_control_characters_in_a_sip_destination_are_refused(raw: str) -> None:
    with pytest.raises(v.InvalidValue) as error:
        v.destination(raw)
    assert "control characters" in str(error.value) or "SIP URI" in str(error.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://voice.example.com", "https://voice.example.com"),
        ("https://voice.example.com/", "https://voice.example.com"),
        ("https://abc.execute-api.ap-northeast-1.amazonaws.com/Prod/", None),
        ("https://voice.example.com/twilioapp", "https://voice.example.com/twilioapp"),
    ],
)
def test_public_base_urls(raw: str, expected: str | None) -> None:
    assert v.public_base_url(raw) == (expected or raw.rstrip("/"))


@pytest.mark.parametrize(
    ("raw", "words", "suggested"),
    [
        ("https://voice.example.com/?x=1", "?query", "https://voice.example.com/"),
        ("https://voice.example.com#ct=1000", "#fragment", "https://voice.example.com"),
        (
            "https://voice.example.com/twilio/voice/fallback",
            "backline's own path",
            "here https://voice.example.com ",
        ),
        (
            "https://abc.execute-api.ap-northeast-1.amazonaws.com/Prod/twilio/voice/fallback/",
            "backline's own path",
            "here https://abc.execute-api.ap-northeast-1.amazonaws.com/Prod ",
        ),
        ("https://voice.example.com/twilio", "backline's own path", "https://voice.example.com "),
        (
            "https://voice.example.com/x/twilio/voice/dial-status",
            "backline's own path",
            "https://voice.example.com/x ",
        ),
    ],
)
def test_public_urls_that_cannot_be_signed_over_are_refused(
    raw: str, words: str, suggested: str
) -> None:
    with pytest.raises(v.InvalidValue) as error:
        v.public_base_url(raw)
    message = str(error.value)
    assert "BACKLINE_PUBLIC_URL" in message and words in message and suggested in message
