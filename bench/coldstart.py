"""Cold start: a fresh process handling one API Gateway REST (v1) event, route read from a database.

First the deployment package is built as `make lambda-package` builds it (for this
interpreter's version and this machine's architecture: the bytecode must be this Python's),
and its size reported. Then, side by side, in the same run, each in fresh subprocesses of this
interpreter in isolated mode (-I -S: no site-packages, as on Lambda where the package is the
path), median of several rounds, interleaved, one warm-up round discarded:

* a stdlib-only handler: parses the event, checks the signature with hmac, reads the route and
  writes the call with sqlite3 (synchronous=FULL), returns TwiML built by string formatting;
* ``backline.aws.fallback.handler`` from the built package, the handler the SAM template uses;
* ``backline.aws.asgi.handler`` from the source tree, the whole Starlette app through Mangum
  (for comparison; not in the package);

on SQLite, and on PostgreSQL when a server answers (BACKLINE_BENCH_POSTGRES_URL, else the test
server at 127.0.0.1:5432; the stdlib baseline has no PostgreSQL driver, so it stays on SQLite).
"wall" is spawn-to-exit, the closest local analogue of a Lambda cold start (runtime start,
init, first invoke); "in-process" is imports + the event, measured inside the child. Each
child first imports what Lambda's Python runtime imports before it loads any handler (logging,
json, traceback, ...), for both sides alike.

Run: python -m bench coldstart (BENCH_COLDSTART_RUNS=N for more rounds). Never asserts.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

RUNS = int(os.environ.get("BENCH_COLDSTART_RUNS", "9"))
TOKEN = "c" * 32
PUBLIC_URL = "https://abc123.execute-api.ap-northeast-1.amazonaws.com/Prod"
PATH = "/twilio/voice/fallback"
TWILIO_NUMBER = "+815031234567"
DESTINATION = "+819011112222"
GOAL = 3.0
ROOT = Path(__file__).resolve().parent.parent

# What Lambda's Python runtime has imported before it loads a handler (awslambdaric's
# bootstrap: its logging, JSON and error reporting): every child imports it first, so that
# neither side is charged for what the runtime pays on Lambda anyway.
RUNTIME = "import datetime, enum, importlib, json, logging, os, sys, time, traceback\n"

# The leanest handler that does the same job with the standard library only.
BASELINE = (
    RUNTIME
    + r"""
started = time.perf_counter()
import base64, hashlib, hmac, json, sqlite3, sys
from urllib.parse import parse_qsl

def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;")

def handler(event, context, token, public_url, db_path):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    params = dict(parse_qsl(body, keep_blank_values=True))
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    signed = public_url + event["path"] + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(),
                               headers.get("x-twilio-signature", "")):
        return {"statusCode": 403, "body": "invalid Twilio signature"}
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous=FULL")
    row = db.execute("SELECT destinations FROM numbers WHERE number = ?",
                     (params.get("To", ""),)).fetchone()
    numbers = "".join(f"<Number>{escape(n)}</Number>" for n in json.loads(row[0]))
    answer = ('<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="'
              + escape(public_url + "/twilio/voice/dial-status?step=0")
              + '" method="POST" timeout="20">' + numbers + "</Dial></Response>")
    db.execute("INSERT INTO bench_baseline_calls (call_sid, answer) VALUES (?, ?)",
               (params["CallSid"], answer))
    db.commit()
    db.close()
    return {"statusCode": 200, "headers": {"content-type": "text/xml"}, "body": answer}

imported = time.perf_counter()
event = json.load(open(sys.argv[1]))
result = handler(event, None, sys.argv[2], sys.argv[3], sys.argv[4])
done = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000,
                  "status": result["statusCode"], "forwarded": "<Dial" in result["body"]}))
"""
)

# The handlers under test, as the Lambda runtime would load them: import, then one event.
# argv: event file, handler module, then the folders to put first on the path.
HANDLER = (
    RUNTIME
    + r"""
started = time.perf_counter()
import importlib, json, sys
sys.path[0:0] = sys.argv[3:]
handler = importlib.import_module(sys.argv[2]).handler
imported = time.perf_counter()
event = json.load(open(sys.argv[1]))
result = handler(event, None)
done = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000,
                  "status": result["statusCode"], "forwarded": "<Dial" in result["body"]}))
