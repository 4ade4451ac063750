"""`backline numbers export` and `numbers import`: the table as a file and back, all or
nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backline.cli import app
from backline.core.models import Route
from backline.imports.rows import RawRow
from backline.manage import bulk
from backline.manage.engine import make_engine
from tests.cli import answer_table, as_json, invoke, ok

runner = CliRunner()
A, B, C = "+815012345601", "+815012345602", "+815012345603"
DEST, DEST2 = "+81312345678", "+81698765432"


def _table(database_url: str) -> None:
    ok(
        database_url,
        "numbers",
        "add",
        A,
        "-f",
        DEST,
        "-f",
        "sip:desk@pbx.example.com;transport=tls",
        "--client",
        "Acme",
        "--new-client",
        "--mode",
        "sequential",
        "--ring-timeout",
        "20",
    )
    ok(
        database_url,
        "numbers",
        "add",
        B,
        "-f",
        DEST2,
        "--message",
        'Sorry, "closed", bye',
        "--language",
        "en-US",
        "--voice",
        "Polly.Joanna",
        "--caller-id",
        "+815012345609",
        "--disabled",
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("form", ["csv", "json"])
def test_export_then_import_changes_nothing(database_url: str, tmp_path: Path, form: str) -> None:
    _table(database_url)
    before = answer_table(database_url)
    exported = ok(database_url, "numbers", "export", "--format", form)
    path = write(tmp_path, f"numbers.{form}", exported)

    result = ok(database_url, "numbers", "import", path, "--prune")

    assert result == "nothing to change: 0 added, 0 changed, 0 removed, 2 unchanged\n"
    assert answer_table(database_url) == before


def test_the_export_holds_every_column(database_url: str) -> None:
    _table(database_url)

    csv_text = ok(database_url, "numbers", "export")
    document = json.loads(ok(database_url, "numbers", "export", "--format", "json"))

    assert csv_text.splitlines() == [
        "number,client,destinations,mode,ring_timeout,caller_id,message,language,voice,enabled",
        f'{A},Acme,"{DEST}, sip:desk@pbx.example.com;transport=tls",sequential,20,'
        "twilio-number,,,,true",
        f'{B},,{DEST2},simultaneous,30,+815012345609,"Sorry, ""closed"", bye",en-US,'
        "Polly.Joanna,false",
    ]
    assert document[1] == {
        "number": B,
        "client": None,
        "destinations": [DEST2],
        "mode": "simultaneous",
        "ring_timeout": 30,
        "caller_id": "+815012345609",
        "message": 'Sorry, "closed", bye',
        "language": "en-US",
        "voice": "Polly.Joanna",
        "enabled": False,
    }


def test_dry_run_shows_the_difference_and_writes_nothing(database_url: str, tmp_path: Path) -> None:
    _table(database_url)
    before = answer_table(database_url)
    path = write(
        tmp_path,
        "edit.csv",
        "number,destinations,client,ring_timeout\n"
        f"+81 50-1234-5601,{DEST},acme,25\n"  # the client in another case is the same client
        f"{C},{DEST2},Acme Ltd,\n",
    )

    out = ok(database_url, "numbers", "import", path, "--dry-run", "--prune")

    assert out.splitlines() == [
        f"+ {C} -> {DEST2} (simultaneous, 30 s, client Acme Ltd (new))",
        f"~ {A}",
        f"    forward to:   {DEST}, sip:desk@pbx.example.com;transport=tls -> {DEST}",
        "    ring timeout: 20 s -> 25 s",
        f"- {B} (was forwarded to {DEST2})",
        "dry run, nothing written: 1 added, 1 changed, 1 removed, 0 unchanged, 1 new client",
    ]
    assert answer_table(database_url) == before

    without_prune = ok(database_url, "numbers", "import", path, "--dry-run")
    assert "1 number of the table not in " in without_prune and "(--prune removes it)" in (
        without_prune
    )

    applied = ok(database_url, "numbers", "import", path, "--prune")
    assert applied.splitlines()[-1] == (
        "imported: 1 added, 1 changed, 1 removed, 0 unchanged, 1 new client"
    )
    routes, _ = answer_table(database_url)
    assert routes == {
        A: Route(A, (DEST,), mode="sequential", ring_timeout=25, client="Acme"),
        C: Route(C, (DEST2,), client="Acme Ltd"),
    }


def test_every_bad_row_is_named_and_nothing_is_written(database_url: str, tmp_path: Path) -> None:
    _table(database_url)
    before = answer_table(database_url)
    path = write(
        tmp_path,
        "bad.csv",
        "number,destinations,mode,language,voice,enabled,ring_timeout\n"
        f"{C},{DEST},,,,,\n"  # fine, but not written: the others are not
        f"{A},{DEST},loud,,,,\n"
        f"12345,,,,,,\n"
        f"{B},{DEST2},,ja-JP,Polly.Joanna,maybe,3\n"
        f"+81 50-1234-5603,{DEST},,,,,\n",
    )

    result = invoke(database_url, "numbers", "import", path)

    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: row 3, mode: mode 'loud' is not one of: simultaneous, sequential",
        "error: row 4, number: number '12345' has no country code: write it in E.164 form (+, "
        "the country code, the number without its leading 0), or set BACKLINE_DEFAULT_REGION "
        "(for example JP) to type national numbers",
        "error: row 4, destinations: no destination given: forward to at least one number or "
        "sip: URI",
        "error: row 5, ring_timeout: ring timeout 3 is out of range: Twilio rings for 5 to 600 "
        "seconds",
        "error: row 5, enabled: 'maybe' is not true or false",
        "error: row 5, voice: voice Polly.Joanna cannot speak ja-JP (it speaks en-US); the "
        "voices for ja-JP are: Polly.Mizuki, Polly.Takumi, Polly.Takumi-Neural, "
        "Polly.Kazuha-Neural, Polly.Tomoko-Neural, Google.ja-JP-Standard-B, "
        "Google.ja-JP-Standard-C, Google.ja-JP-Standard-D, Google.ja-JP-Wavenet-B, "
        "Google.ja-JP-Wavenet-C, Google.ja-JP-Wavenet-D, Google.ja-JP-Neural2-B, "
        "Google.ja-JP-Neural2-C, Google.ja-JP-Neural2-D",
        f"error: row 6, number: {C} is also in row 2",
        "error: 7 problems in the rows; nothing was written",
    ]
    assert answer_table(database_url) == before


def test_a_voice_checked_against_the_language_the_number_keeps(
    sqlite_url: str, tmp_path: Path
) -> None:
    _table(sqlite_url)  # B speaks en-US
    path = write(tmp_path, "voice.csv", f"number,destinations,voice\n{B},{DEST2},Polly.Mizuki\n")

    result = invoke(sqlite_url, "numbers", "import", path)

    assert result.exit_code == 2
    assert "error: row 2, voice: voice Polly.Mizuki cannot speak en-US" in result.stderr


def test_a_failure_while_writing_leaves_the_table_as_it_was(database_url: str) -> None:
    _table(database_url)
    before = answer_table(database_url)
    rows = [
        RawRow("row 2", {"number": C, "destinations": DEST}),
        RawRow("row 3", {"number": A, "destinations": DEST2, "client": "Someone New"}),
    ]
    wanted, _ = bulk.validate(rows)
    engine = make_engine(database_url)

    def fail_late(_engine: object) -> None:
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        bulk.apply(engine, wanted, prune=True, then=fail_late)

    assert answer_table(database_url) == before
    assert [client["name"] for client in as_json(database_url, "clients", "list")] == ["Acme"]
    engine.dispose()


def test_prune_with_an_empty_source_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    _table(sqlite_url)
    path = write(tmp_path, "empty.csv", "number,destinations\n")

    result = invoke(sqlite_url, "numbers", "import", path, "--prune")

    assert result.exit_code == 2
    assert "has no rows: with --prune that would remove every number; refused" in result.stderr
    assert len(answer_table(sqlite_url)[0]) == 2


def test_national_numbers_with_a_default_region_and_a_look_alike_client(
    sqlite_url: str, tmp_path: Path
) -> None:
    _table(sqlite_url)
    path = write(
        tmp_path,
        "jp.json",
        json.dumps([{"number": "050-1234-5603", "destination": "03-1234-5678", "client": "Acmee"}]),
    )

    result = runner.invoke(
        app,
        ["numbers", "import", path, "--database-url", sqlite_url],
        env={"BACKLINE_DEFAULT_REGION": "JP"},
    )

    assert result.exit_code == 0, result.output
    assert "warning: new client 'Acmee' looks like the existing 'Acme': a typo?" in result.stderr
    assert answer_table(sqlite_url)[0][C].destinations == ("+81312345678",)


def test_file_and_option_mistakes(sqlite_url: str, tmp_path: Path) -> None:
    def refused(*args: str) -> str:
        result = invoke(sqlite_url, "numbers", "import", *args)
        assert result.exit_code == 2, result.output
        return result.stderr

    assert "give a FILE to import, or --from-sql" in refused()
    assert "--from-sql needs --query" in refused("--from-sql", "postgresql://x@localhost/db")
    assert "cannot read" in refused(str(tmp_path / "missing.csv"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("number,destinations\n+815012345601,caf\xe9\n".encode("latin-1"))
    assert "is not UTF-8 text" in refused(str(latin))
    assert "--format 'xml' is not csv or json" in refused(str(latin), "--format", "xml")
    assert "--from-sql takes a PostgreSQL or MySQL/MariaDB URL" in refused(
        "--from-sql", "sqlite:///x.db", "--query", "SELECT 1"
    )
