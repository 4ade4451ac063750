"""`backline clients ...` on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.cli import answer_table, as_json, ok, refused

NUMBER = "+815012345678"
OTHER = "+815012345679"
DEST = "+81312345678"


def test_add_and_list(database_url: str) -> None:
    assert "no clients yet" in ok(database_url, "clients", "list")

    assert ok(database_url, "clients", "add", "  Acme   Corp ") == "added client Acme Corp\n"
    ok(database_url, "clients", "add", "Beta")
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Beta")
    ok(database_url, "numbers", "add", OTHER, "-f", DEST, "--client", "beta")

    listed = as_json(database_url, "clients", "list")
    assert [(c["name"], c["numbers"]) for c in listed] == [("Acme Corp", 0), ("Beta", 2)]
    assert all(set(c) == {"name", "numbers", "created_at"} for c in listed)
    table = ok(database_url, "clients", "list").splitlines()
    assert table[0].split() == ["CLIENT", "NUMBERS", "ADDED"]
    assert table[2].split()[:2] == ["Beta", "2"]


def test_a_client_cannot_be_added_twice(database_url: str) -> None:
    ok(database_url, "clients", "add", "Acme")
    before = as_json(database_url, "clients", "list")

    assert refused(database_url, "clients", "add", "Acme") == (
        "error: a client named 'Acme' already exists"
    )
    assert as_json(database_url, "clients", "list") == before


def test_rename_keeps_the_numbers(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Acme", "--new-client")

    assert ok(database_url, "clients", "rename", "Acme", "Acme Corp") == (
        "renamed client Acme to Acme Corp\n"
    )

    assert answer_table(database_url)[0][NUMBER].client == "Acme Corp"
    assert [c["name"] for c in as_json(database_url, "clients", "list")] == ["Acme Corp"]


def test_rename_refusals_change_nothing(database_url: str) -> None:
    ok(database_url, "clients", "add", "Acme")
    ok(database_url, "clients", "add", "Beta")
    before = as_json(database_url, "clients", "list")

    assert "already exists" in refused(database_url, "clients", "rename", "Acme", "Beta")
    assert "no client named 'Gamma'" in refused(database_url, "clients", "rename", "Gamma", "X")
    assert "empty" in refused(database_url, "clients", "rename", "Acme", " ")
    assert as_json(database_url, "clients", "list") == before


def test_remove_is_refused_while_numbers_belong_to_the_client(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Acme", "--new-client")
    clients_before = as_json(database_url, "clients", "list")
    numbers_before = as_json(database_url, "numbers", "list")

    error = refused(database_url, "clients", "remove", "Acme")

    assert "still has 1 number" in error
    assert "--force" in error
    assert as_json(database_url, "clients", "list") == clients_before
    assert as_json(database_url, "numbers", "list") == numbers_before


def test_forced_remove_detaches_the_numbers(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Acme", "--new-client")
    ok(database_url, "numbers", "add", OTHER, "-f", DEST, "--client", "Acme", "--new-client")
    before = as_json(database_url, "numbers", "show", NUMBER)

    out = ok(database_url, "clients", "remove", "Acme", "--force")

    assert out == "removed client Acme; 2 numbers now have no client\n"
    assert as_json(database_url, "clients", "list") == []
    routes, _ = answer_table(database_url)
    assert {n: r.client for n, r in routes.items()} == {NUMBER: None, OTHER: None}
    after = as_json(database_url, "numbers", "show", NUMBER)
    assert after["updated_at"] > before["updated_at"]
    assert after["destinations"] == [DEST]


def test_remove_an_empty_or_unknown_client(database_url: str) -> None:
    ok(database_url, "clients", "add", "Acme")

    assert ok(database_url, "clients", "remove", "Acme") == "removed client Acme\n"
    assert refused(database_url, "clients", "remove", "Acme") == (
        "error: there is no client named 'Acme'"
    )


def test_names_match_in_any_case(database_url: str) -> None:
    ok(database_url, "clients", "add", "Sakura Dental")

    assert refused(database_url, "clients", "add", "sakura dental") == (
        "error: a client named 'Sakura Dental' already exists"
    )
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "SAKURA DENTAL")
    assert [
        n["number"] for n in as_json(database_url, "numbers", "list", "--client", "sakura dental")
    ] == [NUMBER]
    assert ok(database_url, "clients", "rename", "sakura dental", "Sakura dental") == (
        "renamed client sakura dental to Sakura dental\n"
    )
    assert [c["name"] for c in as_json(database_url, "clients", "list")] == ["Sakura dental"]


def test_merge_two_spellings_of_one_client(database_url: str) -> None:
    """What `numbers add --client "sakura dental"` used to make: a second client beside the
    first, whose client-scoped channels then missed that number."""
    from backline.manage.engine import make_engine
    from backline.store.database import utc_now
    from backline.store.schema import clients

    engine = make_engine(database_url)
    with engine.begin() as connection:
        for name in ("Sakura Dental", "sakura dental"):
            connection.execute(clients.insert().values(name=name, created_at=utc_now()))
    engine.dispose()
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Sakura Dental")
    ok(database_url, "numbers", "add", OTHER, "-f", DEST, "--client", "sakura dental")
    ok(database_url, "channels", "add", "slack", "https://h.example/x", "--client", "sakura dental")
    assert "clients merge" in refused(
        database_url, "numbers", "add", "+815012345670", "-f", DEST, "--client", "SAKURA DENTAL"
    )

    out = ok(database_url, "clients", "merge", "sakura dental", "Sakura Dental")

    assert out == (
        "merged client sakura dental into Sakura Dental: 1 number and 1 channel moved; "
        "sakura dental is removed\n"
    )
    assert [(c["name"], c["numbers"]) for c in as_json(database_url, "clients", "list")] == [
        ("Sakura Dental", 2)
    ]
    routes, _ = answer_table(database_url)
    assert {n: r.client for n, r in routes.items()} == {
        NUMBER: "Sakura Dental",
        OTHER: "Sakura Dental",
    }
    assert [c["client"] for c in as_json(database_url, "channels", "list")] == ["Sakura Dental"]
    # Now one client: either spelling finds it, and merging it into itself is refused.
    assert refused(database_url, "clients", "merge", "sakura dental", "Sakura Dental") == (
        "error: 'sakura dental' and 'Sakura Dental' are the same client"
    )
