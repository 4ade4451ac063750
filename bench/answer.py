"""Warm answers: signed fallback requests from 32 callers, beside the static-file limit.

Targets, each alone in its own process, measured in the same run with the same requests:

* nginx serving the same TwiML as static files, one file per number (the old design, and the
  practical limit of answering at all): Debian's nginx, one worker process, an unprivileged
  user, its own configuration in a temporary directory, access log off;
* a bare Starlette endpoint returning a constant (bench/bare_app.py), under uvicorn;
* backline (`backline serve`, one uvicorn worker and its writer process), every call durably
  recorded before its answer, on SQLite and on PostgreSQL (the server at 127.0.0.1:5432, when it
  answers); and each again with BACKLINE_WRITER_PROCESS=0, the group commit written from a
  thread of the serving process, to show what the writer process buys.

The mix is realistic: 300 numbers in the table; 9 requests in 10 for one of them, 1 in 10 for a
number that is not (backline answers it with the apology; nginx from a default file). Every
request is a new call (its own CallSid) with the full set of parameters Twilio sends, signed
over the public URL. The load comes from wrk (Debian's package; one thread, 32 keep-alive
connections), or from an asyncio client in this process when wrk is not available.

The targets are measured in turn, round after round (BENCH_ROUNDS, default 3, of BENCH_SECONDS,
default 3), so that other work on a shared machine weighs on each of them alike; each figure is
the median of its rounds, shown with their range.

Run: python -m bench answer. Never asserts.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.tools import as_nobody, find_or_install, stop_server, version

CALLERS = 32
# Seconds per round and rounds per target. The rounds go round the targets in turn, so that
# whatever else runs on the machine meanwhile weighs on every target alike; each figure is the
# median of its rounds.
DURATION = float(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARM_SECONDS = 1.0
TOKEN = "b" * 32
PUBLIC_URL = "https://bench.example.com"
PATH = "/twilio/voice/fallback"
KNOWN_NUMBERS = 300
KNOWN_SHARE = 0.9
# Unique requests prepared per second of measurement: more than any target here answers, so
# that every call backline records is a new one (nginx and the bare endpoint may go round).
POOL_RATE = 16_000
OFFICES = ("+81312345678", "+81662345678", "+819011112222")

WRK_SCRIPT = r"""
local pool = {}
local next_index = 0

local function load(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local position = 1
  while position <= #data do
    local newline = data:find("\n", position, true)
    local length = tonumber(data:sub(position, newline - 1))
    pool[#pool + 1] = data:sub(newline + 1, newline + length)
    position = newline + length + 1
  end
end

init = function(args)
  load(args[1])
end

request = function()
  next_index = next_index % #pool + 1
  return pool[next_index]
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(99),
    latency.max))
