"""Lambda events shaped as API Gateway and Function URLs deliver them, signed as Twilio signs,
and a loopback stand-in for the AWS APIs the functions call."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from backline.aws import sigv4
from backline.store.database import Database, utc_now
from tests.support import AUTH_TOKEN

TWILIO_NUMBER = "+815031234567"
DESTINATION = "+819011112222"
ACCESS_KEY = "ASIAEXAMPLEEXAMPLE00"
SECRET_KEY = "bGFtYmRhLXNlY3JldC1rZXktZm9yLXRlc3Rz/x+y="
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEExampleSessionToken//+=="
REGION = "ap-northeast-1"


# -- the table -------------------------------------------------------------------------------
def add_route(
    database_url: str, number: str = TWILIO_NUMBER, destinations: tuple[str, ...] = (DESTINATION,)
) -> None:
    db = Database(database_url)
    connection = db.connect()
    cursor = connection.cursor()
    now = utc_now()
    cursor.execute(db.sql("DELETE FROM numbers WHERE number = :number"), {"number": number})
    cursor.execute(
        db.sql(
            "INSERT INTO numbers (number, destinations, mode, ring_timeout, caller_id, enabled, "
            "created_at, updated_at) VALUES (:number, :destinations, 'simultaneous', 20, "
            "'twilio-number', :enabled, :now, :now)"
        ),
        {
            "number": number,
            "destinations": json.dumps(list(destinations)),
            "enabled": True,
            "now": now,
        },
    )
    connection.commit()
    connection.close()


def rows(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    db = Database(database_url)
    connection = db.connect()
    cursor = connection.cursor()
    cursor.execute(db.sql(sql), params)
    found = [tuple(row) for row in cursor.fetchall()]
    connection.close()
    return found


def lambda_env(database_url: str, public_url: str, state_dir: Path, **more: str) -> dict[str, str]:
    return {
        "BACKLINE_DATABASE_URL": database_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": public_url,
        "BACKLINE_STATE_DIR": str(state_dir),
        "BACKLINE_SNAPSHOT_REFRESH_SECONDS": "0.2",
        "BACKLINE_DB_TIMEOUT_SECONDS": "2",
        **more,
    }


# -- Twilio ----------------------------------------------------------------------------------
def twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


# -- events ----------------------------------------------------------------------------------
@dataclass
class Deployment:
    """Where Twilio sends requests and the event shape that reaches the function."""

    name: str
    kind: str  # rest-v1, http-v2, function-url
    public_url: str
    path_prefix: str  # what precedes the app's path in the event's path
    stage: str
    domain: str = field(default="")

    def __post_init__(self) -> None:
        if not self.domain:
            self.domain = urlsplit(self.public_url).hostname or ""


DEPLOYMENTS = [
    # REST API on its execute-api endpoint: Twilio's URL has the stage, the event's path not.
    Deployment(
        "rest-default-endpoint",
        "rest-v1",
        "https://abc123.execute-api.ap-northeast-1.amazonaws.com/Prod",
        "",
        "Prod",
    ),
    # REST API on a custom domain mapped at its root to the stage.
    Deployment("rest-custom-domain", "rest-v1", "https://voice.example.com", "", "Prod"),
    # REST API on a custom domain with a base path mapping: the path keeps the base path.
    Deployment(
        "rest-base-path-mapping", "rest-v1", "https://api.example.com/backline", "/backline", "Prod"
    ),
    # REST API on a custom domain mapped without a stage: the path keeps the stage.
    Deployment(
        "rest-mapping-without-stage", "rest-v1", "https://voice.example.com/Prod", "/Prod", "Prod"
    ),
    # HTTP API with a named stage: rawPath carries it.
    Deployment(
        "http-named-stage",
        "http-v2",
        "https://def456.execute-api.ap-northeast-1.amazonaws.com/Prod",
        "/Prod",
        "Prod",
    ),
    # HTTP API's $default stage.
    Deployment(
        "http-default-stage",
        "http-v2",
        "https://def456.execute-api.ap-northeast-1.amazonaws.com",
        "",
        "$default",
    ),
    # HTTP API on a custom domain.
    Deployment("http-custom-domain", "http-v2", "https://voice.example.com", "", "Prod"),
    # A Lambda Function URL.
    Deployment(
        "function-url",
        "function-url",
        "https://q4w5e6r7t8y9u0i1o2p3a4s5d6f7g8h9.lambda-url.ap-northeast-1.on.aws",
        "",
        "$default",
    ),
]


def make_event(
    deployment: Deployment,
    method: str,
    app_path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    base64_body: bool | None = None,
) -> dict[str, Any]:
    """An event as API Gateway or a Function URL would hand it to the function."""
    path = deployment.path_prefix + app_path
    header_values = {
        "Host": deployment.domain,
        "User-Agent": "TwilioProxy/1.1",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        **(headers or {}),
    }
    if body is not None:
        header_values.setdefault("Content-Type", "application/x-www-form-urlencoded")
    epoch = int(time.time() * 1000)
    if deployment.kind == "rest-v1":
        encode = bool(base64_body)
        multi_query: dict[str, list[str]] = {}
        for name, value in query or []:
            multi_query.setdefault(name, []).append(value)
        return {
            "resource": app_path,
            "path": path,
            "httpMethod": method,
            "headers": header_values,
            "multiValueHeaders": {name: [value] for name, value in header_values.items()},
            "queryStringParameters": (
                {k: v[-1] for k, v in multi_query.items()} if multi_query else None
            ),
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": deployment.domain.split(".")[0],
                "domainName": deployment.domain,
                "domainPrefix": deployment.domain.split(".")[0],
                "extendedRequestId": "c2hvcnQtaWQ=",
                "httpMethod": method,
                "identity": {"sourceIp": "54.172.60.1", "userAgent": "TwilioProxy/1.1"},
                "path": urlsplit(deployment.public_url).path + app_path,
                "protocol": "HTTP/1.1",
                "requestId": "5c1d2e3f-0000-4000-8000-000000000001",
                "requestTime": "24/Nov/2025:05:00:00 +0000",
                "requestTimeEpoch": epoch,
                "resourceId": "a1b2c3",
                "resourcePath": app_path,
                "stage": deployment.stage,
            },
            "body": (
                None
                if body is None
                else base64.b64encode(body).decode()
                if encode
                else body.decode()
            ),
            "isBase64Encoded": encode,
        }
    # Payload format 2.0: HTTP APIs and Function URLs base64-encode form bodies.
    encode = True if base64_body is None else base64_body
    raw_query = urlencode(query or [])
    route_key = "$default" if deployment.kind == "function-url" else f"{method} {app_path}"
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {name.lower(): value for name, value in header_values.items()},
        "queryStringParameters": dict(query) if query else None,
        "requestContext": {
            "accountId": "anonymous" if deployment.kind == "function-url" else "123456789012",
            "apiId": deployment.domain.split(".")[0],
            "domainName": deployment.domain,
            "domainPrefix": deployment.domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "54.172.60.1",
                "userAgent": "TwilioProxy/1.1",
            },
            "requestId": "5c1d2e3f-0000-4000-8000-000000000002",
            "routeKey": route_key,
            "stage": deployment.stage,
            "time": "24/Nov/2025:05:00:00 +0000",
            "timeEpoch": epoch,
        },
        "body": (
            None if body is None else base64.b64encode(body).decode() if encode else body.decode()
        ),
        "isBase64Encoded": encode if body is not None else False,
    }


def twilio_post(
    deployment: Deployment,
    app_path: str,
    params: dict[str, str],
    *,
    query: list[tuple[str, str]] | None = None,
    signed_url: str | None = None,
    base64_body: bool | None = None,
    token: str = AUTH_TOKEN,
) -> dict[str, Any]:
    """A POST exactly as Twilio sends it: form body, signature over public URL + path."""
    path_and_query = app_path + (f"?{urlencode(query)}" if query else "")
    url = signed_url if signed_url is not None else deployment.public_url + path_and_query
    body = urlencode(params).encode()
    return make_event(
        deployment,
        "POST",
        app_path,
        query=query,
        body=body,
        headers={"X-Twilio-Signature": twilio_signature(url, params, token)},
        base64_body=base64_body,
    )


def twilio_get(
    deployment: Deployment, app_path: str, query: list[tuple[str, str]]
) -> dict[str, Any]:
    """A GET as Twilio sends it: parameters in the query, signature over the whole URL."""
    url = f"{deployment.public_url}{app_path}?{urlencode(query)}"
    return make_event(
        deployment,
        "GET",
        app_path,
        query=query,
        headers={"X-Twilio-Signature": twilio_signature(url, {})},
    )


class RunningContext:
    """A Lambda context whose remaining time runs down, as the real one's does."""

    def __init__(self, remaining_ms: int) -> None:
        self.deadline = time.monotonic() + remaining_ms / 1000
        self.function_name = "backline-fallback"
        self.aws_request_id = "00000000-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)

    @property
    def in_time(self) -> bool:
        return self.get_remaining_time_in_millis() > 0


