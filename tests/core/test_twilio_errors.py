"""The explanations of Twilio's fallback error codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.twilio_errors import EXPLAINED, explain, url_host

COMMON = ("11200", "11201", "11202", "11203", "11205", "11210", "11216", "11770", "12100", "12300")


@pytest.mark.parametrize("code", sorted(EXPLAINED))
@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_known_code_has_its_own_explanation(code: str, language: str) -> None:
    text = explain(code, language)  # type: ignore[arg-type]
    assert text
    assert code not in text  # the words, not "see error 11200"
    others = {explain(other, language) for other in EXPLAINED if other != code}  # type: ignore[arg-type]
    assert text not in others


@pytest.mark.parametrize("code", COMMON)
def test_the_common_codes_are_explained(code: str) -> None:
    assert code in EXPLAINED


def test_japanese_and_english_differ() -> None:
    for code in EXPLAINED:
        assert explain(code, "ja") != explain(code, "en")


def test_an_unknown_code_points_to_twilio() -> None:
    assert "99999" in explain("99999", "en")
    assert "twilio.com/docs/api/errors/99999" in explain("99999", "ja")


def test_no_code_no_text() -> None:
    assert explain("", "en") == ""
    assert explain("  ", "ja") == ""


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://app.example.com/twilio/voice?token=secret", "app.example.com"),
        ("http://10.0.0.1:8080/x", "10.0.0.1"),
        ("", ""),
        ("not a url", ""),
        ("https://[::1", ""),
    ],
)
def test_url_host_shows_only_the_host(url: str, host: str) -> None:
    assert url_host(url) == host


@given(st.text())
def test_url_host_never_raises_and_never_leaks_a_query(url: str) -> None:
    host = url_host(url)
    assert "?" not in host
    assert "/" not in host
