"""Cleaning values from the internet: whatever arrives, what is kept is storable and printable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.cleaning import bounded_int, clean_text, url_without_secrets


@given(st.text(), st.integers(min_value=0, max_value=100))
def test_cleaned_text_has_no_control_characters_or_surrogates_and_fits(
    value: str, limit: int
) -> None:
    cleaned = clean_text(value, limit)
    assert len(cleaned) <= limit
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in cleaned)
    cleaned.encode("utf-8")  # no lone surrogate: raises if there is one


@given(
    st.text(st.characters(max_codepoint=0xA0, exclude_categories=())) | st.text(),
    st.integers(min_value=0, max_value=100),
)
def test_clean_text_drops_exactly_the_unstorable_characters(value: str, limit: int) -> None:
    # Printable ASCII skips the search; it must come out as the search would leave it.
    kept = "".join(
        c
        for c in value
        if not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF)
    )
    assert clean_text(value, limit) == kept[:limit]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+819012345678", "+819012345678"),
        ("+8190\x001234", "+81901234"),
        ("client:alice\r\nX-Forged: 1", "client:aliceX-Forged: 1"),
        ("山田　太郎 ☎", "山田　太郎 ☎"),  # any script, the ideographic space, symbols: kept
        ("\ud800abc", "abc"),
    ],
)
def test_clean_text_keeps_what_can_be_stored(value: str, expected: str) -> None:
    assert clean_text(value, 64) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        ("0", 0),
        ("-1", None),
        ("99999999999999999999", None),
        ("2147483648", None),
        ("١٢", None),  # digits int() would accept, Twilio never sends
        (" 12", None),
        ("", None),
        (None, None),
        ("12.5", None),
    ],
)
def test_bounded_int(value: str | None, expected: int | None) -> None:
    assert bounded_int(value, 0, 2**31 - 1) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ivr.example.com/twilio/incoming", "https://ivr.example.com/twilio/incoming"),
        ("https://user:pass@ivr.example.com:8443/a?token=x#f", "https://ivr.example.com:8443/a"),
        ("https://ivr.example.com?x=1", "https://ivr.example.com"),
        ("https://a@b@ivr.example.com/p", "https://ivr.example.com/p"),
        ("user:secret@ivr.example.com/p?q", "ivr.example.com/p"),
        ("", ""),
        ("not a url", "not a url"),
    ],
)
def test_url_without_secrets(url: str, expected: str) -> None:
    assert url_without_secrets(url) == expected


@given(st.text())
def test_no_query_or_credentials_survive(url: str) -> None:
    kept = url_without_secrets(url)
    assert "?" not in kept and "#" not in kept
    assert "@" not in kept.split("/", 3)[2 if "://" in kept else 0]
