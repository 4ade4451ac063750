"""A small AWS HTTP client on the standard library: credentials, endpoints, one signed request.

It reads what the Lambda runtime provides (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``) and honours the SDKs' endpoint overrides
(``AWS_ENDPOINT_URL_<SERVICE>``, then ``AWS_ENDPOINT_URL``), which is also how the tests point
it at a loopback stand-in. Connections are kept per endpoint and reused while the instance is
warm; a connection the freeze broke is replaced once, within the same time budget.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from backline.aws.sigv4 import Credentials, sign

__all__ = ["AwsClient", "AwsError", "AwsResponse", "credentials_from_env", "endpoint_for"]


class AwsError(RuntimeError):
    """A request to AWS failed; the message names the service and never carries a secret."""


@dataclass(frozen=True, slots=True)
class AwsResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else {}


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    key = env.get("AWS_ACCESS_KEY_ID", "")
    secret = env.get("AWS_SECRET_ACCESS_KEY", "")
    if not key or not secret:
        raise AwsError(
            "no AWS credentials in the environment (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY; the Lambda runtime sets them from the role)"
        )
    return Credentials(key, secret, env.get("AWS_SESSION_TOKEN", ""))


def endpoint_for(service_id: str, prefix: str, region: str, env: Mapping[str, str]) -> str:
    """The base URL for a service, e.g. ``("Secrets Manager", "secretsmanager", region)``."""
    variable = "AWS_ENDPOINT_URL_" + service_id.upper().replace(" ", "_")
    override = env.get(variable) or env.get("AWS_ENDPOINT_URL")
    if override:
        return override.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{prefix}.{region}.{suffix}"


class AwsClient:
    """Signed requests with a time budget; safe to share between threads."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._connections: dict[tuple[str, str, int], HTTPConnection] = {}
        self._lock = threading.Lock()

    def request(
        self,
        *,
        endpoint: str,
        service: str,
        region: str,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
    ) -> AwsResponse:
        """Send one signed request; raise AwsError on a network failure or after ``timeout``."""
        parts = urlsplit(endpoint)
        scheme = parts.scheme or "https"
        host = parts.hostname or ""
        default_port = 443 if scheme == "https" else 80
        port = parts.port or default_port
        host_header = host if port == default_port else f"{host}:{port}"
        full_path = (parts.path.rstrip("/") + path) or "/"
        credentials = credentials_from_env(self.env)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        for attempt in range(2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            signed = sign(
                method, host_header, full_path, "", headers, body, credentials, region, service
            )
            connection = self._take(scheme, host, port, fresh=attempt > 0)
            try:
                connection.timeout = remaining
                if connection.sock is not None:
                    connection.sock.settimeout(remaining)
                connection.request(method, full_path, body=body, headers=signed)
                reply = connection.getresponse()
                data = reply.read()
            except (OSError, HTTPException) as error:
                connection.close()
                last_error = error
                continue
            if reply.will_close:
                connection.close()
            else:
                self._give(scheme, host, port, connection)
            return AwsResponse(reply.status, data)
        reason = f"{type(last_error).__name__}: {last_error}" if last_error else "timed out"
        raise AwsError(f"{service} request to {host_header} failed ({reason})")

    def _take(self, scheme: str, host: str, port: int, *, fresh: bool) -> HTTPConnection:
        with self._lock:
            connection = self._connections.pop((scheme, host, port), None)
        if connection is not None and not fresh:
            return connection
        if connection is not None:
            connection.close()
        if scheme == "https":
            return HTTPSConnection(host, port, context=_tls())
        return HTTPConnection(host, port)

    def _give(self, scheme: str, host: str, port: int, connection: HTTPConnection) -> None:
        with self._lock:
            old = self._connections.pop((scheme, host, port), None)
            self._connections[(scheme, host, port)] = connection
        if old is not None:
            old.close()

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            connection.close()

    def call_json(
        self,
        *,
        service_id: str,
        prefix: str,
        signing_name: str,
        region: str,
        target: str,
        payload: Mapping[str, Any],
        timeout: float,
    ) -> Any:
        """Call an AWS JSON-protocol action (Secrets Manager, SSM) and return its answer."""
        endpoint = endpoint_for(service_id, prefix, region, self.env)
        reply = self.request(
            endpoint=endpoint,
            service=signing_name,
            region=region,
            method="POST",
            path="/",
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
            body=json.dumps(payload).encode("utf-8"),
            timeout=timeout,
        )
        try:
            answer = reply.json()
        except ValueError:
            answer = {}
        if reply.status != 200:
            details = answer if isinstance(answer, dict) else {}
            kind = str(details.get("__type", "")).rsplit("#", 1)[-1]
            message = str(details.get("message") or details.get("Message") or "")
            raise AwsError(f"{target} answered HTTP {reply.status} {kind}: {message}".rstrip(": "))
        return answer


_TLS: Any = None


def _tls() -> Any:
    """One TLS context per process (loading the CA bundle is the slow part)."""
    global _TLS
    if _TLS is None:
        import ssl

        _TLS = ssl.create_default_context()
    return _TLS
