from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode

from hypothesis import given
from hypothesis import strategies as st

from backline.core.forms import parse_form


@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_round_trips_what_twilio_encodes(form: dict[str, str]) -> None:
    assert parse_form(urlencode(form)) == form


@given(st.text(alphabet=st.sampled_from("ab=&%+2B019cé;/ ²"), max_size=40))
def test_decodes_anything_exactly_like_the_standard_library(body: str) -> None:
    assert parse_form(body) == dict(parse_qsl(body, keep_blank_values=True))


def test_plus_and_percent_and_blanks() -> None:
    body = f"From={quote('+819012345678')}&CallerName=&Note=a+b&Empty"
    assert parse_form(body) == {
        "From": "+819012345678",
        "CallerName": "",
        "Note": "a b",
        "Empty": "",
    }


def test_decoded_pieces_are_remembered_within_a_bound() -> None:
    from backline.core import forms

    url = quote("https://ivr.example.com/twilio/incoming?a=1&b=2", safe="")
    for _ in range(2):  # the second time from what was remembered: the same
        assert parse_form(f"ErrorUrl={url}") == {
            "ErrorUrl": "https://ivr.example.com/twilio/incoming?a=1&b=2"
        }
    for index in range(3 * forms._DECODED_MAX):
        assert parse_form(f"Note=a+{index}") == {"Note": f"a {index}"}
    assert len(forms._decoded) <= forms._DECODED_MAX
    long_piece = "x+" * forms._DECODED_LENGTH
    assert parse_form(f"Long={long_piece}") == {"Long": "x " * forms._DECODED_LENGTH}
    assert long_piece not in forms._decoded
