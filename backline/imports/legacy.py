"""A folder of old per-number TwiML files (a downloaded S3 bucket, say) as rows to import.

Each file's Twilio number comes from a mapping CSV (``--map``: columns ``file``, ``number`` and
optionally ``client``; ``file`` is the path under the folder given, or the bare file name) or
else from the file's name: ``+815012345678.xml``, ``%2B815012345678.xml`` (as S3 keys are
encoded), ``815012345678.xml`` (digits not starting with 0 have their country code),
``050-1234-5678.twiml`` (a national number: BACKLINE_DEFAULT_REGION); a file named ``index.xml``
or the like takes its folder's name. Hidden files are skipped.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from backline.imports.rows import MAX_ROWS, Cell, RawRow, SourceError
from backline.imports.twiml import MAX_BYTES, LegacyRoute, NotMapped, parse

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "FileResult",
    "Mapping",
    "SmsChannel",
    "add_channels",
    "missing_channels",
    "number_in_name",
    "read_map",
    "row_of",
    "scan",
]

_PHONE_LIKE = re.compile(r"\+?[0-9][0-9 ()\-.]{5,30}")


@dataclass(frozen=True, slots=True)
class Mapping:
    number: str
    client: str | None = None


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file: the number it is for and the route it holds, or the reason it maps to none."""

    path: str  # as shown: relative to the folder given
    number: str | None = None
    route: LegacyRoute | None = None
    client: str | None = None
    problem: str | None = None
    notes: tuple[str, ...] = field(default=())


def number_in_name(name: str) -> str | None:
    """The phone number a file name holds, as text to parse, or None."""
    stem = unquote(name)
    while True:  # "+815012345678.twiml.xml": every extension off, the number's dots kept
        base, dot, suffix = stem.rpartition(".")
        if not (dot and base and any(c.isalpha() for c in suffix)):
            break
        stem = base
    stem = stem.strip()
    if not _PHONE_LIKE.fullmatch(stem):
        return None
    if stem.startswith("+"):
        return stem
    digits = "".join(c for c in stem if c.isdigit())
    # Digits only, no leading 0: the country code is there, without its "+".
    return stem if stem.startswith("0") or not stem.isdigit() else "+" + digits


def read_map(text: str) -> dict[str, Mapping]:
    """The mapping CSV: ``file,number[,client]`` with a header line."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    names = [name.strip().lower() for name in reader.fieldnames or ()]
    if "file" not in names or "number" not in names:
        raise SourceError("the mapping file needs a header line naming file and number columns")
    reader.fieldnames = names
    mapping: dict[str, Mapping] = {}
    for row in reader:
        key = (row.get("file") or "").strip()
        number = (row.get("number") or "").strip()
        if not key or not number:
            raise SourceError(f"the mapping file's row {reader.line_num} needs a file and a number")
        if key in mapping:
            raise SourceError(f"the mapping file names {key!r} twice")
        client = (row.get("client") or "").strip() or None
        mapping[key] = Mapping(number, client)
        if len(mapping) > MAX_ROWS:
            raise SourceError(f"the mapping file has more than {MAX_ROWS} rows")
    return mapping


def _printable(text: str) -> str:
    """A name from the bucket as it may be printed: a control character (an escape sequence in
    a file name) shown as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _files(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """(file, how it is shown) for every file given or under every folder given."""
    for path in paths:
        if path.is_file():
            yield path, path.name
            continue
        if not path.is_dir():
            raise SourceError(f"{path} is neither a file nor a folder")
        for folder, folders, files in os.walk(path):
            folders[:] = sorted(name for name in folders if not name.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    full = Path(folder) / name
                    yield full, full.relative_to(path).as_posix()


def scan(paths: Sequence[Path], mapping: dict[str, Mapping] | None = None) -> list[FileResult]:
    """Read every file: each one's number (from the mapping, else its name) and route."""
    mapping = mapping or {}
    results: list[FileResult] = []
    used: set[str] = set()
    for full, relative in _files(paths):
        if len(results) >= MAX_ROWS:
            raise SourceError(f"more than {MAX_ROWS} files: import the folder in parts")
        shown = _printable(relative)
        mapped = mapping.get(relative) or mapping.get(full.name)
        number: str | None
        if mapped is not None:
            used.add(relative if relative in mapping else full.name)
            number, client = mapped.number, mapped.client
        else:
            number = number_in_name(full.name) or number_in_name(full.parent.name)
            client = None
        try:
            with full.open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except OSError as error:
            results.append(FileResult(shown, number, problem=f"cannot read: {error.strerror}"))
            continue
        try:
            route = parse(data)
        except NotMapped as reason:
            results.append(FileResult(shown, number, client=client, problem=str(reason)))
            continue
        if number is None:
            problem = "no number in its name: give it in the mapping file (--map)"
            results.append(FileResult(shown, None, route, client, problem, route.notes))
            continue
        results.append(FileResult(shown, number, route, client, notes=route.notes))
    unused = sorted(set(mapping) - used)
    if unused:
        shown_unused = ", ".join(unused[:5]) + (" ..." if len(unused) > 5 else "")
        raise SourceError(f"the mapping file names files that are not there: {shown_unused}")
    return results


def row_of(result: FileResult) -> RawRow:
    """A mapped file as a row for the import. Only what the file says is given: a file without
    a ``<Say>`` leaves an existing number's message as it is."""
    route = result.route
    assert route is not None and result.number is not None
    cells: dict[str, Cell] = {
        "number": result.number,
        "destinations": route.destinations,
        "mode": route.mode,
    }
    if route.ring_timeout is not None:
        cells["ring_timeout"] = route.ring_timeout
    if route.caller_id is not None:
        cells["caller_id"] = route.caller_id
    if route.message is not None:
        cells["message"] = route.message
        cells["language"] = route.language
        cells["voice"] = route.voice
    if result.client is not None:
        cells["client"] = result.client
    return RawRow(result.path, cells)


# --- SMS channels ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsChannel:
    """An on-call phone a legacy file told by SMS: for its client's calls, or every call."""

    target: str
    client: str | None

    @property
    def scope(self) -> str:
        return f"{self.client}'s calls" if self.client else "every call"


def _covers(existing_target: str, existing_client: str | None, wanted: SmsChannel) -> bool:
    if existing_target != wanted.target:
        return False
    if existing_client is None or wanted.client is None:
        return True  # a global channel hears every call; a global one may not be added beside
    return existing_client.casefold() == wanted.client.casefold()


def missing_channels(engine: Engine, wanted: Sequence[SmsChannel]) -> list[SmsChannel]:
    """The SMS channels among ``wanted`` that no channel of the table already covers."""
    from backline.manage.channels import list_channels

    existing = [
        (entry.spec.target, entry.spec.client)
        for entry in list_channels(engine)
        if entry.spec.kind == "sms"
    ]
    missing: list[SmsChannel] = []
    for channel in dict.fromkeys(wanted):
        if not any(_covers(target, client, channel) for target, client in existing):
            missing.append(channel)
            existing.append((channel.target, channel.client))
    return missing


def add_channels(engine: Engine, channels: Sequence[SmsChannel]) -> None:
    from backline.manage.channels import add_channel

    for channel in channels:
        add_channel(engine, "sms", channel.target, client=channel.client)
