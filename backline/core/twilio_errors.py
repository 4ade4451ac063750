"""What the ErrorCode Twilio sends to the fallback URL means, in words the team can act on.

Twilio calls the fallback URL when the primary handler failed; ``ErrorCode`` says how. Only the
codes that reach a voice fallback are explained (fetching the primary URL and reading its
TwiML); any other code is shown as its number with a pointer to Twilio's dictionary. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["EXPLAINED", "Language", "explain", "url_host"]

Language = Literal["ja", "en"]


@dataclass(frozen=True, slots=True)
class _Text:
    en: str
    ja: str


# Short on purpose: the text is read on a phone lock screen. Each says what broke and where to
# look, since the person reading it has to decide whether to wake someone up.
EXPLAINED: dict[str, _Text] = {
    "11100": _Text("the primary URL is not a valid URL", "一次URLの形式が正しくありません"),
    "11200": _Text(
        "the primary server could not be reached or answered with an error",
        "一次サーバーに接続できないか、エラーが返されました",
    ),
    "11201": _Text(
        "the primary server did not accept a connection in time (TCP connect timed out)",
        "一次サーバーへの接続が時間内に確立できませんでした（TCP接続タイムアウト）",
    ),
    "11202": _Text(
        "the primary server refused the connection (nothing listening, or overloaded)",
        "一次サーバーが接続を拒否しました（待ち受けなし、または過負荷）",
    ),
    "11203": _Text(
        "the primary server did not answer within the total time allowed (#tt, 15 s at most)",
        "一次サーバーが許容時間内（#tt、最大15秒）に応答しませんでした",
    ),
    "11205": _Text(
        "the primary server did not answer in time (connection failed or timed out)",
        "一次サーバーが時間内に応答しませんでした（接続失敗またはタイムアウト）",
    ),
    "11206": _Text(
        "the primary server broke the HTTP protocol", "一次サーバーの応答がHTTPとして不正でした"
    ),
    "11210": _Text(
        "the primary URL's host name does not resolve (DNS)",
        "一次URLのホスト名を解決できません（DNS）",
    ),
    "11215": _Text(
        "the primary URL redirected too many times", "一次URLのリダイレクトが多すぎます"
    ),
    "11216": _Text(
        "the primary server answered with a redirect Twilio cannot follow (no Location, or not "
        "301/302/303/307)",
        "一次サーバーがTwilioの従えないリダイレクトを返しました（Locationなし、または301/302/303/307以外）",
    ),
    "11217": _Text(
        "the primary server answered with an HTTP error status (4xx or 5xx)",
        "一次サーバーがHTTPエラー（4xx/5xx）を返しました",
    ),
    "11220": _Text(
        "the TLS handshake with the primary server failed",
        "一次サーバーとのTLSハンドシェイクに失敗しました",
    ),
    "11235": _Text(
        "the primary server's certificate is for another domain",
        "一次サーバーの証明書のドメインが一致しません",
    ),
    "11236": _Text(
        "the primary server's certificate has expired",
        "一次サーバーの証明書の有効期限が切れています",
    ),
    "11237": _Text(
        "the primary server's certificate chain is incomplete or untrusted",
        "一次サーバーの証明書チェーンが不完全か信頼されていません",
    ),
    "11770": _Text(
        "the primary server's answer was empty (chunked, with no body)",
        "一次サーバーの応答が空でした（chunkedで本文なし）",
    ),
    "11750": _Text("the primary server's TwiML was too large", "一次サーバーのTwiMLが大きすぎます"),
    "12100": _Text(
        "the primary server's answer is not valid XML (TwiML parse failure)",
        "一次サーバーの応答がXMLとして読めません（TwiML解析エラー）",
    ),
    "12200": _Text(
        "the primary server's TwiML does not follow the schema",
        "一次サーバーのTwiMLがスキーマに合っていません",
    ),
    "12300": _Text(
        "the primary server answered with the wrong Content-Type (not TwiML)",
        "一次サーバーの応答のContent-Typeが不正です（TwiMLではありません）",
    ),
    "12400": _Text(
        "Twilio failed internally while handling the primary server's answer",
        "Twilio内部でエラーが発生しました",
    ),
}


def explain(code: str, language: Language) -> str:
    """A one-line explanation of ``code`` ("" when Twilio sent none)."""
    code = code.strip()
    if not code:
        return ""
    text = EXPLAINED.get(code)
    if text is not None:
        return text.ja if language == "ja" else text.en
    if language == "ja":
        return f"Twilioエラー {code}（twilio.com/docs/api/errors/{code} を参照）"
    return f"Twilio error {code} (see twilio.com/docs/api/errors/{code})"


def url_host(url: str) -> str:
    """The host of ErrorUrl, which tells which primary server failed ("" when there is none).

    Only the host is shown: the path and query of a customer's URL may carry tokens.
    """
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return ""
    return host or ""