end
"""


@dataclass
class Round:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


@dataclass
class Result:
    name: str
    rounds: list[Round] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # CPU seconds over the rounds: the server's main thread, and its other threads together.
    cpu_main: float = 0.0
    cpu_others: float = 0.0
    cpu_children: float = 0.0

    @property
    def cpu_note(self) -> str | None:
        """CPU time per answer by thread, or None when it was not measured."""
        answered = self.requests - self.errors
        if not answered or not (self.cpu_main or self.cpu_others):
            return None
        main = self.cpu_main / answered * 1e6
        others = self.cpu_others / answered * 1e6
        children = self.cpu_children / answered * 1e6
        return (
            f"CPU per answer: {main:.0f} µs in the event loop's thread, {others:.0f} µs in "
            f"the process's other threads, {children:.0f} µs in its child processes (the "
            f"writer process), {main + others + children:.0f} µs in all"
        )

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.rounds) if self.rounds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.rounds) if self.rounds else 0.0

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.rounds) if self.rounds else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.rounds)

    @property
    def spread(self) -> str:
        rates = [r.rate for r in self.rounds]
        return f"{min(rates):,.0f} to {max(rates):,.0f}" if rates else "-"


# -- the table and the requests ------------------------------------------------------------------


def known_numbers() -> list[str]:
    return [f"+8150{index:08d}" for index in range(KNOWN_NUMBERS)]


def unknown_number(index: int) -> str:
    return f"+8150{90_000_000 + index:08d}"


def _params(call_sid: str, to: str, caller: str) -> dict[str, str]:
    """Every parameter of a real voice webhook (blank ones included: Twilio signs those too)."""
    return {
        "AccountSid": "AC" + "1" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": to,
        "CalledCity": "",
        "CalledCountry": "JP",
        "CalledState": "",
        "CalledZip": "",
        "Caller": caller,
        "CallerCity": "",
        "CallerCountry": "JP",
        "CallerState": "",
        "CallerZip": "",
        "Direction": "inbound",
        "ErrorCode": "11200",
        "ErrorUrl": "https://ivr.example.com/twilio/incoming",
        "From": caller,
        "FromCity": "",
        "FromCountry": "JP",
        "FromState": "",
        "FromZip": "",
        "To": to,
        "ToCity": "",
        "ToCountry": "JP",
        "ToState": "",
        "ToZip": "",
    }


@dataclass
class Pool:
    """Signed requests, each a new call: (the number called, the body, the signature)."""

    items: list[tuple[str, bytes, str]]

    def raw(self, path_for: dict[str, str] | None) -> list[bytes]:
        """As HTTP/1.1 requests; ``path_for`` maps a number to its static file (nginx)."""
        out = []
        for number, body, signature in self.items:
            path = path_for.get(number, f"/twiml/{number}.xml") if path_for is not None else PATH
            out.append(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: TwilioProxy/1.1\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        return out


def make_pool(count: int, prefix: str, seed: int) -> Pool:
    validator = RequestValidator(TOKEN)
    known = known_numbers()
    chooser = random.Random(seed)
    items = []
    for index in range(count):
        if chooser.random() < KNOWN_SHARE:
            to = chooser.choice(known)
        else:
            to = unknown_number(chooser.randrange(1000))
        caller = f"+8190{chooser.randrange(10**8):08d}"
        params = _params(f"CA{prefix}{index:031x}", to, caller)
        signature = validator.compute_signature(PUBLIC_URL + PATH, params)
        items.append((to, urlencode(params).encode(), signature))
    return Pool(items)


def write_pool(path: Path, requests: list[bytes]) -> None:
    with path.open("wb") as handle:
        for request in requests:
            handle.write(f"{len(request)}\n".encode() + request)


def fill_table(database_url: str) -> None:
    """The table of numbers: 300 routes, simultaneous and sequential, one to three offices."""
    from backline.manage.migrate import upgrade
    from backline.store.database import Database, utc_now

    upgrade(database_url)
    database = Database(database_url)
    connection = database.connect()
    cursor = connection.cursor()
    cursor.execute("DELETE FROM numbers")
    now = utc_now()
    rows = [
        {
            "number": number,
            "destinations": json.dumps(list(OFFICES[: 1 + index % 3])),
            "mode": "sequential" if index % 4 == 0 else "simultaneous",
            "enabled": True,
            "now": now,
        }
        for index, number in enumerate(known_numbers())
    ]
    database.execute_many(
        cursor,
        "INSERT INTO numbers (number, destinations, mode, ring_timeout, caller_id, enabled, "
        "created_at, updated_at) VALUES (:number, :destinations, :mode, 20, 'twilio-number', "
        ":enabled, :now, :now)",
        rows,
    )
    connection.commit()
    connection.close()


def static_answers(root: Path) -> dict[str, str]:
    """The TwiML backline gives each number, as one file per number (and a default file for
    numbers that have none): what the static design serves."""
    from backline.answer import _Links
    from backline.core.models import Call, Defaults, Route
    from backline.core.planner import plan_first
    from backline.core.twiml import render

    links = _Links(PUBLIC_URL)
    now = time.time()

    folder = root / "www" / "twiml"
    folder.mkdir(parents=True)
    paths = {}
    for index, number in enumerate(known_numbers()):
        route = Route(
            number,
            OFFICES[: 1 + index % 3],
            mode="sequential" if index % 4 == 0 else "simultaneous",
            ring_timeout=20,
        )
        plan = plan_first(Call(call_sid="", to=number), route, Defaults(), now=now)
        answer = render(plan, links)
        (folder / f"{number}.xml").write_text(answer, encoding="utf-8")
        paths[number] = f"/twiml/{number}.xml"
    unknown = render(
        plan_first(Call(call_sid="", to=unknown_number(0)), None, Defaults(), now=now), links
    )
    (folder / "default.xml").write_text(unknown, encoding="utf-8")
    return paths


# -- the targets -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not start")


class Target:
    name: str
    nginx = False

    def start(self) -> int:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Python(Target):
    """A Python server (uvicorn, or `backline serve`) in a child process."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, *self.args, "--port", str(port)],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(port, self.process, self.name)
        return port

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()

    def cpu_seconds(self) -> tuple[float, float, float] | None:
        """CPU time so far of the server's main thread (the event loop), of its other threads
        together, and of its child processes (backline's writer process), from /proc; None
        where there is no /proc."""
        if self.process is None:
            return None
        pid = self.process.pid
        main = others = children = 0.0
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                used = _cpu_of(f"/proc/{pid}/task/{task}/stat")
                if int(task) == pid:
                    main += used
                else:
                    others += used
            for entry in os.listdir("/proc"):
                if entry.isdigit() and _parent_of(entry) == pid:
                    children += _cpu_of(f"/proc/{entry}/stat")
        except OSError:
            return None
        return main, others, children


