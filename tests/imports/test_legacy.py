"""`backline import twiml` over a folder of old per-number TwiML files as they come out of an
S3 bucket: good ones, templated ones, malformed ones, and files that are not TwiML at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from backline.cli import app
from backline.core.models import Route
from backline.imports.legacy import Mapping, number_in_name, read_map, scan
from backline.imports.rows import SourceError
from tests.cli import answer_table, as_json, ok

HERE = Path(__file__).parent
LEGACY = HERE / "legacy"
MAP = HERE / "legacy-map.csv"
runner = CliRunner()


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """The folder as downloaded, with the litter a download leaves."""
    folder = tmp_path / "twiml-bucket"
    shutil.copytree(LEGACY, folder)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return folder


def run(database_url: str, *args: str) -> Result:
    return runner.invoke(
        app,
        ["import", "twiml", *args, "--database-url", database_url],
        env={"BACKLINE_DEFAULT_REGION": "JP"},
    )


MAPPED = {
    "+815012345601": Route(
        "+815012345601",
        ("+81312345678", "+819012345678"),
        ring_timeout=20,
        message="ただいま電話が混み合っております。のちほどおかけ直しください。",
        language="ja-JP",
        voice="Polly.Mizuki",
    ),
    "+815012345602": Route(
        "+815012345602",
        ("+81312340002",),
        message="申し訳ございません。ただいま電話に出ることができません。",
        language="ja-JP",
    ),
    "+815012345603": Route("+815012345603", ("+81698765432",)),
    "+815012345604": Route(
        "+815012345604", ("+81312340004", "+819012340004"), mode="sequential", ring_timeout=15
    ),
    "+815012345605": Route(
        "+815012345605",
        ("sip:desk@pbx.sakura-dental.example.jp",),
        caller_id="caller",
        client="Sakura Dental",
    ),
    "+815012345612": Route(
        "+815012345612",
        ("+81312340012",),
        message="営業時間外です。",
        language="ja-JP",
        voice="Polly.Takumi",
    ),
}
NOT_MAPPED = {
    "+815012345606.xml": "a menu (<Gather>): map this number by hand",
    "+815012345607.xml": "not well-formed XML (mismatched tag: line 5, column 2)",
    "+815012345608.xml": "not TwiML: the document is <Error>, not <Response>",
    "+815012345609.xml": "empty file",
    "+815012345610.xml": "dials a conference (<Conference>), not a phone number",
    "+815012345611.xml": "the number \"$input.params('forward')\" is computed by the template",
    "+815012345613.xml": "destinations: destination '12345' is not a possible phone number",
    "+815012345615.xml": "has a DOCTYPE or ENTITY declaration, which TwiML never needs: refused",
    "+815012345616.xml": "has VTL logic (#if): map this number by hand",
    "old/+81-50-1234-5601.xml": "+815012345601 is also +815012345601.xml",
}


def test_a_bucket_of_legacy_files(database_url: str, bucket: Path) -> None:
    dry = run(database_url, str(bucket), "--map", str(MAP))

    assert dry.exit_code == 1, dry.output  # some files could not be mapped
    assert answer_table(database_url)[0] == {}  # nothing without --apply
    lines = dry.stdout.splitlines()
    for path, reason in NOT_MAPPED.items():
        assert any(line.startswith(f"not mapped {path}: {reason}") for line in lines), path
    assert not any(".DS_Store" in line or ".git" in line for line in lines)
    assert "mapped +815012345602 <- %2B815012345602.xml: +81312340002 (simultaneous, 30 s, " in (
        dry.stdout
    )
    assert "    voice alice is retired: the language's default voice is used" in lines
    assert "    the <Dial> timeouts differ (15, 25): 15 used" in lines
    assert "+ SMS channel +819011110004 for every call" in lines
    assert "+ SMS channel +819033330005 for Sakura Dental's calls" in lines
    assert lines[-1].startswith(
        "dry run, nothing written: 16 files: 6 mapped, 10 not mapped; 6 numbers to add"
    )

    applied = run(database_url, str(bucket), "--map", str(MAP), "--apply")
    assert applied.exit_code == 1, applied.output
    routes, _defaults = answer_table(database_url)
    assert routes == MAPPED
    channels = {
        (c["kind"], c["target"], c["client"]) for c in as_json(database_url, "channels", "list")
    }
    assert channels == {("sms", "+819011110004", None), ("sms", "+819033330005", "Sakura Dental")}

    again = run(database_url, str(bucket), "--map", str(MAP), "--apply")
    assert again.stdout.splitlines()[-1] == (
        "nothing to change: 16 files: 6 mapped, 10 not mapped; 0 numbers to add, 0 to change, "
        "6 as they are, 0 SMS channels to add"
    )
    assert answer_table(database_url)[0] == MAPPED
    assert len(as_json(database_url, "channels", "list")) == 2


def test_a_file_changed_since_the_last_import_changes_its_number(
    sqlite_url: str, tmp_path: Path
) -> None:
    ok(
        sqlite_url,
        "numbers",
        "add",
        "+815012345678",
        "--forward-to",
        "+81312345678",
        "--message",
        "kept",
        "--language",
        "en-US",
    )
    twiml = tmp_path / "+815012345678.xml"
    twiml.write_text('<Response><Dial timeout="45">+81698765432</Dial></Response>')

    result = run(sqlite_url, str(twiml), "--apply")

    assert result.exit_code == 0, result.output
    assert "~ +815012345678" in result.stdout
    assert "    forward to:   +81312345678 -> +81698765432" in result.stdout
    route = answer_table(sqlite_url)[0]["+815012345678"]
    # What the file says changes; what it does not say (no <Say>) stays.
    assert (route.destinations, route.ring_timeout, route.message) == (
        ("+81698765432",),
        45,
        "kept",
    )


def test_numbers_in_file_names() -> None:
    assert number_in_name("+815012345678.xml") == "+815012345678"
    assert number_in_name("%2B815012345678.xml") == "+815012345678"
    assert number_in_name("815012345678.twiml.xml") == "+815012345678"
    assert number_in_name("050-1234-5678.xml") == "050-1234-5678"
    assert number_in_name("+81 50-1234-5678.xml") == "+81 50-1234-5678"
    assert number_in_name("index.xml") is None
    assert number_in_name("sakura-dental.xml") is None
    assert number_in_name("12.xml") is None


def test_the_mapping_file(tmp_path: Path) -> None:
    assert read_map("\ufeffFile,Number\na.xml,+815012345678\n") == {
        "a.xml": Mapping("+815012345678")
    }
    with pytest.raises(SourceError, match="file and number"):
        read_map("name,phone\na.xml,+815012345678\n")
    with pytest.raises(SourceError, match=r"names 'a\.xml' twice"):
        read_map("file,number\na.xml,+815012345678\na.xml,+815012345679\n")
    (tmp_path / "b.xml").write_text("<Response><Dial>+81312345678</Dial></Response>")
    with pytest.raises(SourceError, match=r"not there: gone\.xml"):
        scan([tmp_path], {"gone.xml": Mapping("+815012345678")})
    with pytest.raises(SourceError, match="neither a file nor a folder"):
        scan([tmp_path / "missing"])


def test_a_file_without_a_number_says_how_to_give_one(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "sakura.xml").write_text("<Response><Dial>+81312345678</Dial></Response>")

    result = run(sqlite_url, str(tmp_path))

    assert result.exit_code == 1
    assert "not mapped sakura.xml: no number in its name: give it in the mapping file (--map)" in (
        result.stdout
    )


def test_a_file_name_is_printed_without_its_control_characters(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "\x1b[31mred.xml").write_text("<Response><Dial>+81312345678</Dial></Response>")

    result = run(sqlite_url, str(tmp_path))

    assert "\x1b" not in result.stdout
    assert "not mapped ?[31mred.xml: no number in its name" in result.stdout
