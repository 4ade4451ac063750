"""The hand-written signature is the twilio library's, for every form Twilio can send.

The library is the reference: each property computes both and compares them.
"""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from backline.core.forms import parse_form
from backline.core.signatures import TwilioSigner, twilio_signature

tokens = st.text(min_size=1, max_size=40)
urls = st.builds(
    lambda host, path, query: f"https://{host}{path}" + (f"?{urlencode(query)}" if query else ""),
    st.sampled_from(["example.com", "example.com:8443", "backline.example.org"]),
    st.sampled_from(["/twilio/voice/fallback", "/twilio/voice/dial-status/", "/a b/é"]),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
# Names that sort differently by case, by accents and by length, and blank values (signed too).
names = st.one_of(
    st.sampled_from(["To", "to", "TO", "From", "Fromage", "Called", "CallSid", "É", "é", "_"]),
    st.text(max_size=12),
)
forms = st.dictionaries(names, st.text(max_size=30), max_size=30)


@settings(max_examples=500)
@given(tokens, urls, forms)
def test_equals_the_library_for_any_form(token: str, url: str, form: dict[str, str]) -> None:
    expected = RequestValidator(token).compute_signature(url, form)
    assert twilio_signature(token, url, form) == expected


@settings(max_examples=300)
@given(tokens, urls, forms)
def test_what_it_computes_passes_the_library_check(
    token: str, url: str, form: dict[str, str]
) -> None:
    signature = twilio_signature(token, url, form)
    assert RequestValidator(token).validate(url, form, signature)


@given(tokens, urls, forms)
def test_equals_the_library_over_a_form_as_it_arrives(
    token: str, url: str, form: dict[str, str]
) -> None:
    # The body as Twilio encodes it, parsed as the answer path parses it.
    parsed = parse_form(urlencode(form))
    expected = RequestValidator(token).compute_signature(url, parsed)
    assert twilio_signature(token, url, parsed) == expected


def test_twilios_published_example() -> None:
    # The example in Twilio's webhook security documentation.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert RequestValidator("12345").compute_signature(url, params) == (
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


def test_a_get_signs_the_url_alone() -> None:
    url = "https://example.com/twilio/voice/fallback?CallSid=CA1&To=%2B815012345678"
    assert twilio_signature("t" * 32, url, {}) == RequestValidator("t" * 32).compute_signature(
        url, {}
    )


def test_any_change_changes_it() -> None:
    url = "https://example.com/twilio/voice/fallback"
    form = {"To": "+815012345678", "From": "+819012345678"}
    base = twilio_signature("k", url, form)
    assert twilio_signature("K", url, form) != base
    assert twilio_signature("k", url + "/", form) != base
    assert twilio_signature("k", url, {**form, "To": "+815012345679"}) != base
    assert twilio_signature("k", url, {**form, "Extra": ""}) != base


@given(tokens, st.lists(st.tuples(urls, forms), min_size=1, max_size=5))
def test_one_signer_signs_many_requests_alike(
    token: str, requests: list[tuple[str, dict[str, str]]]
) -> None:
    # The keyed HMAC is copied for each request: no request leaves anything in it.
    signer = TwilioSigner(token)
    validator = RequestValidator(token)
    for url, form in requests * 2:
        assert signer.signature(url, form) == validator.compute_signature(url, form)
