"""Phone numbers as people type them, read with the ``phonenumbers`` library.

Management side only: the answer path never imports this (the library costs a Lambda cold start
about 20 ms, and the answer only ever sees numbers stored here in E.164 form already).

``+81 3-1234-5678`` becomes ``+81312345678``; ``+810312345678`` (the trunk 0 kept after the
country code) becomes ``+81312345678`` with a note; an impossible number (``+999123``) is refused;
a number the library thinks invalid for its country is kept with a warning (its tables can lag
behind new ranges); a national number (``03-1234-5678``) needs BACKLINE_DEFAULT_REGION.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from backline.core import validation
from backline.core.validation import InvalidValue

__all__ = ["ParsedNumber", "parse_destination", "parse_number", "region_code"]

_E164 = PhoneNumberFormat.E164
# An example region for the message shown to someone who typed a national number without one.
_EXAMPLE_REGION = "JP"


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """A number in E.164 form, and what the person who typed it should be told (or None)."""

    value: str
    note: str | None = None


def region_code(region: str) -> str:
    """BACKLINE_DEFAULT_REGION checked against the library's regions ("" when unset)."""
    code = region.strip().upper()
    if code and code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidValue(
            f"BACKLINE_DEFAULT_REGION={region!r} is not a country the phone number library "
            f"knows; use a two-letter code such as JP or US"
        )
    return code


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def parse_number(value: str, *, region: str = "", what: str = "number") -> ParsedNumber:
    """Read ``value`` as a phone number; raise InvalidValue saying what is wrong."""
    typed = value.strip()
    if not typed:
        raise InvalidValue(f"{what} is empty")
    if not typed.isprintable():
        raise InvalidValue(f"{what} {value!r} contains control characters")
    code = region_code(region)
    international = typed.startswith("+")
    if not international and not code:
        raise InvalidValue(_national_without_region(typed, what))
    try:
        parsed = phonenumbers.parse(typed, None if international else code)
    except NumberParseException:
        raise InvalidValue(
            f"{what} {value!r} is not a phone number: write + and the country code, then the "
            f"number, for example +81312345678"
        ) from None
    e164 = phonenumbers.format_number(parsed, _E164)
    if not phonenumbers.is_possible_number(parsed) or not validation.is_e164(e164):
        raise InvalidValue(
            f"{what} {value!r} is not a possible phone number (too short, too long or no such "
            f"country code)"
        )
    notes: list[str] = []
    if international and _digits(typed) != e164[1:]:
        notes.append(
            f"note: {what} {typed!r} is stored as {e164}: in E.164 form the trunk 0 is dropped "
            f"after the country code"
        )
    elif not international:
        notes.append(f"note: {what} {typed!r} is stored as {e164} (region {code})")
    if not phonenumbers.is_valid_number(parsed):
        notes.append(
            f"warning: {e164} does not look like a number in use in its country; check it "
            f"(it is kept, as the library's tables can lag behind new number ranges)"
        )
    return ParsedNumber(e164, "\n".join(notes) or None)


def _national_without_region(typed: str, what: str) -> str:
    example = ""
    try:
        as_japanese = phonenumbers.parse(typed, _EXAMPLE_REGION)
        if phonenumbers.is_possible_number(as_japanese):
            example = (
                f"; for a Japanese number that is {phonenumbers.format_number(as_japanese, _E164)}"
            )
    except NumberParseException:
        pass
    return (
        f"{what} {typed!r} has no country code: write it in E.164 form (+, the country code, "
        f"the number without its leading 0){example}, or set BACKLINE_DEFAULT_REGION (for "
        f"example JP) to type national numbers"
    )


def parse_destination(value: str, *, region: str = "") -> ParsedNumber:
    """A forwarding destination: a ``sip:`` URI as it is (checked), or a phone number."""
    if validation.is_sip(value.strip()):
        return ParsedNumber(validation.destination(value))
    return parse_number(value, region=region, what="destination")
