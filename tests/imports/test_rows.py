"""Files read as rows: the columns both ways, and what makes a file unreadable."""

from __future__ import annotations

import pytest

from backline.imports.rows import RawRow, SourceError, read_csv, read_json, read_records


def test_csv_rows_are_named_as_a_spreadsheet_shows_them() -> None:
    rows = read_csv(
        "\ufeffTwilio Number,Destination,Client,ring-timeout\n"
        '+815012345678,"+81312345678, +81698765432", Acme ,\n'
        "\n"
        "+815012345679,+81312345678\n"
    )
    assert rows == [
        RawRow(
            "row 2",
            {
                "number": "+815012345678",
                "destinations": "+81312345678, +81698765432",
                "client": "Acme",
                "ring_timeout": None,
            },
        ),
        RawRow(
            "row 4",
            {
                "number": "+815012345679",
                "destinations": "+81312345678",
                "client": None,
                "ring_timeout": None,
            },
        ),
    ]


def test_json_items() -> None:
    rows = read_json(
        '[{"number": "+815012345678", "destinations": ["+81312345678", " "], '
        '"ring_timeout": 20, "enabled": false, "message": null}]'
    )
    assert rows == [
        RawRow(
            "item 1",
            {
                "number": "+815012345678",
                "destinations": ("+81312345678",),
                "ring_timeout": "20",
                "enabled": "false",
                "message": None,
            },
        )
    ]


def test_query_results() -> None:
    rows = read_records(["TWILIO_NUMBER", "destination"], [(815012345678, b"+81312345678")])
    assert rows == [
        RawRow("result row 1", {"number": "815012345678", "destinations": "+81312345678"})
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty"),
        ("number,colour\n", "column 'colour' is not one backline imports"),
        ("number\n+815012345678\n", "there is no 'destinations' column"),
        ("number,destination,forward_to\n", "column 'destinations' is given twice"),
        ("number,destinations\n+815012345678,+81312345678,extra\n", "row 2 has 3 cells"),
    ],
)
def test_unreadable_csv(text: str, reason: str) -> None:
    with pytest.raises(SourceError, match=reason):
        read_csv(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not a JSON file"),
        ('{"number": "+815012345678"}', "must hold a list"),
        ('["+815012345678"]', "item 1 is not an object"),
        ('[{"number": "+1", "destinations": [1]}]', "item 1, destinations: every destination"),
        ('[{"number": {"a": 1}, "destinations": "+1"}]', "item 1, number: must be text"),
    ],
)
def test_unreadable_json(text: str, reason: str) -> None:
    with pytest.raises(SourceError, match=reason):
        read_json(text)
