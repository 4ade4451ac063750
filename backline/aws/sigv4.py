"""AWS Signature Version 4 for the few requests backline makes (pure: no I/O, no SDK).

Importing boto3 and building one client costs a couple of hundred milliseconds, more than the
whole cold answer; the signing itself is a few HMACs. Checked against AWS's published SigV4
test-suite vectors in tests/aws/test_sigv4.py.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

__all__ = ["ALGORITHM", "Credentials", "canonical_request", "sign", "signature"]

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str = ""

    def __repr__(self) -> str:  # never print a secret in a traceback or a log line
        return f"Credentials(access_key_id={self.access_key_id!r}, ...)"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        # Values are taken as sent (already encoded) and normalised to SigV4's encoding.
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], payload_hash: str
) -> tuple[str, str]:
    """Return (the canonical request, the signed-headers list)."""
    # Every service but S3 wants each path segment encoded twice: the path given is the one
    # sent on the wire (already encoded once), so it is encoded once more here.
    canonical_path = quote(path or "/", safe="/-_.~")
    names = sorted(name.lower() for name in headers)
    lowered = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed_headers = ";".join(names)
    text = "\n".join(
        [
            method.upper(),
            canonical_path,
            _canonical_query(query),
            canonical_headers,
            signed_headers,
            payload_hash,
        ]
    )
    return text, signed_headers


def signature(
    secret_access_key: str, date: str, region: str, service: str, string_to_sign: str
) -> str:
    key = _hmac(("AWS4" + secret_access_key).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    key = _hmac(key, "aws4_request")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    method: str,
    host: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to send: ``headers`` plus Host, X-Amz-Date, the token and Authorization.

    ``host`` is the Host header exactly as sent (with the port when it is not the default one).
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    signed: dict[str, str] = {"Host": host, "X-Amz-Date": amz_date, **headers}
    if credentials.session_token:
        signed["X-Amz-Security-Token"] = credentials.session_token
    canonical, signed_headers = canonical_request(method, path, query, signed, _sha256(body))
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, _sha256(canonical.encode("utf-8"))])
    value = signature(credentials.secret_access_key, date, region, service, string_to_sign)
    signed["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={value}"
    )
    return signed
