"""The REST API, as one table of operations: the routes, the OpenAPI document and the web admin's
forms all come from it.

Each operation parses its input (path, query, a JSON body checked against the operation's
schema for shape only), calls the management functions (which do every check on values, the
same ones the command line uses), writes the audit log for a change, and returns JSON. Nothing
here decides whether a value is acceptable: an :class:`InvalidValue` from the management side
becomes a 422 problem naming the field.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Engine

from backline.config import Config
from backline.core import validation
from backline.core.validation import InvalidValue
from backline.manage import audit, errors
from backline.manage import clients as clients_store
from backline.manage import numbers as numbers_store
from backline.manage import settings as settings_store
from backline.manage.tokens import Access

__all__ = ["OPERATIONS", "Context", "Operation", "Problem", "by_name", "run"]


class Problem(Exception):
    """An RFC 9457 problem: ``status``, a short ``title``, a ``detail`` sentence and, when one
    field is at fault, its name."""

    def __init__(self, status: int, title: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.errors: list[dict[str, str]] = []

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
            body["errors"] = self.errors or [{"field": self.field, "detail": self.detail}]
        return body


@dataclass(frozen=True, slots=True)
class Context:
    """Who asks (``access``), through what (``source``: api or web), and what they reach."""

    engine: Engine
    config: Config
    access: Access
    source: str = "api"

    def audit(self, action: str, target: str, before: Any = None, after: Any = None) -> None:
        audit.record(
            self.engine,
            actor=self.access.actor,
            source=self.source,
            action=action,
            target=target,
            before=before,
            after=after,
        )


Handler = Callable[[Context, Mapping[str, str], Mapping[str, str], dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    method: str
    path: str
    summary: str
    handler: Handler
    tag: str
    writes: bool = False
    query: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    required: tuple[str, ...] = ()
    response: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    # What the path parameter is (OpenAPI): name -> schema.
    params: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # A change runs in one transaction with its audit entries (not one that waits on the network).
    one_transaction: bool = True


# --- schemas (shape only: the management side checks the values) -------------------------------

STR: dict[str, Any] = {"type": "string", "maxLength": 2000}
NSTR: dict[str, Any] = {"type": ["string", "null"], "maxLength": 2000}
NBOOL: dict[str, Any] = {"type": ["boolean", "null"]}
NINT: dict[str, Any] = {"type": ["integer", "null"]}
STRS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "maxLength": 200},
    "maxItems": 50,
}
NSTRS: dict[str, Any] = {
    "type": ["array", "null"],
    "items": {"type": "string", "maxLength": 200},
    "maxItems": 50,
}

NUMBER_FIELDS: dict[str, dict[str, Any]] = {
    "destinations": {
        **STRS,
        "description": "Where the call is forwarded, in order (E.164 or sip:).",
    },
    "client": {**NSTR, "description": "The client's name (any case); null: no client."},
    "new_client": {
        "type": "boolean",
        "description": "Create the client if no client has that name.",
    },
    "mode": {**STR, "description": "simultaneous or sequential."},
    "ring_timeout": {"type": "integer", "description": "Seconds each destination rings."},
    "caller_id": {**STR, "description": "twilio-number, caller, or an E.164 number."},
    "message": {
        **NSTR,
        "description": "What the caller hears when nobody answers; null: the setting.",
    },
    "language": {
        **NSTR,
        "description": "The message's language (ja-JP, en-US...); null: the setting.",
    },
    "voice": {**NSTR, "description": "The voice (Polly.Mizuki...); null: the language's default."},
    "enabled": {"type": "boolean"},
    "when_unanswered": NSTR,
    "voicemail_max_length": NINT,
    "transcribe": NBOOL,
    "screen": NBOOL,
    "answer_on_bridge": NBOOL,
    "ring_tone": NSTR,
    "hours": NSTRS,
    "timezone": NSTR,
    "closed_on": NSTRS,
    "holidays": NSTR,
    "when_closed": NSTR,
    "closed_message": NSTR,
}
NUMBER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "number": {"type": "string"},
        "client": {"type": ["string", "null"]},
        "destinations": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string"},
        "ring_timeout": {"type": "integer"},
        "caller_id": {"type": "string"},
        "message": {"type": ["string", "null"]},
        "language": {"type": ["string", "null"]},
        "voice": {"type": ["string", "null"]},
        "enabled": {"type": "boolean"},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
    "required": ["number", "destinations", "mode", "ring_timeout", "enabled"],
}
CLIENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "numbers": {"type": "integer"},
        "created_at": {"type": "string"},
    },
    "required": ["name", "numbers"],
}
CHANNEL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "target": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "client": {"type": ["string", "null"]},
        "status": {"type": "string"},
    },
    "required": ["id", "kind", "target", "status"],
}
CALL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "call_sid": {"type": "string"},
        "to": {"type": "string"},
        "from": {"type": "string"},
        "time": {"type": "string"},
        "client": {"type": ["string", "null"]},
        "outcome": {"type": "string"},
        "legs": {"type": "array"},
    },
    "required": ["call_sid", "to", "time", "outcome"],
}
AUDIT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string"},
        "actor": {"type": "string"},
        "source": {"type": "string", "enum": list(audit.SOURCES)},
        "action": {"type": "string"},
        "target": {"type": "string"},
        "before": {},
        "after": {},
    },
    "required": ["id", "at", "actor", "source", "action", "target"],
}


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"items": _list_of(item), "next_cursor": {"type": ["string", "null"]}},
        "required": ["items", "next_cursor"],
    }


# --- parsing ------------------------------------------------------------------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _shape(name: str, value: Any, schema: dict[str, Any]) -> None:
    """The value has the JSON type the schema names (and its items too): the shape, not the
    meaning, which the management side judges."""
    kinds = schema.get("type")
    if kinds is None:
        return
    allowed = [kinds] if isinstance(kinds, str) else list(kinds)
    if not any(_TYPES[kind](value) for kind in allowed):
        wanted = " or ".join("null" if kind == "null" else f"{kind}" for kind in allowed)
        raise Problem(422, "Invalid value", f"{name} must be {wanted}", name)
    if isinstance(value, str) and len(value) > schema.get("maxLength", 10_000):
        raise Problem(
            422, "Invalid value", f"{name} is longer than {schema['maxLength']} characters", name
        )
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 1000):
            raise Problem(
                422, "Invalid value", f"{name} has more than {schema['maxItems']} items", name
            )
        for item in value:
            _shape(name, item, schema.get("items", {}))


def parse_body(operation: Operation, raw: bytes) -> dict[str, Any]:
    if operation.body is None:
        return {}
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise Problem(400, "Not JSON", "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Problem(422, "Invalid body", "the request body must be a JSON object")
    properties: dict[str, Any] = operation.body.get("properties", {})
    extra = operation.body.get("additionalProperties", False)
    for name, value in body.items():
        schema = properties.get(name)
        if schema is None:
            if extra is False:
                raise Problem(422, "Unknown field", f"{name} is not a field of this request", name)
            schema = extra if isinstance(extra, dict) else {}
        _shape(name, value, schema)
    for name in operation.required:
        if name not in body:
            raise Problem(422, "Missing field", f"{name} is required", name)
    return body


def _int_query(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Problem(422, "Invalid value", f"{name} must be a whole number", name) from None
    if not low <= value <= high:
        raise Problem(422, "Invalid value", f"{name} must be from {low} to {high}", name)
    return value


# --- errors from the management side ------------------------------------------------------------


def _field_of(error: Exception, given: Mapping[str, Any]) -> str | None:
    """The field a refusal is about: the management side names it (``error.field``); until
    every check does, the one field given, or the one the sentence names."""
    named = getattr(error, "field", None)
    if isinstance(named, str) and named:
        return named
    fields = [name for name in given if name != "new_client"]
    if len(fields) == 1:
        return fields[0]
    text = str(error).lower()
    for name in fields:
        for spelling in (name, name.replace("_", "-"), name.replace("_", " ")):
            if spelling in text:
                return name
    return None


def _problem(error: Exception, given: Mapping[str, Any]) -> Problem:
    detail = str(error)
    if isinstance(error, errors.UnknownClient) and "client" in given:
        return Problem(422, "Unknown client", detail, "client")
    if isinstance(error, errors.NotFound):
        return Problem(404, "Not found", detail)
    if isinstance(error, errors.AlreadyExists | errors.Ambiguous | errors.InUse):
        return Problem(409, "Conflict", detail, _field_of(error, given) if given else None)
    if isinstance(error, errors.SchemaMissing | errors.DatabaseError):
        return Problem(503, "Database unavailable", detail)
    if isinstance(error, InvalidValue):
        return Problem(422, "Invalid value", detail, _field_of(error, given))
    raise error


def run(
    operation: Operation,
    ctx: Context,
    path: Mapping[str, str],
    query: Mapping[str, str],
    body: dict[str, Any],
) -> Any:
    """Run an operation as ``ctx.access``; a refusal is raised as a :class:`Problem`."""
    if operation.writes and ctx.access.read_only:
        raise Problem(403, "Read-only", f"{ctx.access.actor} may read but not change anything")
    try:
        if not operation.writes or not operation.one_transaction:
            return operation.handler(ctx, path, query, body)
        # The change and its audit entries: one transaction, all written or none.
        with audit.changes(ctx.engine, actor=ctx.access.actor, source=ctx.source) as changes:
            return operation.handler(replace(ctx, engine=changes.engine), path, query, body)
    except (InvalidValue, errors.ManageError) as error:
        raise _problem(error, body or dict(query)) from None


# --- numbers ------------------------------------------------------------------------------------


def numbers_list(
    ctx: Context, _p: Mapping[str, str], q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    try:
        entries = numbers_store.list_numbers(ctx.engine, q.get("client") or None)
    except errors.NotFound as error:
        raise Problem(422, "Unknown client", str(error), "client") from None
    needle = (q.get("q") or "").strip().casefold()
    if needle:
        digits = "".join(ch for ch in needle if ch.isdigit())

        def matches(entry: Any) -> bool:
            text = " ".join([entry.number, entry.client or "", *entry.destinations]).casefold()
            return needle in text or bool(
                digits and digits in "".join(ch for ch in text if ch.isdigit())
            )

        entries = [entry for entry in entries if matches(entry)]
    return [entry.to_json() for entry in entries]


def numbers_get(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    return numbers_store.get_number(ctx.engine, p["number"]).to_json()


def numbers_create(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], b: dict[str, Any]
) -> Any:
    values = {key: value for key, value in b.items() if key not in ("number", "destinations")}
    entry = numbers_store.add_number(ctx.engine, b["number"], b["destinations"], **values)
    after = entry.to_json()
    ctx.audit("number.add", entry.number, None, after)
    return after


def numbers_update(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], b: dict[str, Any]
) -> Any:
    values = dict(b)
    for name in ("mode", "ring_timeout", "caller_id", "enabled", "destinations"):
        if values.get(name, "") is None:
            raise Problem(422, "Invalid value", f"{name} cannot be null", name)
    change = numbers_store.change_number(ctx.engine, p["number"], **values)
    before, after = change.before.to_json(), change.after.to_json()
    if audit.differs(before, after):
        ctx.audit("number.update", change.after.number, before, after)
    return after


def numbers_delete(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    entry = numbers_store.remove_number(ctx.engine, p["number"])
    ctx.audit("number.remove", entry.number, entry.to_json(), None)
    return None


def numbers_try(
    ctx: Context, p: Mapping[str, str], q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    """The TwiML the fallback would answer for a call to the number now, from the table as it
    is in the database (a running service sees a change within its refresh interval). Nothing
    is recorded and nobody is told."""
    from dataclasses import replace

    from backline.answer import _Links
    from backline.core.models import Call
    from backline.core.planner import plan_first
    from backline.core.twiml import render
    from backline.store.calls import load_table
    from backline.store.database import Database

    number = numbers_store.get_number(ctx.engine, p["number"]).number
    caller = q.get("from") or "+815000000000"
    database = Database(ctx.config.database_url, create=False)
    connection = database.connect()
    try:
        routes, defaults = load_table(database, connection)
    finally:
        connection.close()
    if not defaults.catch_all and ctx.config.last_resort_forward_to:
        defaults = replace(defaults, catch_all=ctx.config.last_resort_forward_to)
    call = Call.from_params({"CallSid": "CAtry", "To": number, "From": caller[:40]})
    plan = plan_first(call, routes.get(number), defaults, now=time.time())
    return {
        "number": number,
        "outcome": str(plan.outcome),
        "route_kind": str(plan.route_kind),
        "destinations": list(plan.destinations),
        "twiml": render(plan, _Links(ctx.config.public_url or "https://backline.invalid")),
    }


def numbers_replace(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], b: dict[str, Any]
) -> Any:
    """The whole table at once, as ``backline numbers import`` takes it: every row checked
    (every problem of every row reported, nothing written), the difference worked out, then
    written in one transaction (or only shown, with ``dry_run``)."""
    from backline.imports.rows import SourceError, read_json
    from backline.manage import bulk

    try:
        rows = read_json(json.dumps(b["numbers"]))
    except SourceError as error:
        raise Problem(422, "Invalid value", str(error), "numbers") from None
    prune, dry_run = bool(b.get("prune")), bool(b.get("dry_run"))
    if prune and not rows:
        raise Problem(
            422, "Invalid value", "no numbers: with prune that would remove every number", "numbers"
        )
    try:
        wanted, notes = bulk.validate(rows, region=ctx.config.default_region)
        engine = ctx.engine
        if dry_run:
            diff = bulk.preview(engine, wanted, prune=prune, notes=notes)
        else:
            diff = bulk.apply(engine, wanted, prune=prune, notes=notes)
    except bulk.RowErrors as error:
        problem = Problem(422, "Invalid rows", str(error), "numbers")
        problem.errors = [{"field": "numbers", "detail": line} for line in error.errors]
        raise problem from None
    if not dry_run:
        for added in diff.added:
            ctx.audit("number.add", added.entry.number, None, added.entry.to_json())
        for changed in diff.changed:
            ctx.audit(
                "number.update",
                changed.after.number,
                changed.before.to_json(),
                changed.after.to_json(),
            )
        for removed in diff.removed:
            ctx.audit("number.remove", removed.number, removed.to_json(), None)
    return {
        "applied": not dry_run,
        "added": [added.entry.number for added in diff.added],
        "changed": [
            {"number": changed.after.number, "fields": [list(field) for field in changed.fields]}
            for changed in diff.changed
        ],
        "removed": [entry.number for entry in diff.removed],
        "unchanged": diff.unchanged,
        "new_clients": list(diff.new_clients),
        "notes": list(diff.notes),
    }


# --- clients ------------------------------------------------------------------------------------


def clients_list(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    return [entry.to_json() for entry in clients_store.list_clients(ctx.engine)]


def _client(ctx: Context, name: str) -> Any:
    wanted = clients_store.find_client(ctx.engine, validation.client_name(name))
    if wanted is None:
        raise errors.NotFound(f"there is no client named {name!r}")
    return next(entry for entry in clients_store.list_clients(ctx.engine) if entry.name == wanted)


def clients_get(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    return _client(ctx, p["name"]).to_json()


def clients_create(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], b: dict[str, Any]
) -> Any:
    entry = clients_store.add_client(ctx.engine, validation.client_name(b["name"]))
    ctx.audit("client.add", entry.name, None, entry.to_json())
    return entry.to_json()


def clients_update(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], b: dict[str, Any]
) -> Any:
    before = _client(ctx, p["name"])
    if "name" not in b:
        return before.to_json()
    entry = clients_store.rename_client(ctx.engine, before.name, validation.client_name(b["name"]))
    ctx.audit("client.rename", entry.name, before.to_json(), entry.to_json())
    return entry.to_json()


def clients_delete(
    ctx: Context, p: Mapping[str, str], q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    before = _client(ctx, p["name"])
    force = (q.get("force") or "").lower() in ("1", "true", "yes")
    clients_store.remove_client(ctx.engine, before.name, force=force)
    ctx.audit("client.remove", before.name, before.to_json(), None)
    return None


# --- channels -----------------------------------------------------------------------------------


def _channel_id(text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise Problem(404, "Not found", f"there is no channel #{text[:20]}")
    return int(text)


def channels_list(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    from backline.manage.channels import list_channels

    return [entry.to_json() for entry in list_channels(ctx.engine)]


def channels_get(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    from backline.manage.channels import get_channel

    return get_channel(ctx.engine, _channel_id(p["id"])).to_json()


def channels_create(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], b: dict[str, Any]
) -> Any:
    from backline.manage.channels import add_channel

    entry = add_channel(
        ctx.engine,
        b["kind"],
        b["target"],
        client=b.get("client"),
        label=b.get("name"),
        sender=b.get("from"),
        secret=b.get("secret"),
        allow_private=ctx.config.allow_private_channels,
    )
    shown = entry.to_json()
    ctx.audit("channel.add", f"#{entry.spec.id}", None, shown)
    # A webhook's secret is shown once, to whoever made it, as the command line does.
    return entry.to_json(reveal=True)


def channels_delete(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    from backline.manage.channels import remove_channel

    entry = remove_channel(ctx.engine, _channel_id(p["id"]))
    ctx.audit("channel.remove", f"#{entry.spec.id}", entry.to_json(), None)
    return None


def channels_test(
    ctx: Context, p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    """Send a marked test message now (as ``backline channels test``) and say what came back."""
    from zoneinfo import ZoneInfo

    from backline.core.messages import channel_test_message
    from backline.manage.channels import get_channel, record_test
    from backline.notify.channels import DeliveryError, describe
    from backline.notify.channels.kinds import missing_settings, transport_for
    from backline.store.database import utc_now

    channel_id = _channel_id(p["id"])
    entry = get_channel(ctx.engine, channel_id)
    missing = missing_settings(entry.spec, ctx.config)
    if missing:
        raise Problem(
            409,
            "Not configured",
            f"cannot test channel #{channel_id} here: set {', '.join(missing)}",
        )
    language: Literal["ja", "en"] = "en" if ctx.config.notify_language == "en" else "ja"
    message = channel_test_message(
        describe(entry.spec), ZoneInfo(ctx.config.timezone), language, at=utc_now()
    )
    try:
        receipt = transport_for(entry.spec, ctx.config).send(message, f"test:{channel_id}")
        ok, result = True, receipt
    except DeliveryError as error:
        ok, result = False, error.detail
    record_test(ctx.engine, channel_id, ok=ok, result=result)
    ctx.audit("channel.test", f"#{channel_id}", None, {"ok": ok, "result": result})
    return {"ok": ok, "result": result}


# --- settings -----------------------------------------------------------------------------------


def settings_get(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    stored = settings_store.get_settings(ctx.engine)
    built_in = settings_store.built_in_settings()
    return {
        key: {"value": stored.get(key), "built_in": built_in.get(key)}
        for key in settings_store.SETTING_KEYS
    }


def settings_update(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], b: dict[str, Any]
) -> Any:
    before = settings_store.get_settings(ctx.engine)
    for name, value in b.items():
        try:
            key = settings_store.setting_key(name)
            if value is None:
                settings_store.unset_setting(ctx.engine, key)
            else:
                settings_store.set_setting(ctx.engine, key, value)
        except InvalidValue as error:
            raise Problem(422, "Invalid value", str(error), name) from None
    after = settings_store.get_settings(ctx.engine)
    if before != after:
        ctx.audit("settings.update", "settings", before, after)
    return settings_get(ctx, _p, _q, {})


SETTINGS_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "additionalProperties": {"type": ["string", "null"], "maxLength": 2000},
}


# --- the call log and the audit log ---------------------------------------------------------------


def _cursor(q: Mapping[str, str]) -> tuple[str, str] | None:
    raw = q.get("cursor")
    if not raw:
        return None
    try:
        at, _, sid = base64.urlsafe_b64decode(raw.encode() + b"==").decode().partition("|")
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "Invalid value", "cursor is not one this API gave", "cursor") from None
    if not at or not sid:
        raise Problem(422, "Invalid value", "cursor is not one this API gave", "cursor")
    return at, sid


def _next_cursor(at: str, sid: str) -> str:
    return base64.urlsafe_b64encode(f"{at}|{sid}".encode()).decode().rstrip("=")


def calls_list(
    ctx: Context, _p: Mapping[str, str], q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    from backline.manage import calls as calls_store

    limit = _int_query(q, "limit", 50, 1, 500)
    page = calls_store.search_calls(
        ctx.engine,
        number=q.get("number") or None,
        client=q.get("client") or None,
        since=q.get("since") or None,
        until=q.get("until") or None,
        outcome=q.get("outcome") or None,
        after=_cursor(q),
        limit=limit + 1,
    )
    more = len(page) > limit
    page = page[:limit]
    return {
        "items": [entry.to_json() for entry in page],
        "next_cursor": _next_cursor(page[-1].time, page[-1].call_sid) if more else None,
    }


def outages_list(
    ctx: Context, _p: Mapping[str, str], _q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    from backline.manage.outages import open_outages

    return open_outages(ctx.engine)


def audit_list(
    ctx: Context, _p: Mapping[str, str], q: Mapping[str, str], _b: dict[str, Any]
) -> Any:
    limit = _int_query(q, "limit", 50, 1, 500)
    before = _int_query(q, "cursor", 0, 0, 2**62) or None
    entries = audit.list_entries(
        ctx.engine, limit=limit + 1, before_id=before, target=q.get("target") or None
    )
    more = len(entries) > limit
    entries = entries[:limit]
    return {
        "items": [entry.to_json() for entry in entries],
        "next_cursor": str(entries[-1].id) if more else None,
    }


# --- the table ----------------------------------------------------------------------------------

_NUMBER_PARAM = {
    "number": {"type": "string", "description": "The Twilio number, E.164 (+815031234567)."}
}
_CLIENT_PARAM = {"name": {"type": "string", "description": "The client's name (any case)."}}
_CHANNEL_PARAM = {
    "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The channel's number."}
}
_TEXT = {"type": "string"}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "numbers.list",
        "GET",
        "/numbers",
        "List the numbers (search with q, or by client)",
        numbers_list,
        "numbers",
        query={
            "q": {**_TEXT, "description": "Part of a number, destination or client."},
            "client": _TEXT,
        },
        response=_list_of(NUMBER),
    ),
    Operation(
        "numbers.create",
        "POST",
        "/numbers",
        "Add a number",
        numbers_create,
        "numbers",
        writes=True,
        body={
            "type": "object",
            "properties": {"number": {**STR, "description": "The Twilio number."}, **NUMBER_FIELDS},
        },
        required=("number", "destinations"),
        response=NUMBER,
        status=201,
    ),
    Operation(
        "numbers.replace",
        "PUT",
        "/numbers",
        "Replace the table: every row checked, the difference written in one transaction",
        numbers_replace,
        "numbers",
        writes=True,
        body={
            "type": "object",
            "properties": {
                "numbers": {
                    "type": "array",
                    "maxItems": 100_000,
                    "items": {"type": "object"},
                    "description": "The rows, as `numbers export --format json` writes them.",
                },
                "prune": {"type": "boolean", "description": "Remove the numbers not in the rows."},
                "dry_run": {"type": "boolean", "description": "Only show the difference."},
            },
        },
        required=("numbers",),
        response={
            "type": "object",
            "properties": {
                "applied": {"type": "boolean"},
                "added": {"type": "array"},
                "changed": {"type": "array"},
                "removed": {"type": "array"},
                "unchanged": {"type": "integer"},
            },
            "required": ["applied", "added", "changed", "removed", "unchanged"],
        },
    ),
    Operation(
        "numbers.get",
        "GET",
        "/numbers/{number}",
        "One number",
        numbers_get,
        "numbers",
        params=_NUMBER_PARAM,
        response=NUMBER,
    ),
    Operation(
        "numbers.update",
        "PATCH",
        "/numbers/{number}",
        "Change the fields given; null clears an optional one",
        numbers_update,
        "numbers",
        writes=True,
        params=_NUMBER_PARAM,
        body={"type": "object", "properties": NUMBER_FIELDS},
        response=NUMBER,
    ),
    Operation(
        "numbers.delete",
        "DELETE",
        "/numbers/{number}",
        "Remove a number",
        numbers_delete,
        "numbers",
        writes=True,
        params=_NUMBER_PARAM,
        status=204,
    ),
    Operation(
        "numbers.try",
        "GET",
        "/numbers/{number}/try",
        "The TwiML the number would answer now (nothing recorded)",
        numbers_try,
        "numbers",
        params=_NUMBER_PARAM,
        query={"from": {**_TEXT, "description": "The caller."}},
        response={
            "type": "object",
            "properties": {"twiml": {"type": "string"}, "outcome": {"type": "string"}},
            "required": ["twiml", "outcome"],
        },
    ),
    Operation(
        "clients.list",
        "GET",
        "/clients",
        "List the clients",
        clients_list,
        "clients",
        response=_list_of(CLIENT),
    ),
    Operation(
        "clients.create",
        "POST",
        "/clients",
        "Add a client",
        clients_create,
        "clients",
        writes=True,
        body={"type": "object", "properties": {"name": STR}},
        required=("name",),
        response=CLIENT,
        status=201,
    ),
    Operation(
        "clients.get",
        "GET",
        "/clients/{name}",
        "One client",
        clients_get,
        "clients",
        params=_CLIENT_PARAM,
        response=CLIENT,
    ),
    Operation(
        "clients.update",
        "PATCH",
        "/clients/{name}",
        "Rename a client",
        clients_update,
        "clients",
        writes=True,
        params=_CLIENT_PARAM,
        body={"type": "object", "properties": {"name": STR}},
        response=CLIENT,
    ),
    Operation(
        "clients.delete",
        "DELETE",
        "/clients/{name}",
        "Remove a client (force: with its numbers' link cut)",
        clients_delete,
        "clients",
        writes=True,
        params=_CLIENT_PARAM,
        query={"force": {"type": "string", "enum": ["true", "false"]}},
        status=204,
    ),
    Operation(
        "channels.list",
        "GET",
        "/channels",
        "List the channels",
        channels_list,
        "channels",
        response=_list_of(CHANNEL),
    ),
    Operation(
        "channels.create",
        "POST",
        "/channels",
        "Add a channel",
        channels_create,
        "channels",
        writes=True,
        body={
            "type": "object",
            "properties": {
                "kind": STR,
                "target": STR,
                "client": NSTR,
                "name": NSTR,
                "from": NSTR,
                "secret": NSTR,
            },
        },
        required=("kind", "target"),
        response=CHANNEL,
        status=201,
    ),
    Operation(
        "channels.get",
        "GET",
        "/channels/{id}",
        "One channel",
        channels_get,
        "channels",
        params=_CHANNEL_PARAM,
        response=CHANNEL,
    ),
    Operation(
        "channels.delete",
        "DELETE",
        "/channels/{id}",
        "Remove a channel",
        channels_delete,
        "channels",
        writes=True,
        params=_CHANNEL_PARAM,
        status=204,
    ),
    Operation(
        "channels.test",
        "POST",
        "/channels/{id}/test",
        "Send a marked test message now",
        channels_test,
        "channels",
        writes=True,
        one_transaction=False,
        params=_CHANNEL_PARAM,
        response={
            "type": "object",
            "properties": {"ok": {"type": "boolean"}, "result": {"type": "string"}},
            "required": ["ok", "result"],
        },
    ),
    Operation(
        "settings.get",
        "GET",
        "/settings",
        "The settings: stored value and built-in default",
        settings_get,
        "settings",
        response={"type": "object"},
    ),
    Operation(
        "settings.update",
        "PATCH",
        "/settings",
        "Set settings (null: back to the built-in default)",
        settings_update,
        "settings",
        writes=True,
        body=SETTINGS_BODY,
        response={"type": "object"},
    ),
    Operation(
        "calls.list",
        "GET",
        "/calls",
        "The call log, newest first, a page at a time",
        calls_list,
        "calls",
        query={
            "number": _TEXT,
            "client": _TEXT,
            "since": {**_TEXT, "description": "ISO-8601 time (UTC)."},
            "until": {**_TEXT, "description": "ISO-8601 time (UTC)."},
            "outcome": _TEXT,
            "cursor": _TEXT,
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
        },
        response=_page_of(CALL),
    ),
    Operation(
        "outages.list",
        "GET",
        "/outages",
        "The outages still open: each channel's group of calls told as summaries",
        outages_list,
        "calls",
        response=_list_of(
            {
                "type": "object",
                "properties": {
                    "channel": {"type": "integer"},
                    "kind": {"type": "string"},
                    "client": {"type": ["string", "null"]},
                    "started_at": {"type": "string"},
                    "last_call_at": {"type": "string"},
                    "calls": {"type": "integer"},
                    "outcomes": {"type": "object"},
                },
                "required": ["channel", "started_at", "calls"],
            }
        ),
    ),
    Operation(
        "audit.list",
        "GET",
        "/audit",
        "The audit log, newest first, a page at a time",
        audit_list,
        "audit",
        query={
            "target": _TEXT,
            "cursor": {"type": "string", "pattern": "^[0-9]{1,18}$"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
        },
        response=_page_of(AUDIT),
    ),
)

_BY_NAME = {operation.name: operation for operation in OPERATIONS}


def by_name(name: str) -> Operation:
    return _BY_NAME[name]
