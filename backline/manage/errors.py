"""The one family of errors of the management side (CLI, imports, a REST API).

Every failure of a management function is a :class:`ManageError`, whose message is a sentence
fit to show a person. :class:`InvalidValue` is what is wrong with a value given (and names the
field, so an API can point at it); the others are what the table cannot do.

:class:`InvalidValue` is also a :class:`backline.core.validation.InvalidValue`, so code that
catches the checks' own error catches this one too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from backline.core import validation

__all__ = [
    "AlreadyExists",
    "Ambiguous",
    "DatabaseError",
    "InUse",
    "InvalidValue",
    "ManageError",
    "NoSuchChannel",
    "NotFound",
    "SchemaMissing",
    "UnknownClient",
    "checked",
    "field",
]

T = TypeVar("T")
V = TypeVar("V")


class ManageError(Exception):
    """The table cannot do what was asked, or a value is wrong; the message says why."""


class InvalidValue(ManageError, validation.InvalidValue):
    """A value given is not acceptable. ``field`` names it (``ring_timeout``, ``setting``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ManageError):
    """The number, client or channel named does not exist."""


class UnknownClient(NotFound):
    """A number was to join a client that does not exist, and creating one was not asked for."""


class NoSuchChannel(NotFound, LookupError):
    """No channel has the id given."""


class AlreadyExists(ManageError):
    """A number or client of that name is already there."""


class Ambiguous(ManageError):
    """Several clients have the name given, each in a different case."""


class InUse(ManageError):
    """A client cannot be removed while numbers still belong to it."""


class SchemaMissing(ManageError):
    """The database has not been created or migrated yet."""


class DatabaseError(ManageError):
    """The database could not be reached or refused the statement."""


@contextmanager
def field(name: str) -> Iterator[None]:
    """Inside, a check's :class:`~backline.core.validation.InvalidValue` becomes this module's
    :class:`InvalidValue` for field ``name``, with the same message."""
    try:
        yield
    except InvalidValue:
        raise
    except validation.InvalidValue as error:
        raise InvalidValue(name, str(error)) from None


def checked(name: str, check: Callable[[V], T], value: V) -> T:
    """``check(value)``, its failure reported as :class:`InvalidValue` for field ``name``."""
    with field(name):
        return check(value)
