"""Secrets read once per cold start from Secrets Manager or SSM Parameter Store.

The function's environment names where each secret lives instead of holding it:

* ``<NAME>_SECRET_ARN`` fills ``<NAME>`` (``BACKLINE_DATABASE_URL_SECRET_ARN`` fills
  ``BACKLINE_DATABASE_URL``). The ARN is a Secrets Manager secret (its string; append
  ``#key`` to take one key of a JSON secret) or an SSM parameter (a SecureString is decrypted).
  For ``BACKLINE_DATABASE_URL`` a JSON secret in the shape RDS writes (``host``, ``port``,
  ``username``, ``password``, ``dbname``) is turned into a ``postgresql://`` URL.
* ``BACKLINE_SECRETS_ARN`` names a Secrets Manager secret holding a JSON object of variables
  (``{"BACKLINE_SLACK_TOKEN": "..."}``): each fills its variable.

A variable already set directly wins. Secrets are fetched in parallel, each request signed with
the function role's credentials, so a cold start waits for one round trip, not one per secret.
The values never reach the function's configuration, a log line or an error message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from backline.aws.awsapi import AwsClient, AwsError

__all__ = ["BUNDLE_VARIABLE", "SUFFIX", "SecretError", "reread", "resolve"]

SUFFIX = "_SECRET_ARN"
BUNDLE_VARIABLE = "BACKLINE_SECRETS_ARN"


class SecretError(RuntimeError):
    """A secret could not be read; the message names the variable, never the value."""


def _region(arn: str, variable: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[3]:
        raise SecretError(
            f"{variable}={arn!r} is not the ARN of a Secrets Manager secret or an SSM parameter"
        )
    return parts[3]


def _fetch(client: AwsClient, variable: str, reference: str, timeout: float) -> str:
    arn, _, key = reference.strip().partition("#")
    region = _region(arn, variable)
    service = arn.split(":")[2]
    try:
        if service == "secretsmanager":
            answer = client.call_json(
                service_id="Secrets Manager",
                prefix="secretsmanager",
                signing_name="secretsmanager",
                region=region,
                target="secretsmanager.GetSecretValue",
                payload={"SecretId": arn},
                timeout=timeout,
            )
            value = answer.get("SecretString")
            if not isinstance(value, str):
                raise SecretError(
                    f"the secret named by {variable} has no string value "
                    f"(binary secrets are not supported)"
                )
        elif service == "ssm":
            answer = client.call_json(
                service_id="SSM",
                prefix="ssm",
                signing_name="ssm",
                region=region,
                target="AmazonSSM.GetParameter",
                payload={"Name": arn, "WithDecryption": True},
                timeout=timeout,
            )
            value = (answer.get("Parameter") or {}).get("Value")
            if not isinstance(value, str):
                raise SecretError(f"the parameter named by {variable} has no value")
        else:
            raise SecretError(
                f"{variable} names a {service!r} ARN; use a Secrets Manager "
                f"secret or an SSM parameter"
            )
    except AwsError as error:
        raise SecretError(f"cannot read the secret named by {variable}: {error}") from None
    if key:
        try:
            data = json.loads(value)
            picked = data[key]
        except (ValueError, KeyError, TypeError):
            raise SecretError(
                f"the secret named by {variable} is not a JSON object with the key {key!r}"
            ) from None
        return str(picked)
    return value


def _database_url(value: str) -> str:
    """Accept RDS's JSON secret shape for the database URL; anything else is used as it is."""
    text = value.strip()
    if not text.startswith("{"):
        return text
    try:
        data: Any = json.loads(text)
    except ValueError:
        return text
    if not isinstance(data, dict) or not {"host", "username", "password"} <= data.keys():
        return text
    user = quote(str(data["username"]), safe="")
    password = quote(str(data["password"]), safe="")
    port = data.get("port") or 5432
    name = quote(str(data.get("dbname") or data.get("dbInstanceIdentifier") or "postgres"), safe="")
    return f"postgresql://{user}:{password}@{data['host']}:{port}/{name}"


def resolve(
    env: Mapping[str, str], client: AwsClient | None = None, *, timeout: float = 5.0
) -> dict[str, str]:
    """Return ``env`` with every secret it names filled in; raise SecretError on a failure."""
    wanted = {
        name[: -len(SUFFIX)]: reference
        for name, reference in env.items()
        if name.endswith(SUFFIX) and reference.strip() and not env.get(name[: -len(SUFFIX)])
    }
    bundle = env.get(BUNDLE_VARIABLE, "").strip()
    if not wanted and not bundle:
        return dict(env)
    own_client = client is None
    client = client or AwsClient(env)
    results: dict[str, str] = {}
    errors: dict[str, str] = {}

    def fetch(target: str, variable: str, reference: str) -> None:
        try:
            results[target] = _fetch(client, variable, reference, timeout)
        except SecretError as error:
            errors[variable] = str(error)
        except Exception as error:  # report, never leak: the message has no value in it
            errors[variable] = f"cannot read the secret named by {variable}: {type(error).__name__}"

    jobs = [(target, target + SUFFIX, reference) for target, reference in wanted.items()]
    if bundle:
        jobs.append(("", BUNDLE_VARIABLE, bundle))
    try:
        threads = [threading.Thread(target=fetch, args=job, daemon=True) for job in jobs[1:]]
        for thread in threads:
            thread.start()
        fetch(*jobs[0])
        for thread in threads:
            thread.join(timeout * 2 + 1)
    finally:
        if own_client:  # a client passed in is the caller's to close
            client.close()
    for target, variable, _reference in jobs:
        if target not in results and variable not in errors:
            errors[variable] = f"reading the secret named by {variable} timed out"
    if errors:
        raise SecretError("; ".join(errors[name] for name in sorted(errors)))
    resolved = dict(env)
    if bundle:
        try:
            values = json.loads(results.pop(""))
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise SecretError(
                f"the secret named by {BUNDLE_VARIABLE} is not a JSON object of variables"
            )
        for name, value in values.items():
            if not resolved.get(name):
                resolved[str(name)] = str(value)
    for name, value in results.items():
        resolved[name] = _database_url(value) if name == "BACKLINE_DATABASE_URL" else value
    return resolved


def reread(
    env: Mapping[str, str],
    names: tuple[str, ...],
    client: AwsClient | None = None,
    *,
    timeout: float = 5.0,
) -> dict[str, str]:
    """Read again the secrets that fill ``names`` (their ``<NAME>_SECRET_ARN``, or the bundle);
    return the values found, by name. A name set directly in ``env`` keeps that value.

    For a warm instance whose secret changed after it started (a rotated Twilio auth token):
    only the secrets needed are fetched, not every one the function names.
    """
    wanted = {name + SUFFIX for name in names}
    subset = {
        key: value
        for key, value in env.items()
        if not key.endswith(SUFFIX) or key in wanted or key == BUNDLE_VARIABLE
    }
    resolved = resolve(subset, client, timeout=timeout)
    return {name: resolved[name] for name in names if resolved.get(name)}
