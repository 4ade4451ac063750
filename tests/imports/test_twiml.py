"""Reading one old TwiML file: what maps, what is left out (and said), what is refused."""

from __future__ import annotations

import pytest

from backline.imports.twiml import MAX_BYTES, LegacyRoute, NotMapped, parse


def read(text: str) -> LegacyRoute:
    return parse(text.encode())


def test_a_dial_of_numbers_with_its_apology() -> None:
    route = read(
        """<?xml version="1.0" encoding="UTF-8"?>
        <Response>
          <Dial callerId="+815012345678" timeout="20">
            <Number>+81312345678</Number>
            <Number> +819012345678 </Number>
          </Dial>
          <Say language="ja-JP" voice="Polly.Mizuki">  ただいま
              混み合っております。 </Say>
          <Hangup/>
        </Response>"""
    )
    assert route == LegacyRoute(
        destinations=("+81312345678", "+819012345678"),
        mode="simultaneous",
        ring_timeout="20",
        caller_id="+815012345678",
        message="ただいま 混み合っております。",
        language="ja-JP",
        voice="Polly.Mizuki",
    )


def test_a_bare_number_and_quotes_as_vtl_wrote_them() -> None:
    assert read("<Response><Dial>+81312345678</Dial></Response>").destinations == ("+81312345678",)
    route = read(
        """#set($root = $input.path('$'))
        ## generated
        <?xml version="1.0"?>
        <Response><Dial callerId="$input.params('To')"><Number>"+81312345678"</Number>
        <Number>'+81698765432'</Number></Dial></Response>"""
    )
    assert route.destinations == ("+81312345678", "+81698765432")
    assert route.caller_id == "twilio-number"
    assert len(route.notes) == 2 and all("VTL line" in note for note in route.notes)


@pytest.mark.parametrize(
    ("attribute", "policy"),
    [
        ("callerId=\"$input.params('To')\"", "twilio-number"),
        ("callerId=\"$input.params().querystring.get('Called')\"", "twilio-number"),
        ("callerId='\"$input.params(&quot;From&quot;)\"'", "caller"),
        ("callerId=\"${input.params('Caller')}\"", "caller"),
        ('callerId=" +815012345678 "', "+815012345678"),
    ],
)
def test_a_templated_caller_id(attribute: str, policy: str) -> None:
    route = read(f"<Response><Dial {attribute}>+81312345678</Dial></Response>")
    assert route.caller_id == policy


def test_several_dials_of_one_number_ring_one_after_another() -> None:
    route = read(
        """<Response>
        <Dial timeout="15"><Number>+81312345678</Number></Dial>
        <Dial timeout="25"><Sip>sip:desk@pbx.example.com</Sip></Dial>
        <Say>Sorry.</Say></Response>"""
    )
    assert route.mode == "sequential"
    assert route.destinations == ("+81312345678", "sip:desk@pbx.example.com")
    assert route.ring_timeout == "15"
    assert route.notes == ("the <Dial> timeouts differ (15, 25): 15 used",)
    assert (route.message, route.language, route.voice) == ("Sorry.", None, None)


def test_sms_targets_and_what_is_left_out() -> None:
    route = read(
        """<Response>
        <Say>Welcome.</Say>
        <Play>https://example.com/hold.mp3</Play>
        <Dial action="/done" record="true">+81312345678</Dial>
        <Sms to="+819011112222">missed call</Sms>
        <Message to="'+819033334444'">missed call</Message>
        <Message>to the caller</Message>
        <Say>First.</Say>
        <Say>Second.</Say>
        </Response>"""
    )
    assert route.sms_to == ("+819011112222", "+819033334444")
    assert route.message == "First."
    assert route.notes == (
        "left out a <Say> before the <Dial> (backline plays no greeting)",
        "left out <Play>",
        "left out <Dial> action, record",
        "left out <Message> without to= (an SMS back to the caller)",
        "left out a second <Say> after the <Dial>",
    )


@pytest.mark.parametrize(
    ("voice", "language", "kept", "note"),
    [
        ("alice", "ja-JP", None, "voice alice is retired"),
        ("Polly.Joanna", "ja-JP", None, "voice Polly.Joanna cannot speak ja-JP"),
        ("Polly.Takumi", "ja-JP", "Polly.Takumi", None),
        ("Polly.Nobody", "ja-JP", None, "voice Polly.Nobody cannot speak ja-JP"),
        ("Polly.Nobody", "fr-FR", "Polly.Nobody", None),  # nobody can tell: left as written
    ],
)
def test_a_voice_that_cannot_speak_is_dropped(
    voice: str, language: str, kept: str | None, note: str | None
) -> None:
    route = read(
        f'<Response><Dial>+81312345678</Dial><Say voice="{voice}" language="{language}">'
        "はい</Say></Response>"
    )
    assert route.voice == kept
    assert (note is None) == (not route.notes)
    if note:
        assert route.notes[0].startswith(note)


def test_shift_jis_as_declared() -> None:
    data = (
        '<?xml version="1.0" encoding="Shift_JIS"?>'
        '<Response><Dial>+81312345678</Dial><Say language="ja-JP">営業時間外です。</Say>'
        "</Response>"
    ).encode("shift_jis")
    assert parse(data).message == "営業時間外です。"
    assert parse(b"\xef\xbb\xbf<Response><Dial>+81312345678</Dial></Response>").destinations


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (b"<Response><Dial>+81312345678</Response>", "not well-formed XML (mismatched tag"),
        (b"HTTP/1.1 403 Forbidden", "not well-formed XML"),
        (
            b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            "not TwiML: the document is <Error>",
        ),
        (b"<Response><Say>closed</Say></Response>", "no <Dial>"),
        (b"<Response><Gather><Say>1 or 2</Say></Gather></Response>", "a menu (<Gather>)"),
        (b"<Response><Redirect>/next</Redirect></Response>", "<Redirect>"),
        (b"<Response><Dial><Conference>x</Conference></Dial></Response>", "dials a conference"),
        (b"<Response><Dial><Client>alice</Client></Dial></Response>", "dials a client"),
        (b"<Response><Dial><Queue>q</Queue></Dial></Response>", "dials a queue"),
        (b"<Response><Dial><Number></Number></Dial></Response>", "a <Number> is empty"),
        (b"<Response><Dial></Dial></Response>", "a <Dial> dials nothing"),
        (b"<Response><Dial><Number>$number</Number></Dial></Response>", "computed by the templ"),
        (
            b'<Response><Dial callerId="$util.urlDecode($x)">+81312345678</Dial></Response>',
            "callerId",
        ),
        (
            b"<Response><Dial><Number>+81312345678</Number><Number>+81312345679</Number></Dial>"
            b"<Dial>+81312345670</Dial></Response>",
            "several <Dial> verbs ringing several numbers each",
        ),
        (b"<Response>\n#if($x)\n<Dial>+81312345678</Dial>\n#end\n</Response>", "VTL logic (#if)"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response><Dial>&a;</Dial>'
            b"</Response>",
            "DOCTYPE or ENTITY",
        ),
        (b'<?xml version="1.0" encoding="klingon"?><Response/>', "encoding 'klingon'"),
        (b"<Response><Dial>\xff\xfe</Dial></Response>", "not utf-8 text"),
        (b"<Response><Dance/></Response>", "<Dance> is not TwiML backline knows"),
        (b"<Response>" + b" " * MAX_BYTES + b"</Response>", "larger than 64 KiB"),
    ],
)
def test_what_cannot_be_mapped_says_why(data: bytes, reason: str) -> None:
    with pytest.raises(NotMapped) as refused:
        parse(data)
    assert reason in str(refused.value)
