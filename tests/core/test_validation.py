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
        "alice",
        "Polly.Mizuki",
        "Polly.Takumi-Neural",
        "Google.ja-JP-Standard-A",
        "Google.ja-JP-Neural2-B",
    ],
)
def test_voices(raw: str) -> None:
    assert v.voice(raw) == raw


@pytest.mark.parametrize("raw", ["Mizuki", "polly.mizuki", "Polly.", "Google.ja-JP", "robot"])
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
