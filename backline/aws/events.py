"""Lambda HTTP events in, Lambda HTTP responses out. Pure: no I/O, standard library only.

Three event shapes reach the fallback function:

* API Gateway REST APIs send payload format 1.0: ``httpMethod``, ``path``, ``headers`` /
  ``multiValueHeaders``, decoded ``queryStringParameters`` / ``multiValueQueryStringParameters``
  (there is no raw query string), ``requestContext.stage``.
* API Gateway HTTP APIs send payload format 2.0: ``rawPath``, ``rawQueryString``, lowercased
  ``headers``, ``requestContext.http.method``, ``requestContext.stage`` (``$default`` or a name).
  Form bodies arrive base64-encoded.
* Lambda Function URLs send payload format 2.0 too, always with stage ``$default``.

Which path arrives depends on the endpoint, not only on the format: a REST API's ``path`` lacks
the stage on the execute-api endpoint but carries the base path (and sometimes the stage) on a
custom domain; an HTTP API's ``rawPath`` carries a named stage. Twilio signs the URL it was given,
which is ``BACKLINE_PUBLIC_URL`` + the app's path. So the app's path is found by removing the
public URL's own path (``/Prod``, a base path mapping) or the stage from the front of the event's
path, and the signature is always checked over ``public URL + app path``: never a doubled or a
missing stage, whichever endpoint the request came through.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlencode, urlsplit

from backline.core.forms import parse_form

__all__ = [
    "EventError",
    "EventKind",
    "HttpRequest",
    "app_path",
    "base_path_of",
    "parse_event",
    "response",
    "with_app_path",
]

EventKind = Literal["rest-v1", "http-v2", "function-url"]


class EventError(ValueError):
    """The event is not an HTTP event this module understands."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request, as the app sees it whatever the event's shape."""

    kind: EventKind
    method: str
    path: str  # the app's own path: /twilio/voice/fallback, never with a stage
    query: str  # the query string as Twilio signed it (rebuilt for REST APIs, see below)
    headers: Mapping[str, str]  # lowercased names
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def query_params(self) -> dict[str, str]:
        return parse_form(self.query)

    def form(self) -> dict[str, str]:
        """The parameters Twilio sent: the form body for POST, the query for GET."""
        if self.method == "POST":
            text = self.body.decode("utf-8", "replace")
            # Blank values are kept: Twilio signs every parameter it sends, empty ones included.
            return parse_form(text)
        return self.query_params()


def base_path_of(public_url: str) -> str:
    """The path part of BACKLINE_PUBLIC_URL (``/Prod``, ``/backline``), without a final slash."""
    return urlsplit(public_url).path.rstrip("/") if public_url else ""


def app_path(raw_path: str, *, stage: str, base_path: str, routes: Collection[str]) -> str:
    """The app's path for an event path.

    Candidates, in order: the path without the public URL's path, the path without the stage,
    the path as it came. The first one that is a route of the app wins, so a stage or base path
    is removed only when what remains is really ours (a stage named like a route prefix cannot
    eat the route). When none is a route the most stripped candidate is returned (for a 404).
    """
    path = unquote(raw_path or "/")
    if not path.startswith("/"):
        path = "/" + path
    candidates: list[str] = []
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        candidates.append(path[len(base_path) :] or "/")
    if stage and stage != "$default":
        prefix = "/" + stage
        if path == prefix or path.startswith(prefix + "/"):
            candidates.append(path[len(prefix) :] or "/")
    candidates.append(path)
    for candidate in candidates:
        if candidate in routes:
            return candidate
    return candidates[0]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _headers_v1(event: Mapping[str, Any]) -> dict[str, str]:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if isinstance(values, list) and values:
            headers[str(name).lower()] = ", ".join(str(v) for v in values)
    return headers


def _query_v1(event: Mapping[str, Any]) -> str:
    """REST API events carry the query decoded, so it is re-encoded here.

    The same way as Mangum does for the ASGI app (form encoding, in the event's order), so both
    adapters check signatures over the same URL. For the dial-outcome callback (``?step=N``) and
    POST webhooks this is exact; a GET webhook whose values contain characters Twilio encodes
    differently would not verify, which is one reason the docs ask for POST.
    """
    params = event.get("multiValueQueryStringParameters") or event.get("queryStringParameters")
    if not params:
        return ""
    return urlencode(params, doseq=True)


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise EventError("the event's body is not a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise EventError("the event's body is not valid base64") from None
    return body.encode("utf-8")


def parse_event(event: Any, *, base_path: str, routes: Collection[str]) -> HttpRequest:
    """Read an API Gateway (v1 or v2) or Function URL event; raise EventError otherwise."""
    if not isinstance(event, Mapping):
        raise EventError("the event is not a JSON object")
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        raise EventError("the event has no requestContext: not an HTTP event")
    stage = _text(context.get("stage"))
    if event.get("version") == "2.0":
        http = context.get("http")
        if not isinstance(http, Mapping):
            raise EventError("a version 2.0 event without requestContext.http")
        domain = _text(context.get("domainName"))
        kind: EventKind = "function-url" if ".lambda-url." in domain else "http-v2"
        method = _text(http.get("method")).upper()
        raw_path = _text(event.get("rawPath")) or _text(http.get("path"))
        query = _text(event.get("rawQueryString"))
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        if event.get("cookies"):
            headers["cookie"] = "; ".join(str(c) for c in event["cookies"])
    elif "httpMethod" in event:
        kind = "rest-v1"
        method = _text(event.get("httpMethod")).upper()
        raw_path = _text(event.get("path")) or _text(context.get("path"))
        query = _query_v1(event)
        headers = _headers_v1(event)
    else:
        raise EventError("neither an API Gateway nor a Function URL event")
    if not method:
        raise EventError("the event has no HTTP method")
    path = app_path(raw_path, stage=stage, base_path=base_path, routes=routes)
    return HttpRequest(kind, method, path, query, headers, _body(event))


def with_app_path(event: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``event`` whose path fields hold the app's path (for Mangum, which reads them)."""
    copy = dict(event)
    if event.get("version") == "2.0":
        copy["rawPath"] = path
        context = dict(event.get("requestContext") or {})
        context["http"] = {**dict(context.get("http") or {}), "path": path}
        copy["requestContext"] = context
    else:
        copy["path"] = path
    return copy


def response(
    status: int, body: str, content_type: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A response every one of the three event sources accepts."""
    return {
        "statusCode": status,
        "headers": {"content-type": content_type, **(headers or {})},
        "body": body,
        "isBase64Encoded": False,
    }
