"""Warm answer throughput: signed fallback requests from 32 concurrent callers.

Each target runs under uvicorn (one worker) in its own process; the load comes from this process
over keep-alive connections on loopback. Figures: answers per second, p50 and p99 latency and
errors, beside a bare Starlette endpoint returning a constant, measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

CONCURRENCY = 32
DURATION = float(os.environ.get("BENCH_SECONDS", "5"))
TOKEN = "b" * 32
PUBLIC_URL = "https://bench.example.com"
TWILIO = "+815031234567"
PATH = "/twilio/voice/fallback"


@dataclass
class Result:
    name: str
    answers: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.answers / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def _requests(count: int) -> list[bytes]:
    """Pre-signed requests, each a new call (a new CallSid), as during an outage."""
    validator = RequestValidator(TOKEN)
    out = []
    for i in range(count):
        params = {
            "AccountSid": "AC" + "1" * 32,
            "ApiVersion": "2010-04-01",
            "CallSid": f"CA{i:032x}",
            "CallStatus": "ringing",
            "Called": TWILIO,
            "Caller": "+819012345678",
            "Direction": "inbound",
            "ErrorCode": "11200",
            "ErrorUrl": "https://ivr.example.com/twilio/incoming",
            "From": "+819012345678",
            "FromCountry": "JP",
            "To": TWILIO,
            "ToCountry": "JP",
            "CalledZip": "",
        }
        body = urlencode(params).encode()
        signature = validator.compute_signature(PUBLIC_URL + PATH, params)
        out.append(
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return out


async def _caller(port: int, requests: list[bytes], stop_at: float, result: Result) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at and requests:
            request = requests.pop()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                result.answers += 1
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors += 1
    finally:
        writer.close()


async def _load(name: str, port: int, requests: list[bytes]) -> Result:
    result = Result(name, 0, 0, 0.0, [])
    warm = Result(name, 0, 0, 0.0, [])
    await asyncio.gather(
        *(_caller(port, requests, time.perf_counter() + 0.5, warm) for _ in range(CONCURRENCY))
    )
    started = time.perf_counter()
    await asyncio.gather(
        *(_caller(port, requests, started + DURATION, result) for _ in range(CONCURRENCY))
    )
    result.seconds = time.perf_counter() - started
    return result


def _serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        except urllib.error.HTTPError:
            return process  # 404: the server answers
        except OSError:
            time.sleep(0.1)
            continue
        return process
    process.kill()
    raise RuntimeError(f"{args} did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_url() -> str | None:
    try:
        import psycopg2

        admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2)
    except Exception:
        return None
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS backline_bench")
        cursor.execute("CREATE DATABASE backline_bench")
    admin.close()
    return "postgresql://postgres@127.0.0.1:5432/backline_bench"


def _prepare(url: str) -> None:
    env = {**os.environ, "BACKLINE_DATABASE_URL": url}
    for command in (["db", "upgrade"], ["numbers", "add", TWILIO, "--forward-to", "+81312345678"]):
        subprocess.run(
            [sys.executable, "-m", "backline.cli", *command],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def _run_target(name: str, args: list[str], env: dict[str, str]) -> Result:
    port = _free_port()
    process = _serve([*args, "--port", str(port)], env, port)
    try:
        requests = _requests(int(DURATION * 20000))
        return asyncio.run(_load(name, port, requests))
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="backline-bench-"))
    targets: list[tuple[str, list[str], dict[str, str]]] = [
        (
            "bare Starlette, constant answer",
            ["-m", "uvicorn", "bench.bare_app:app", "--log-level", "warning", "--no-access-log"],
            {},
        ),
    ]
    databases = [("SQLite", f"sqlite:///{scratch}/bench.db")]
    postgres = _postgres_url()
    if postgres:
        databases.append(("PostgreSQL", postgres))
    for label, url in databases:
        _prepare(url)
        targets.append(
            (
                f"backline, durable record on {label}",
                ["-m", "backline.cli", "serve"],
                {
                    "BACKLINE_DATABASE_URL": url,
                    "BACKLINE_TWILIO_AUTH_TOKEN": TOKEN,
                    "BACKLINE_PUBLIC_URL": PUBLIC_URL,
                    "BACKLINE_LOG_LEVEL": "WARNING",
                    "BACKLINE_STATE_DIR": str(scratch / label),
                },
            )
        )
    results = [_run_target(*target) for target in targets]
    baseline = results[0].rate
    print(
        f"Warm answers: {CONCURRENCY} concurrent callers, {DURATION:g} s each, one uvicorn "
        f"worker, loopback"
    )
    print(
        f"{'target':<42} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6}"
    )
    for result in results:
        print(
            f"{result.name:<42} {result.rate:>10.0f} {result.percentile(0.5):>8.2f} "
            f"{result.percentile(0.99):>8.2f} {result.errors:>7} {result.rate / baseline:>6.2f}"
        )
    print(
        f"(mean latency {statistics.mean(results[-1].latencies) * 1000:.2f} ms for the last "
        f"target; goal: ratio >= 0.30 with 0 errors)"
    )
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