def _stat_fields(path: str) -> list[str]:
    with open(path) as handle:
        return handle.read().rpartition(")")[2].split()


def _cpu_of(stat_path: str) -> float:
    """utime + stime of a process or thread, in seconds."""
    fields = _stat_fields(stat_path)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _parent_of(pid: str) -> int | None:
    try:
        return int(_stat_fields(f"/proc/{pid}/stat")[1])
    except (OSError, IndexError, ValueError):  # gone meanwhile
        return None


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  default_type text/xml;
  server {{
    listen 127.0.0.1:{port};
    root {root}/www;
    location /twiml/ {{
      # Twilio POSTs to the URL; nginx serves static files to GET, so a POST is answered
      # with the file too. A number without a file gets the default one.
      error_page 405 =200 $uri;
      try_files $uri /twiml/default.xml;
    }}
  }}
}}
"""


class Nginx(Target):
    nginx = True

    def __init__(self, binary: str) -> None:
        self.name = "nginx, static TwiML file per number"
        self.binary = binary
        # A directory of its own under the system's temporary directory: nginx's unprivileged
        # user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="backline-bench-nginx-"))
        static_answers(self.root)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        port = free_port()
        conf = self.root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=self.root, port=port))
        command = [self.binary, "-p", str(self.root), "-e", str(self.root / "error.log")]
        command += ["-c", str(conf)]
        # Unprivileged, as it would serve.
        command = as_nobody(self.root, command)
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_listening(port, self.process, "nginx")
        return port

    def stop(self) -> None:
        stop_server(self.root, self.root / "nginx.pid", self.process)


# -- the load --------------------------------------------------------------------------------------


def run_wrk(wrk: str, script: Path, pool_file: Path, port: int, seconds: float) -> Round:
    done = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{CALLERS}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "15s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(pool_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    figures = json.loads(line)
    errors = sum(figures[key] for key in ("connect", "read", "write", "status", "timeout"))
    return Round(
        int(figures["requests"]),
        int(errors),
        figures["duration_us"] / 1e6,
        figures["p50_us"] / 1000,
        figures["p99_us"] / 1000,
    )


async def _caller(
    port: int, requests: list[bytes], stop_at: float, latencies: list[float], tally: list[int]
) -> None:
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
            tally[0] += 1
            if head.startswith(b"HTTP/1.1 200"):
                latencies.append(time.perf_counter() - started)
            else:
                tally[1] += 1
    finally:
        writer.close()


async def _python_load(port: int, requests: list[bytes], seconds: float) -> Round:
    latencies: list[float] = []
    tally = [0, 0]
    started = time.perf_counter()
    await asyncio.gather(
        *(_caller(port, requests, started + seconds, latencies, tally) for _ in range(CALLERS))
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return Round(
        tally[0],
        tally[1],
        elapsed,
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


def check_answers(port: int, pool: Pool, target: Target, samples: int = 40) -> str | None:
    """Sample answers before the load: valid TwiML, forwarding known numbers (None when right)."""
    known = set(known_numbers())
    paths = {n: f"/twiml/{n}.xml" for n in known}
    raw = pool.raw(paths if target.nginx else None)
    for (number, _body, _signature), request in list(zip(pool.items, raw, strict=True))[:samples]:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(request)
            response = http.client.HTTPResponse(sock)
            response.begin()
            body = response.read()
        if response.status != 200:
            return f"{number}: HTTP {response.status}"
        try:
            root = ElementTree.fromstring(body)  # noqa: S314 (our own targets' answers)
        except ElementTree.ParseError:
            return f"{number}: not XML"
        if isinstance(target, Python) and "bare_app" in " ".join(target.args):
            continue  # the baseline answers a constant
        if (number in known) != (root.find("Dial") is not None):
            return f"{number}: {'no <Dial>' if number in known else 'a <Dial>'}"
    return None


def _recorded(database_url: str) -> int:
    from backline.store.database import Database

    database = Database(database_url)
    connection = database.connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM calls")
        return int(cursor.fetchone()[0])
    finally:
        connection.close()


_ADMIN_URL = os.environ.get("BACKLINE_BENCH_POSTGRES_URL") or os.environ.get(
    "BACKLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres(statement: str) -> bool:
    try:
        import psycopg2

        admin = psycopg2.connect(_ADMIN_URL, connect_timeout=3)
    except Exception:
        return False
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(statement)
    admin.close()
    return True


def _postgres_url(name: str = "backline_bench_answer") -> str | None:
    """A fresh database for this benchmark on the PostgreSQL server, or None without one."""
    if not _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"):
        return None
    _postgres(f"CREATE DATABASE {name}")
    from backline.config import normalise_database_url

    return normalise_database_url(_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")


def _drop_postgres(name: str) -> None:
    # Dropping waits for a checkpoint: the tens of thousands of calls just written are flushed
    # now, not in the middle of the next benchmark's measurements.
    _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Report:
    results: list[Result]
    lines: list[str]


def measure() -> Report:
    lines: list[str] = []
    wrk, wrk_line = find_or_install("wrk", "wrk")
    nginx, nginx_line = find_or_install("nginx", "nginx")
    for path, line in ((wrk, wrk_line), (nginx, nginx_line)):
        if path is None or "installed" in line:
            lines.append(line)
    scratch = Path(tempfile.mkdtemp(prefix="backline-bench-"))
    try:
        return _measure(scratch, wrk, nginx, lines)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _measure(scratch: Path, wrk: str | None, nginx: str | None, lines: list[str]) -> Report:
    warm_pool = make_pool(int(WARM_SECONDS * POOL_RATE), "0", seed=1)
    # One pool per round: every request backline answers during a run is a new call.
    pools = [make_pool(int(DURATION * POOL_RATE), f"{1 + n:x}", seed=2 + n) for n in range(ROUNDS)]
    targets: list[tuple[Target, str | None]] = []
    if nginx:
        targets.append((Nginx(nginx), None))
    else:
        lines.append("nginx: skipped (not available), so no static-file figure in this run")
    targets.append(
        (
            Python(
                "bare Starlette, constant answer",
                [
                    *("-m", "uvicorn", "bench.bare_app:app"),
                    *("--log-level", "warning", "--no-access-log"),
                ],
                {},
            ),
            None,
        )
    )
    # Each backline target has a database and a state directory of its own, so that the
    # calls recorded can be counted per target and no idle server works on another's calls.
    # The second of each pair writes without the writer process: what that process buys.
    variants: tuple[tuple[str, str, dict[str, str]], ...] = (
        ("", "", {}),
        (", writing in-process", "_in_process", {"BACKLINE_WRITER_PROCESS": "0"}),
    )
    databases: list[tuple[str, str, str, dict[str, str]]] = []
    for suffix, tag, extra in variants:
        databases.append((f"SQLite{suffix}", f"sqlite:///{scratch}/bench{tag}.db", tag, extra))
    postgres_names: list[str] = []
    for suffix, tag, extra in variants:
        postgres = _postgres_url(f"backline_bench_answer{tag}")
        if postgres is None:
            lines.append("PostgreSQL: no server at 127.0.0.1:5432, so no PostgreSQL figure")
            break
        postgres_names.append(f"backline_bench_answer{tag}")
        databases.append((f"PostgreSQL{suffix}", postgres, f"pg{tag}", extra))
    for label, url, tag, extra in databases:
        fill_table(url)
        env = {
            "BACKLINE_DATABASE_URL": url,
            "BACKLINE_TWILIO_AUTH_TOKEN": TOKEN,
            "BACKLINE_PUBLIC_URL": PUBLIC_URL,
            "BACKLINE_LOG_LEVEL": "WARNING",
            "BACKLINE_STATE_DIR": str(scratch / f"state{tag or '_sqlite'}"),
            **extra,
        }
        name = f"backline, durable record on {label}"
        targets.append((Python(name, ["-m", "backline.cli", "serve"], env), url))

    script = scratch / "requests.lua"
    script.write_text(WRK_SCRIPT)
    paths = {number: f"/twiml/{number}.xml" for number in known_numbers()}
    files: dict[tuple[str, str], Path] = {}
    raws: dict[tuple[str, str], list[bytes]] = {}
    for kind, mapping in (("app", None), ("static", paths)):
        for label, which in (("warm", warm_pool), *((f"run{n}", p) for n, p in enumerate(pools))):
            raws[kind, label] = which.raw(mapping)
            files[kind, label] = scratch / f"{kind}-{label}.pool"
            write_pool(files[kind, label], raws[kind, label])
    generator = "wrk (1 thread, 32 connections)" if wrk else "an asyncio client in this process"
    lines.append(f"load generator: {generator}")

    def load(port: int, kind: str, label: str, seconds: float) -> Round:
        if wrk:
            return run_wrk(wrk, script, files[kind, label], port, seconds)
        return asyncio.run(_python_load(port, list(raws[kind, label]), seconds))

    results = [Result(target.name) for target, _ in targets]
    ports: list[int] = []
    before: list[int] = []
    try:
        # All targets up at once (an idle server costs nothing), each checked and warmed.
        for (target, database_url), result in zip(targets, results, strict=True):
            port = target.start()
            ports.append(port)
            wrong = check_answers(port, warm_pool, target)
            if wrong:
                result.notes.append(f"WRONG ANSWER: {wrong}")
            load(port, "static" if target.nginx else "app", "warm", WARM_SECONDS)
            before.append(_recorded(database_url) if database_url else 0)
        for round_number in range(ROUNDS):
            for (target, _url), result, port in zip(targets, results, ports, strict=True):
                kind = "static" if target.nginx else "app"
                before_cpu = target.cpu_seconds() if isinstance(target, Python) else None
                result.rounds.append(load(port, kind, f"run{round_number}", DURATION))
                after_cpu = target.cpu_seconds() if isinstance(target, Python) else None
                if before_cpu and after_cpu:
                    result.cpu_main += after_cpu[0] - before_cpu[0]
                    result.cpu_others += after_cpu[1] - before_cpu[1]
                    result.cpu_children += after_cpu[2] - before_cpu[2]
            print(
                f"  round {round_number + 1}: "
                + ", ".join(f"{r.rounds[-1].rate:,.0f}" for r in results)
                + " answers/s",
                flush=True,
            )
        for result in results:
            if result.cpu_note:
                result.notes.append(result.cpu_note)
        for (_target, database_url), result, counted in zip(targets, results, before, strict=True):
            if database_url is None:
                continue
            # Every answer of the run was a new call, recorded before the answer left.
            stored = _recorded(database_url) - counted
            answered = result.requests - result.errors
            repeated = sum(max(0, r.requests - len(pools[0].items)) for r in result.rounds)
            result.notes.append(
                f"{stored:,} calls recorded during the rounds for {answered:,} answers counted "
                f"(the calls still in flight when a round ends are recorded, not counted)"
                + (f"; {repeated:,} requests repeated a CallSid" if repeated else "")
            )
    finally:
        for target, _url in targets:
            target.stop()
    for postgres_name in postgres_names:
        _drop_postgres(postgres_name)
    if wrk:
        lines.append(f"wrk: {version([wrk, '-v'])}")
    if nginx:
        lines.append(version([nginx, "-v"]))
    return Report(results, lines)


def table(report: Report) -> list[str]:
    bare = next((r for r in report.results if r.name.startswith("bare")), None)
    nginx = next((r for r in report.results if r.name.startswith("nginx")), None)
    rows = [
        "| target | answers/s | rounds | p50 ms | p99 ms | errors | of bare Starlette | of nginx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in report.results:
        to_bare = f"{result.rate / bare.rate:.2f}" if bare and bare.rate else "-"
        to_nginx = f"{result.rate / nginx.rate:.3f}" if nginx and nginx.rate else "-"
        rows.append(
            f"| {result.name} | {result.rate:,.0f} | {result.spread} | {result.p50_ms:.2f} "
            f"| {result.p99_ms:.2f} | {result.errors} | {to_bare} | {to_nginx} |"
        )
    return rows


def markdown(report: Report) -> str:
    out = [
        f"{CALLERS} concurrent callers; {ROUNDS} rounds of {DURATION:g} s per target, taken in "
        f"turn after a {WARM_SECONDS:g} s warm-up each, the median shown (and the range of the "
        f"rounds); {KNOWN_NUMBERS} numbers in the table, {KNOWN_SHARE:.0%} of requests to one "
        "of them; every request a new signed call.",
        "",
        *table(report),
        "",
    ]
    notes = [f"{r.name}: {note}" for r in report.results for note in r.notes]
    out += [f"- {line}" for line in [*report.lines, *notes]]
    out += [
        "",
        "The load generator and the server share the machine's cores, so the fastest target "
        "(nginx) is held back by the client as much as by itself: its figure is a floor of the "
        "static-file limit, not the limit.",
        "",
        *PROFILE_NOTES,
    ]
    return "\n".join(out)


# What a profile of `backline serve` under this benchmark's load showed, and what was done about
# it: kept beside the figures, since it explains them.
PROFILE_NOTES = [
    "Where a warm answer's time goes (py-spy on `backline serve` under this load, SQLite; "
    "`py-spy record -p PID -r 200 -t`, with `--gil` for who holds the interpreter lock):",
    "",
    "- Before backline's Twilio paths became a plain ASGI endpoint, Starlette's routing, "
    "middleware, Request and Response took more of the event loop's time than the signature "
    "check and the planning together. Starlette now serves only /healthz and the rest.",
    "- The twilio library's signature computation cost about 90 µs an answer under load (its "
    "generic parameter handling); the same HMAC-SHA1 written out "
    "(`backline.core.signatures`, held equal to the library by property tests) about 7 µs. "
    "Keying the HMAC once per token and copying it also keeps the interpreter lock: "
    "`hmac.digest` let go of it, and taking it back from the recorder's thread cost more than "
    "the HMAC.",
    "- A timer armed and cancelled per answer (the wait for the durable record) was about a "
    "twentieth of the loop's time; one timer per event loop now times out all waiting answers.",
    "- The notification dispatcher wrote one statement per new event (a round trip each on "
    "PostgreSQL: a fifth of the process's samples); a pass now writes its events in batches.",
    "- A group commit's batch was written with a statement step per row. On SQLite each step "
    "lets go of the interpreter lock, and the recorder's thread then waits for the event loop "
    "to give it back: a batch of about 17 calls took a median 4.9 ms, of which 1.4 ms was the "
    "thread's own CPU. Two multi-row inserts (the calls, then their events) brought it to "
    "2.5 ms. Formatting each record's timestamp with strftime was the largest single cost of "
    "planning an answer; the formatted second is now reused.",
    "- The interpreter lock was then what bounded a worker: the CPU per answer of all its "
    "threads together was about the inverse of its answers per second, and a third of it was "
    "the recorder's thread turning batches into rows. That work now runs in the writer process "
    "(the CPU lines show it apart; compare the lines writing in-process), so the serving "
    "process's lock goes to the event loop's thread: uvicorn's HTTP as for the bare endpoint, "
    "then the form, the signature, the plan and the handoff of the record. During a storm the "
    "notification dispatcher's passes are spaced to a quarter of a second, which took about a "
    "tenth more answers a second. Every call is still durable before its answer (on SQLite a "
    "WAL fsync per batch, `synchronous=FULL`).",
    "- With the writer process, no single thread or process was busy all the time, and a "
    "fifth to a third of the machine was idle: each answer waited on a chain of hand-offs. "
    "Timing the recorder showed a batch of about 20 calls taking about 2 ms in the writer and "
    "as long again before the next one left: the recorder's thread, woken by the reply, waited "
    "for the interpreter lock, which the event loop let go of at every system call but took "
    "straight back, until Python's switch interval (5 ms) forced it over. At 0.5 ms, set while "
    "the server runs, answers per second rose by about a tenth on both databases. On "
    "PostgreSQL each column of a batch now goes as one text array (unnested by the server) "
    "rather than a VALUES list quoted value by value by the driver: a fifth less of the "
    "writer's CPU per call. A second writer working in parallel on its own connection gained "
    "nothing (PostgreSQL's own CPU per call rose with it), so there is one.",
    "- Then the recorder's thread spent 95% of its time waiting for the writer's reply (a median "
    "1.5 ms for a batch of 16 calls) and almost none waiting for work: the writer and the "
    "database set the pace. With idle time counted, a quarter of the writer's time went to "
    "COMMIT and two fifths to the statement; on PostgreSQL about a third of the server's time "
    "per batch was planning that statement again. The writer now prepares it once per "
    "connection, and its connection commits each statement by itself, so a batch of new calls "
    "is one round trip instead of three (BEGIN, the statement, COMMIT). The server's CPU per "
    "call fell by about a fifth and answers per second rose by about 5% in same-run "
    "comparisons; through a relay adding 0.25 ms each way, as to a database on another "
    "machine, the single round trip more than doubled them.",
]


def main() -> Report:
    print(
        f"Warm answers: {CALLERS} callers, {ROUNDS} rounds of {DURATION:g} s per target in turn, "
        "one worker each, loopback",
        flush=True,
    )
    report = measure()
    print("\n".join(table(report)))
    for line in report.lines:
        print(line)
    for result in report.results:
        for note in result.notes:
            print(f"{result.name}: {note}")
    return report


if __name__ == "__main__":
    main()