"""
)


@dataclass
class Variant:
    label: str
    database: str  # "sqlite" or "postgresql"
    module: str  # "" for the baseline
    path: list[str] = field(default_factory=list)  # put first on the child's sys.path
    wall: list[float] = field(default_factory=list)
    inside: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _signature(url: str, params: dict[str, str]) -> str:
    import base64
    import hashlib
    import hmac

    text = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(TOKEN.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _event(call_sid: str) -> dict[str, Any]:
    params = {
        "AccountSid": "AC" + "1" * 32,
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": TWILIO_NUMBER,
        "Caller": "+819012345678",
        "Direction": "inbound",
        "ErrorCode": "11200",
        "ErrorUrl": "https://ivr.example.com/twilio/incoming",
        "From": "+819012345678",
        "To": TWILIO_NUMBER,
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Host": "abc123.execute-api.ap-northeast-1.amazonaws.com",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": _signature(PUBLIC_URL + PATH, params),
    }
    return {
        "resource": PATH,
        "path": PATH,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.ap-northeast-1.amazonaws.com",
            "httpMethod": "POST",
            "identity": {"sourceIp": "54.172.60.1"},
            "path": "/Prod" + PATH,
            "protocol": "HTTP/1.1",
            "requestId": call_sid,
            "resourcePath": PATH,
            "stage": "Prod",
        },
        "body": urlencode(params),
        "isBase64Encoded": False,
    }


def _put_route(database_url: str) -> None:
    from backline.store.database import Database, utc_now

    db = Database(database_url)
    connection = db.connect()
    cursor = connection.cursor()
    cursor.execute(db.sql("DELETE FROM numbers WHERE number = :n"), {"n": TWILIO_NUMBER})
    cursor.execute(
        db.sql(
            "INSERT INTO numbers (number, destinations, mode, ring_timeout, caller_id, "
            "enabled, created_at, updated_at) VALUES (:n, :d, 'simultaneous', 20, "
            "'twilio-number', :e, :t, :t)"
        ),
        {"n": TWILIO_NUMBER, "d": json.dumps([DESTINATION]), "e": True, "t": utc_now()},
    )
    if db.dialect == "sqlite":
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_baseline_calls "
            "(call_sid TEXT PRIMARY KEY, answer TEXT NOT NULL)"
        )
    connection.commit()
    connection.close()


def _postgres_url() -> str | None:
    """A migrated bench database on the PostgreSQL server, or None when none answers."""
    admin_url = os.environ.get("BACKLINE_BENCH_POSTGRES_URL") or os.environ.get(
        "BACKLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    try:
        import psycopg2

        admin = psycopg2.connect(admin_url, connect_timeout=3)
    except Exception:
        return None
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'backline_bench'")
        if cursor.fetchone() is None:
            cursor.execute("CREATE DATABASE backline_bench")
    admin.close()
    from backline.config import normalise_database_url

    base = admin_url.rsplit("/", 1)[0]
    return normalise_database_url(f"{base}/backline_bench")


def _run(
    variant: Variant,
    script: Path,
    event_path: Path,
    env: dict[str, str],
    database_url: str,
    sqlite_path: str,
    record: bool,
) -> None:
    if variant.module:
        command = [sys.executable, "-I", "-S", str(script), str(event_path), variant.module]
        command += variant.path
    else:
        command = [sys.executable, "-I", "-S", str(script), str(event_path), TOKEN, PUBLIC_URL]
        command += [sqlite_path]
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = (time.perf_counter() - started) * 1000
    if not record:
        return
    try:
        figures = json.loads(finished.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        variant.failures.append(
            finished.stderr.strip().splitlines()[-1:][0]
            if finished.stderr.strip()
            else f"exit {finished.returncode}"
        )
        return
    if figures["status"] != 200 or not figures["forwarded"]:
        variant.failures.append(f"answered {figures['status']} without forwarding")
        return
    variant.wall.append(wall)
    variant.inside.append(figures["total_ms"])
    variant.imports.append(figures["import_ms"])


def _boto3_line() -> str:
    probe = (
        "import time; t = time.perf_counter(); import boto3; i = time.perf_counter(); "
        "boto3.client('lambda', region_name='ap-northeast-1', aws_access_key_id='a', "
        "aws_secret_access_key='b'); c = time.perf_counter(); "
        "print(f'{(i - t) * 1000:.0f} ms to import boto3, {(c - i) * 1000:.0f} ms more for "
        "one Lambda client')"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return "boto3: not installed here (not used on the answer path; see docs/deploy.md)"
    return "boto3 (for comparison, not used): " + done.stdout.strip()


def _build_package(into: Path) -> Path | None:
    """The deployment package for this interpreter, as make lambda-package builds it."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    machine = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), "x86_64")
    package = into / f"python{version}-{machine}"
    env = {
        **os.environ,
        "LAMBDA_PYTHON_VERSION": version,
        "LAMBDA_ARCH": machine,
        "LAMBDA_PYTHON": sys.executable,
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-lambda"), str(package)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print("could not build the package:", done.stderr.strip().splitlines()[-1:])
        return None
    files = [p for p in package.rglob("*") if p.is_file() and p.name != "Makefile"]
    unzipped = sum(p.stat().st_size for p in files) / 1_000_000
    archive = into / "package.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in files:
            zipped.write(path, path.relative_to(package))
    print(
        f"Package (make lambda-package, python{version} {machine}): {unzipped:.1f} MB unzipped, "
        f"{archive.stat().st_size / 1_000_000:.1f} MB zipped, {len(files)} files"
    )
    return package


def main() -> None:
    from backline.manage.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="backline-coldstart-") as scratch:
        root = Path(scratch)
        package = _build_package(root)
        if package is None:
            return
        sqlite_path = str(root / "backline.db")
        databases = {"sqlite": f"sqlite:///{sqlite_path}"}
        postgres = _postgres_url()
        if postgres:
            databases["postgresql"] = postgres
        for url in databases.values():
            upgrade(url)
            _put_route(url)
        baseline_script = root / "baseline.py"
        baseline_script.write_text(BASELINE)
        handler_script = root / "handler.py"
        handler_script.write_text(HANDLER)
        variants = [Variant("stdlib-only baseline", "sqlite", "")]
        for database in databases:
            variants.append(
                Variant(
                    "built package (backline.aws.fallback)",
                    database,
                    "backline.aws.fallback",
                    [str(package)],
                )
            )
        source_tree = [str(ROOT), *(p for p in sys.path if p.endswith("site-packages"))]
        variants.append(
            Variant(
                "Mangum + Starlette (backline.aws.asgi)",
                "sqlite",
                "backline.aws.asgi",
                source_tree,
            )
        )
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKLINE_", "AWS_"))}
        print(
            f"Cold start: a fresh process handling one API Gateway REST (v1) event, "
            f"median of {RUNS} runs"
        )
        for round_number in range(RUNS + 1):
            for index, variant in enumerate(variants):
                call_sid = f"CA{round_number:08d}{index:04d}{time.time_ns() % 10**20:020d}"
                event_path = root / f"event-{round_number}-{index}.json"
                event_path.write_text(json.dumps(_event(call_sid)))
                env = dict(base_env)
                env.update(
                    {
                        "BACKLINE_DATABASE_URL": databases[variant.database],
                        "BACKLINE_TWILIO_AUTH_TOKEN": TOKEN,
                        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
                        # A fresh state directory, as a new Lambda instance has an empty /tmp.
                        "BACKLINE_STATE_DIR": str(root / f"state-{round_number}-{index}"),
                        "BACKLINE_LOG_LEVEL": "WARNING",
                    }
                )
                script = handler_script if variant.module else baseline_script
                _run(
                    variant,
                    script,
                    event_path,
                    env,
                    databases[variant.database],
                    sqlite_path,
                    record=round_number > 0,
                )
        baseline = variants[0]
        if not baseline.wall:
            print("the baseline failed:", baseline.failures[:1])
            return
        base_wall = statistics.median(baseline.wall)
        base_inside = statistics.median(baseline.inside)
        print(
            f"{'':50} {'wall ms':>8} {'ratio':>6}   {'in-process ms':>13} {'ratio':>6}"
            f"   {'of it imports':>13}"
        )
        for variant in variants:
            name = f"{variant.label}, {variant.database}"
            if not variant.wall:
                print(f"{name:50} failed: {variant.failures[:1]}")
                continue
            wall = statistics.median(variant.wall)
            inside = statistics.median(variant.inside)
            imports = statistics.median(variant.imports)
            print(
                f"{name:50} {wall:8.1f} {wall / base_wall:5.2f}x   {inside:13.1f} "
                f"{inside / base_inside:5.2f}x   {imports:13.1f}"
            )
            if variant.failures:
                print(f"{'':50} ({len(variant.failures)} failed run(s): {variant.failures[0]})")
        for lean in (v for v in variants if v.module == "backline.aws.fallback" and v.wall):
            ratio = statistics.median(lean.wall) / base_wall
            verdict = "within" if ratio <= GOAL else "OVER"
            print(
                f"goal: the built package within {GOAL:g}x of the baseline (wall), "
                f"{lean.database}: {ratio:.2f}x, {verdict}"
            )
        print(_boto3_line())


if __name__ == "__main__":
    main()