class FakeContext:
    def __init__(self, remaining_ms: int = 10_000) -> None:
        self.remaining_ms = remaining_ms
        self.function_name = "backline-fallback"
        self.aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


# -- a loopback stand-in for AWS -------------------------------------------------------------
@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    seen_by_hook: Any = None


class AwsStandIn:
    """Answers like Lambda Invoke / Secrets Manager / SSM; checks every SigV4 signature."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.secrets: dict[str, str] = {}
        self.parameters: dict[str, str] = {}
        self.invoke_status = 202
        self.delay = 0.0
        self.on_invoke: Callable[[dict[str, Any]], Any] | None = None
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                stand_in.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def verify(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        """Recompute the signature from what arrived on the wire."""
        authorization = headers.get("authorization", "")
        try:
            credential = authorization.split("Credential=")[1].split(",")[0]
            signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
            given = authorization.split("Signature=")[1]
        except IndexError:
            return False
        key, date, region, service, _ = credential.split("/")
        if key != ACCESS_KEY or "host" not in signed_names:
            return False
        if headers.get("x-amz-security-token") != SESSION_TOKEN:
            return False
        signed = {name: headers[name] for name in signed_names}
        canonical, _names = sigv4.canonical_request(
            method, path, "", signed, hashlib.sha256(body).hexdigest()
        )
        amz_date = headers["x-amz-date"]
        string_to_sign = "\n".join(
            [
                sigv4.ALGORITHM,
                amz_date,
                f"{date}/{region}/{service}/aws4_request",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        return sigv4.signature(SECRET_KEY, date, region, service, string_to_sign) == given

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        received = Received(
            request.command,
            request.path,
            headers,
            body,
            self.verify(request.command, request.path, headers, body),
        )
        self.received.append(received)
        if self.delay:
            time.sleep(self.delay)
        target = headers.get("x-amz-target", "")
        if not received.signature_ok:
            self.reply(
                request,
                403,
                {
                    "__type": "InvalidSignatureException",
                    "message": "The request signature we calculated does not "
                    "match the signature you provided.",
                },
            )
        elif request.path.startswith("/2015-03-31/functions/"):
            if self.on_invoke is not None:
                received.seen_by_hook = self.on_invoke(json.loads(body))
            self.reply(request, self.invoke_status, None)
        elif target == "secretsmanager.GetSecretValue":
            arn = json.loads(body)["SecretId"]
            if arn in self.secrets:
                self.reply(request, 200, {"ARN": arn, "SecretString": self.secrets[arn]})
            else:
                self.reply(
                    request,
                    400,
                    {
                        "__type": "ResourceNotFoundException",
                        "message": "Secrets Manager can't find the specified secret.",
                    },
                )
        elif target == "AmazonSSM.GetParameter":
            name = json.loads(body)["Name"]
            if name in self.parameters:
                self.reply(
                    request, 200, {"Parameter": {"Name": name, "Value": self.parameters[name]}}
                )
            else:
                self.reply(request, 400, {"__type": "ParameterNotFound"})
        else:
            self.reply(request, 400, {"__type": "UnknownOperationException"})

    @staticmethod
    def reply(request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/x-amz-json-1.1")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except OSError:  # the client gave up waiting (the timeout tests)
            request.close_connection = True

    def invokes(self) -> list[Received]:
        return [r for r in self.received if r.path.startswith("/2015-03-31/functions/")]

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
        }


@pytest.fixture
def aws() -> Iterator[AwsStandIn]:
    stand_in = AwsStandIn()
    yield stand_in
    stand_in.close()


def form(event_body: str) -> dict[str, str]:
    return dict(parse_qsl(event_body, keep_blank_values=True))
