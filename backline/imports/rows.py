"""Rows of numbers as files hold them: CSV and JSON, the same columns both ways.

``numbers export`` writes every column; ``numbers import`` reads any subset of them (the
number and its destinations at least). A column left out keeps each existing number's value
(and gives a new number the default); a column present with an empty cell means "the default"
(no client, the default message, ...). Destinations are one cell, separated by commas (a
``sip:`` URI may hold semicolons, never a comma); in JSON they may also be a list.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backline.manage.numbers import NumberEntry

__all__ = [
    "COLUMNS",
    "MAX_ROWS",
    "Cell",
    "RawRow",
    "SourceError",
    "canonical_column",
    "export_csv",
    "export_json",
    "read_csv",
    "read_json",
    "read_records",
]

COLUMNS = (
    "number",
    "client",
    "destinations",
    "mode",
    "ring_timeout",
    "caller_id",
    "message",
    "language",
    "voice",
    "enabled",
)
# Other names a column may have: a client table's own, or how people say it.
_ALIASES = {
    "twilio_number": "number",
    "destination": "destinations",
    "forward_to": "destinations",
}
# A bound on what one import reads: far more than one company's numbers.
MAX_ROWS = 100_000

Cell = str | tuple[str, ...] | None


class SourceError(ValueError):
    """The source cannot be read as rows of numbers at all; the message says why."""


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as the source holds it: where it is (for messages) and the cells it has."""

    where: str
    cells: Mapping[str, Cell]


def canonical_column(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in COLUMNS:
        raise SourceError(
            f"column {name!r} is not one backline imports; the columns are {', '.join(COLUMNS)} "
            f"(twilio_number and destination are read as number and destinations)"
        )
    return key


def _columns(names: Sequence[str]) -> list[str]:
    columns = [canonical_column(name) for name in names]
    for column in set(columns):
        if columns.count(column) > 1:
            raise SourceError(f"column {column!r} is given twice")
    for needed in ("number", "destinations"):
        if needed not in columns:
            raise SourceError(f"there is no {needed!r} column")
    return columns


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    return cleaned or None


def read_csv(text: str) -> list[RawRow]:
    """Rows of a CSV file with a header line; ``row N`` is the line a spreadsheet shows."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise SourceError("the file is empty: the first line must name the columns")
        columns = _columns(header)
        rows: list[RawRow] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, as spreadsheets leave at the end
            where = f"row {reader.line_num}"
            if len(cells) > len(columns):
                raise SourceError(
                    f"{where} has {len(cells)} cells; the header names {len(columns)}"
                )
            padded = [*cells, *[""] * (len(columns) - len(cells))]
            rows.append(RawRow(where, {c: _text(v) for c, v in zip(columns, padded, strict=True)}))
            if len(rows) > MAX_ROWS:
                raise SourceError(f"more than {MAX_ROWS} rows: split the file")
    except csv.Error as error:
        raise SourceError(f"not a CSV file: line {reader.line_num}: {error}") from None
    return rows


def _json_cell(where: str, column: str, value: Any) -> Cell:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list) and column == "destinations":
        if not all(isinstance(item, str) for item in value):
            raise SourceError(f"{where}, destinations: every destination must be text")
        return tuple(item.strip() for item in value if item.strip())
    raise SourceError(f"{where}, {column}: must be text, a number, true/false or null")


def read_json(text: str) -> list[RawRow]:
    """A JSON list of objects (as ``numbers export --format json`` writes); ``item N``."""
    try:
        document = json.loads(text.removeprefix("\ufeff"))
    except ValueError as error:
        raise SourceError(f"not a JSON file: {error}") from None
    if not isinstance(document, list):
        raise SourceError("the JSON file must hold a list of numbers, [{...}, ...]")
    if len(document) > MAX_ROWS:
        raise SourceError(f"more than {MAX_ROWS} items: split the file")
    rows: list[RawRow] = []
    for index, item in enumerate(document, start=1):
        where = f"item {index}"
        if not isinstance(item, dict):
            raise SourceError(f"{where} is not an object with number, destinations, ...")
        columns = _columns(list(item))
        cells = {
            column: _json_cell(where, column, value)
            for column, value in zip(columns, item.values(), strict=True)
        }
        rows.append(RawRow(where, cells))
    return rows


def _record_cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(str(value))


def read_records(columns: Sequence[str], records: Iterable[Sequence[object]]) -> list[RawRow]:
    """Rows of a query's result; ``result row N``."""
    names = _columns(columns)
    rows = []
    for index, record in enumerate(records, start=1):
        cells = {name: _record_cell(value) for name, value in zip(names, record, strict=True)}
        rows.append(RawRow(f"result row {index}", cells))
    return rows


def _values(entry: NumberEntry) -> dict[str, Any]:
    return {
        "number": entry.number,
        "client": entry.client,
        "destinations": list(entry.destinations),
        "mode": entry.mode,
        "ring_timeout": entry.ring_timeout,
        "caller_id": entry.caller_id,
        "message": entry.message,
        "language": entry.language,
        "voice": entry.voice,
        "enabled": entry.enabled,
    }


def export_json(entries: Iterable[NumberEntry]) -> list[dict[str, Any]]:
    return [_values(entry) for entry in entries]


def export_csv(entries: Iterable[NumberEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        values = _values(entry)
        values["destinations"] = ", ".join(entry.destinations)
        values["enabled"] = "true" if entry.enabled else "false"
        writer.writerow("" if values[column] is None else values[column] for column in COLUMNS)
    return out.getvalue()
