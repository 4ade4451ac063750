"""Values from the internet, made safe to store, log and show. Pure functions, no I/O.

Everything Twilio forwards is ultimately typed by someone else: a caller's SIP client, a carrier,
the primary's error URL. A value that the database refuses (PostgreSQL will not store a NUL in
text; an integer column has a range) must never reach it, or the record would be stuck in the
local journal; a control character must never reach a log line, where it could forge another.
"""

from __future__ import annotations

import re

__all__ = ["bounded_int", "clean_text", "url_without_secrets"]

# C0 and C1 control characters (NUL, CR, LF, ESC, ...) and lone surrogates, which no encoding
# can carry. Everything else (any script, emoji, the ideographic space) is kept.
_UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A whole number as Twilio writes one: ASCII digits only (``int()`` would also take "١٢" or
# " 12 "), and short enough that parsing it costs nothing.
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def clean_text(value: str, limit: int) -> str:
    """``value`` without control characters or lone surrogates, cut to ``limit`` characters."""
    if value.isascii() and value.isprintable():
        # (Nearly every value: printable ASCII holds none of _UNSTORABLE's characters, and
        # these two tests cost a fraction of the search.)
        return value[:limit]
    if _UNSTORABLE.search(value) is not None:
        value = _UNSTORABLE.sub("", value)
    return value[:limit]


def bounded_int(value: str | None, low: int, high: int) -> int | None:
    """The whole number in ``value`` when it lies in ``low..high``, else None."""
    if not value or _INTEGER.fullmatch(value) is None:
        return None
    number = int(value)
    return number if low <= number <= high else None


def url_without_secrets(url: str) -> str:
    """``url`` without user, password, query or fragment: what may be stored and shown.

    The primary's ErrorUrl may carry credentials (``https://user:pass@ivr.example.com``) or a
    token in its query; the scheme, host, port and path are what tells the team which app failed.
    """
    text = url.strip()
    for mark in ("?", "#"):
        text = text.partition(mark)[0]
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]
    return f"{scheme}{separator}{authority}{slash}{path}"
