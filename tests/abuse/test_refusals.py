"""Refused requests are visible: 2,700 forged requests used to leave no log line and /healthz
said ok, so a wrong token or public URL would refuse every real call in silence."""

from __future__ import annotations

from pathlib import Path

from tests.abuse.conftest import FALLBACK, OFFICE, TWILIO, serve_env, signed_call
from tests.processes import Server
from tests.support import PUBLIC_URL, add_number, fallback_params, query, signed_post


def test_a_wrong_token_refuses_calls_loudly_not_silently(sqlite_url: str, tmp_path: Path) -> None:
    add_number(sqlite_url, TWILIO, OFFICE)
    # The server was given another account's token: every genuine call is refused.
    env = serve_env(sqlite_url, tmp_path / "state", BACKLINE_TWILIO_AUTH_TOKEN="f" * 32)
    server = Server(env, tmp_path)
    try:
        for _ in range(30):
            _call, status, _text = signed_call(server)
            assert status == 403
        health = server.health()
    finally:
        server.stop()
    assert health["status"] == "degraded"
    assert health["signatures"]["refused"] == 30
    assert health["signatures"]["mostly_refused"] is True
    refusals = [line for line in server.log.read_text().splitlines() if "refused a request" in line]
    assert len(refusals) == 1, refusals  # one line a minute at most, not one per request
    assert f"for the URL {PUBLIC_URL}{FALLBACK}" in refusals[0]
    assert "BACKLINE_TWILIO_AUTH_TOKEN" in refusals[0] and "BACKLINE_PUBLIC_URL" in refusals[0]
    assert query(sqlite_url, "SELECT count(*) FROM calls") == [(0,)]


def test_a_few_forgeries_among_real_calls_are_counted_without_alarm(
    sqlite_url: str, tmp_path: Path
) -> None:
    add_number(sqlite_url, TWILIO, OFFICE)
    server = Server(serve_env(sqlite_url, tmp_path / "state"), tmp_path)
    try:
        # Unsigned, forged, and signed for another URL (a wrong BACKLINE_PUBLIC_URL looks so).
        assert server.post(FALLBACK, b"CallSid=CAx&To=%2B1", {})[0] == 403
        params = fallback_params(TWILIO)
        body, headers = signed_post(FALLBACK, params, public_url="https://elsewhere.example.com")
        assert server.post(FALLBACK, body, headers)[0] == 403
        body, headers = signed_post(FALLBACK, params)
        assert (
            server.post(FALLBACK, body, {**headers, "X-Twilio-Signature": "Zm9yZ2Vk" * 3})[0] == 403
        )
        for _ in range(5):
            assert signed_call(server)[1] == 200
        health = server.health()
    finally:
        server.stop()
    assert health["signatures"]["refused"] == 3
    assert health["signatures"]["recent_checked"] == 8
    assert health["status"] == "ok"
    log = server.log.read_text()
    # The first refusal is logged with what was wrong.
    assert "no X-Twilio-Signature" in log


def test_the_logged_url_cannot_forge_log_lines(sqlite_url: str, tmp_path: Path) -> None:
    server = Server(serve_env(sqlite_url, tmp_path / "state"), tmp_path)
    try:
        path = FALLBACK + "?a=%0d%0aCRITICAL%20fake%20line"
        body, headers = signed_post(path, fallback_params(TWILIO), token="e" * 32)
        assert server.post(path, body, headers)[0] == 403
    finally:
        server.stop()
    lines = server.log.read_text().splitlines()
    assert not any(line.startswith("CRITICAL fake") for line in lines)
    assert any("refused a request" in line and "%0d%0a" in line for line in lines)
