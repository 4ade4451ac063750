"""Passwords kept out of everything backline prints or logs. Pure, standard library only.

One function, :func:`mask_password`, for every place that may show a database URL: the URL
itself, or an error message that quotes it (SQLAlchemy's "could not parse URL" repeats the
whole string, password included).
"""

from __future__ import annotations

import re

__all__ = ["MASK", "mask_password"]

MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# Where a URL quoted in a message ends: white space, a quote, or a closing bracket.
_URL_END = re.compile(r"[\s'\"<>()\[\]{}]")
# libpq's keyword form (``host=db password=secret``), which a driver may quote in an error.
_KEYWORD = re.compile(r"(?i)\b(password|passwd)(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s,;)]+)")


def mask_password(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it masked.

    A password written without percent-encoding may itself hold ``@``, ``/`` or ``:``; the
    mask then covers everything up to the last ``@`` of the URL, so that no part of it shows
    (more of the URL hidden, never less of the password).
    """
    pieces: list[str] = []
    done = 0
    for match in _SCHEME.finditer(text):
        if match.start() < done:
            continue
        start = match.end()
        end_match = _URL_END.search(text, start)
        end = end_match.start() if end_match else len(text)
        at = text.rfind("@", start, end)
        if at < 0:
            continue
        user, colon, _password = text[start:at].partition(":")
        if not colon:
            continue  # a user and no password: nothing secret
        pieces.append(text[done:start] + user + ":" + MASK)
        done = at
    pieces.append(text[done:])
    return _KEYWORD.sub(lambda m: m.group(1) + m.group(2) + MASK, "".join(pieces))
