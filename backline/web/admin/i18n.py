"""The web admin's words, in English and Japanese (one table; a missing key fails a test)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LANGUAGES", "WORDS", "pick_language", "translator"]

LANGUAGES = ("ja", "en")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "backline admin",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "token": "Token",
        "or_password": "or a user name and password",
        "user": "User name",
        "password": "Password",
        "bad_sign_in": "That token, or that user name and password, did not match.",
        "dashboard": "Dashboard",
        "numbers": "Numbers",
        "clients": "Clients",
        "calls": "Call log",
        "audit": "Audit log",
        "diverted_now": "Diverted in the last 10 minutes",
        "diverted_24h": "Diverted in the last 24 hours",
        "per_minute": "Diverted calls per minute, last hour, by outcome",
        "failing_channels": "Failing channels",
        "open_outages": "Open outages",
        "coverage": "Numbers whose Twilio fallback is not set",
        "coverage_never": "never audited — run backline twilio audit",
        "coverage_at": "Last audit",
        "coverage_all": "Every number of the account falls back to backline.",
        "since": "Since",
        "calls_count": "Calls",
        "none": "None",
        "search": "Search",
        "number": "Number",
        "client": "Client",
        "destinations": "Destinations (one a line)",
        "mode": "Mode",
        "ring_timeout": "Ring timeout (s)",
        "message": "Message when nobody answers",
        "language": "Language",
        "voice": "Voice",
        "enabled": "Enabled",
        "save": "Save",
        "saved": "Saved.",
        "try_it": "Try it: what the fallback answers now",
        "outcome": "Outcome",
        "time": "Time",
        "from": "From",
        "to": "To",
        "actor": "Who",
        "action": "What",
        "target": "On",
        "changes": "Before → after",
        "channels": "Channels",
        "kind": "Kind",
        "status": "Status",
        "send_test": "Send test",
        "every_call": "every call",
        "read_only": "read-only",
        "signed_in_as": "Signed in as",
        "older": "Older",
        "default": "(setting)",
        "no_rows": "Nothing yet.",
        "test_sent": "Test sent",
        "test_failed": "Test failed",
    },
    "ja": {
        "title": "backline 管理",
        "sign_in": "サインイン",
        "sign_out": "サインアウト",
        "token": "トークン",
        "or_password": "またはユーザー名とパスワード",
        "user": "ユーザー名",
        "password": "パスワード",
        "bad_sign_in": "トークン、またはユーザー名とパスワードが一致しません。",
        "dashboard": "ダッシュボード",
        "numbers": "番号",
        "clients": "顧客",
        "calls": "通話ログ",
        "audit": "監査ログ",
        "diverted_now": "直近10分の転送",
        "diverted_24h": "直近24時間の転送",
        "per_minute": "1分ごとの転送（直近1時間、結果別）",
        "failing_channels": "送信できない通知先",
        "open_outages": "継続中の障害",
        "since": "開始",
        "calls_count": "通話数",
        "none": "なし",
        "search": "検索",
        "number": "番号",
        "client": "顧客",
        "destinations": "転送先（1行に1つ）",
        "mode": "呼び出し方",
        "ring_timeout": "呼び出し時間（秒）",
        "message": "誰も出ないときのメッセージ",
        "language": "言語",
        "voice": "音声",
        "enabled": "有効",
        "save": "保存",
        "coverage": "Twilio のフォールバックが設定されていない番号",
        "coverage_never": "未確認 — backline twilio audit を実行してください",
        "coverage_at": "最終確認",
        "coverage_all": "アカウントのすべての番号が backline にフォールバックします。",
        "saved": "保存しました。",
        "try_it": "試す：今フォールバックが返す応答",
        "outcome": "結果",
        "time": "時刻",
        "from": "発信元",
        "to": "着信番号",
        "actor": "誰が",
        "action": "操作",
        "target": "対象",
        "changes": "変更前 → 変更後",
        "channels": "通知先",
        "kind": "種類",
        "status": "状態",
        "send_test": "テスト送信",
        "every_call": "すべての通話",
        "read_only": "閲覧のみ",
        "signed_in_as": "サインイン中",
        "older": "さらに古い",
        "default": "（設定値）",
        "no_rows": "まだありません。",
        "test_sent": "テストを送信しました",
        "test_failed": "テスト送信に失敗しました",
    },
}


def pick_language(cookie: str | None, accept_language: str) -> str:
    """The cookie's choice, else the browser's first of Japanese or English, else Japanese."""
    if cookie in LANGUAGES:
        return cookie
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "ja"


def translator(language: str) -> Callable[[str], str]:
    words = WORDS.get(language, WORDS["ja"])
    return lambda key: words.get(key, WORDS["en"].get(key, key))
