"""What backline itself says on a call, per language, as data. Pure.

Two things are said in backline's words rather than the route's message:

* the voicemail announcement, after the route's message: callers are told that they are being
  recorded and how to finish (the end key is the one the ``<Record>`` is given);
* the whisper, to the person who picks up a screened call: whose call it is and which key takes
  it.

A route's language picks the phrases by its primary subtag (``ja-JP`` -> ``ja``); a language
without phrases gets the English ones, read by an English voice, never by a voice that cannot
speak them. The planner imports this module only when a call is screened or ends in a voicemail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backline.core.models import ACCEPT_KEY, END_KEY

__all__ = ["ACCEPT_KEY", "END_KEY", "PHRASES", "Phrases", "phrases_for"]


@dataclass(frozen=True, slots=True)
class Phrases:
    # The language the phrases are in, for a route whose own language has none.
    language: str
    voicemail: str
    # {whom}: the client's name, or the number called when the number has no client.
    whisper: str


PHRASES: Mapping[str, Phrases] = {
    "ja": Phrases(
        "ja-JP",
        voicemail="発信音のあとにメッセージをお話しください。お話しが終わりましたら、"
        "シャープを押してください。メッセージは録音されます。",
        whisper="{whom}あてのお電話です。おつなぎする場合は1を押してください。",
    ),
    "en": Phrases(
        "en-US",
        voicemail="Please leave a message after the tone, and press the hash key when you "
        "have finished. Your message will be recorded.",
        whisper="A call for {whom}. Press 1 to take it.",
    ),
    "ko": Phrases(
        "ko-KR",
        voicemail="삐 소리가 난 후 메시지를 남겨 주세요. 마치신 후에는 우물 정자를 눌러 "
        "주세요. 메시지는 녹음됩니다.",
        whisper="{whom} 앞으로 온 전화입니다. 받으시려면 1번을 눌러 주세요.",
    ),
    "cmn": Phrases(
        "cmn-CN",
        voicemail="请在提示音后留言，留言结束后请按井号键。您的留言将被录音。",
        whisper="这是打给{whom}的电话。接听请按1。",
    ),
}


# Primary subtags that mean a language above: Mandarin is also tagged zh (zh-CN, zh-TW).
_SAME_AS = {"zh": "cmn"}


def phrases_for(language: str) -> Phrases:
    """The phrases for ``language`` (a BCP-47 tag), English when there are none."""
    primary = language.split("-", 1)[0].lower()
    return PHRASES.get(_SAME_AS.get(primary, primary), PHRASES["en"])
