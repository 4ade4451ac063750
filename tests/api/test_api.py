"""The REST API: every endpoint, over a real database, through the app `serve` runs."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.conftest import problem


def _add(api: TestClient, number: str = "+815031234567", **fields: Any) -> dict[str, Any]:
    body = {"number": number, "destinations": ["+81312345678"], **fields}
    response = api.post("/api/numbers", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_numbers_create_read_update_delete(api: TestClient) -> None:
    created = _add(api, client="Sakura Dental", new_client=True, ring_timeout=20)
    assert created["number"] == "+815031234567"
    assert created["client"] == "Sakura Dental"
    assert api.get("/api/numbers/+815031234567").json()["ring_timeout"] == 20
    changed = api.patch("/api/numbers/+815031234567", json={"mode": "sequential", "message": "hi"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["mode"] == "sequential"
    assert changed.json()["destinations"] == ["+81312345678"]  # PATCH: the rest stays
    cleared = api.patch("/api/numbers/+815031234567", json={"message": None})
    assert cleared.json()["message"] is None
    listed = api.get("/api/numbers", params={"q": "sakura"}).json()
    assert [entry["number"] for entry in listed] == ["+815031234567"]
    assert api.get("/api/numbers", params={"q": "nothing-like-it"}).json() == []
    assert api.delete("/api/numbers/+815031234567").status_code == 204
    problem(api.get("/api/numbers/+815031234567"), 404)


def test_errors_are_problems_naming_the_field(api: TestClient) -> None:
    problem(api.post("/api/numbers", json={"number": "+815031234567"}), 422, "destinations")
    problem(
        api.post("/api/numbers", json={"number": "+815031234567", "destinations": "x"}),
        422,
        "destinations",
    )
    problem(
        api.post(
            "/api/numbers",
            json={"number": "+815031234567", "destinations": ["+81312345678"], "colour": 1},
        ),
        422,
        "colour",
    )
    _add(api)
    problem(api.patch("/api/numbers/+815031234567", json={"ring_timeout": 3}), 422, "ring_timeout")
    problem(
        api.patch("/api/numbers/+815031234567", json={"destinations": ["not a number"]}),
        422,
        "destinations",
    )
    body = problem(
        api.patch("/api/numbers/+815031234567", json={"client": "Nobody"}), 422, "client"
    )
    assert "Nobody" in body["detail"]
    problem(
        api.post(
            "/api/numbers", json={"number": "+815031234567", "destinations": ["+81312345678"]}
        ),
        409,
    )
    bad_json = api.post("/api/numbers", content=b"{", headers={"content-type": "application/json"})
    problem(bad_json, 400)


def test_the_answer_changes_with_the_table(api: TestClient) -> None:
    _add(api)
    before = api.get("/api/numbers/+815031234567/try").json()
    assert "+81312345678" in before["twiml"]
    api.patch("/api/numbers/+815031234567", json={"destinations": ["+81399998888"]})
    after = api.get("/api/numbers/+815031234567/try").json()
    assert "+81399998888" in after["twiml"] and "+81312345678" not in after["twiml"]
    # Trying records nothing.
    assert api.get("/api/calls").json()["items"] == []


def test_clients(api: TestClient) -> None:
    created = api.post("/api/clients", json={"name": "Sakura Dental"})
    assert created.status_code == 201
    assert api.get("/api/clients/sakura dental").json()["name"] == "Sakura Dental"
    renamed = api.patch("/api/clients/Sakura Dental", json={"name": "Sakura Clinic"})
    assert renamed.json()["name"] == "Sakura Clinic"
    assert [c["name"] for c in api.get("/api/clients").json()] == ["Sakura Clinic"]
    problem(api.post("/api/clients", json={"name": "sakura clinic"}), 409)
    assert api.delete("/api/clients/Sakura Clinic").status_code == 204
    problem(api.get("/api/clients/Sakura Clinic"), 404)


def test_channels(api: TestClient, receiver: Any) -> None:
    created = api.post("/api/channels", json={"kind": "webhook", "target": receiver.url})
    assert created.status_code == 201, created.text
    channel = created.json()
    assert api.get(f"/api/channels/{channel['id']}").json()["kind"] == "webhook"
    tested = api.post(f"/api/channels/{channel['id']}/test")
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True
    assert receiver.bodies, "the test message did not arrive"
    problem(api.post("/api/channels", json={"kind": "pigeon", "target": "x"}), 422)
    assert api.delete(f"/api/channels/{channel['id']}").status_code == 204
    problem(api.get(f"/api/channels/{channel['id']}"), 404)
    problem(api.get("/api/channels/abc"), 404)


def test_settings(api: TestClient) -> None:
    before = api.get("/api/settings").json()
    assert before["catch_all"]["value"] is None
    changed = api.patch("/api/settings", json={"catch-all": "+81300000000"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["catch_all"]["value"] == "+81300000000"
    problem(
        api.patch("/api/settings", json={"default_ring_timeout": "2"}), 422, "default_ring_timeout"
    )
    problem(api.patch("/api/settings", json={"no_such_setting": "1"}), 422, "no_such_setting")
    assert api.patch("/api/settings", json={"catch_all": None}).json()["catch_all"]["value"] is None


def test_calls_are_filtered_and_paged(api: TestClient, signed_fallback: Any) -> None:
    _add(api)
    for index in range(5):
        assert signed_fallback(api, f"CA{index:032d}", "+815031234567").status_code == 200
    signed_fallback(api, "CA" + "9" * 32, "+815099999999")
    page = api.get("/api/calls", params={"number": "+815031234567", "limit": 2}).json()
    seen = [item["call_sid"] for item in page["items"]]
    while page["next_cursor"]:
        page = api.get(
            "/api/calls",
            params={"number": "+815031234567", "limit": 2, "cursor": page["next_cursor"]},
        ).json()
        seen += [item["call_sid"] for item in page["items"]]
    assert sorted(seen) == [f"CA{index:032d}" for index in range(5)]
    assert len(api.get("/api/calls").json()["items"]) == 6
    assert api.get("/api/calls", params={"since": "2999-01-01"}).json()["items"] == []
    problem(api.get("/api/calls", params={"since": "yesterday"}), 422, "since")
    problem(api.get("/api/calls", params={"cursor": "%%%"}), 422, "cursor")
    problem(api.get("/api/calls", params={"limit": "0"}), 422, "limit")


def test_every_change_is_audited(api: TestClient) -> None:
    _add(api)
    api.patch("/api/numbers/+815031234567", json={"ring_timeout": 45})
    api.delete("/api/numbers/+815031234567")
    entries = api.get("/api/audit").json()["items"]
    assert [entry["action"] for entry in entries] == [
        "number.remove",
        "number.update",
        "number.add",
    ]
    update = entries[1]
    assert update["actor"] == "token:BACKLINE_ADMIN_TOKEN"
    assert update["source"] == "api"
    assert update["before"]["ring_timeout"] == 30 and update["after"]["ring_timeout"] == 45
    first = api.get("/api/audit", params={"limit": 1}).json()
    assert first["next_cursor"] is not None
    rest = api.get("/api/audit", params={"cursor": first["next_cursor"]}).json()["items"]
    assert [entry["action"] for entry in rest] == ["number.update", "number.add"]


def test_the_whole_table_in_one_put(api: TestClient) -> None:
    _add(api, "+815031230001")
    _add(api, "+815031230002")
    rows = [
        {"number": "+815031230001", "destinations": ["+81399990000"], "client": "Sakura Dental"},
        {"number": "+815031230003", "destinations": ["+81311110000"]},
    ]
    preview = api.put("/api/numbers", json={"numbers": rows, "prune": True, "dry_run": True})
    assert preview.status_code == 200, preview.text
    assert preview.json()["applied"] is False
    assert api.get("/api/numbers/+815031230002").status_code == 200
    done = api.put("/api/numbers", json={"numbers": rows, "prune": True}).json()
    assert (done["added"], done["removed"], done["new_clients"]) == (
        ["+815031230003"],
        ["+815031230002"],
        ["Sakura Dental"],
    )
    assert done["changed"][0]["number"] == "+815031230001"
    assert [n["number"] for n in api.get("/api/numbers").json()] == [
        "+815031230001",
        "+815031230003",
    ]
    actions = [e["action"] for e in api.get("/api/audit").json()["items"][:3]]
    assert sorted(actions) == ["number.add", "number.remove", "number.update"]
    bad = [
        {"number": "+815031230001", "destinations": ["nope"]},
        {"number": "x", "destinations": []},
    ]
    body = problem(api.put("/api/numbers", json={"numbers": bad}), 422, "numbers")
    assert len(body["errors"]) >= 2
    assert [n["number"] for n in api.get("/api/numbers").json()] == [
        "+815031230001",
        "+815031230003",
    ]


def test_open_outages(api: TestClient, database_url: str, receiver: Any) -> None:
    from sqlalchemy import update

    from backline.manage.engine import open_database as open_engine
    from backline.notify.grouping import ChannelState, Outage
    from backline.store.schema import channels

    assert api.get("/api/outages").json() == []
    created = api.post("/api/channels", json={"kind": "webhook", "target": receiver.url}).json()
    storm = Outage(
        started_at="2026-11-24T05:00:00.000000Z",
        last_call_at="2026-11-24T05:03:00.000000Z",
        last_message_at="2026-11-24T05:03:00.000000Z",
        calls=12,
        summarising=True,
        outcomes={"answered": 9, "no-answer": 3},
    )
    engine = open_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            update(channels)
            .where(channels.c.id == created["id"])
            .values(state=ChannelState(outage=storm).to_json())
        )
    (outage,) = api.get("/api/outages").json()
    assert (outage["channel"], outage["calls"], outage["outcomes"]) == (
        created["id"],
        12,
        {"answered": 9, "no-answer": 3},
    )
