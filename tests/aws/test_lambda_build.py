"""The package as it is deployed: `make lambda-package`'s script, the real `sam build` on the
template, then the built handlers run by a Python that sees nothing but the built folder and
the standard library, as Lambda runs them.

Only PyPI, Debian and npm are reachable here, and Lambda's own Python images are not: the test
builds for this interpreter's version and this machine's architecture (the template takes both
as parameters, so the same template and script build for the runtime you deploy), and runs the
handlers with this interpreter in isolated mode (-I -S: no site-packages, no PYTHON* variables).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from backline.aws.alarms import LogEvent
from tests.aws.conftest import (
    DEPLOYMENTS,
    DESTINATION,
    TWILIO_NUMBER,
    add_route,
    lambda_env,
    rows,
    twilio_post,
)
from tests.processes import Relay, Server
from tests.support import fallback_params, service_env

ROOT = Path(__file__).resolve().parents[2]
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
MACHINE = platform.machine()
FALLBACK = "/twilio/voice/fallback"

# Run in the child: import the handler (the function's init), then one event per invocation,
# each with a context whose remaining time runs down as Lambda's does.
RUNNER = r"""
import json, logging, sys, time
artifact, handler_module, events_path, remaining_ms = sys.argv[1:5]
sys.path.insert(0, artifact)
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append({"level": record.levelname, "message": record.getMessage(),
                        "backline": getattr(record, "backline", None)})
logging.getLogger().addHandler(Keep())
logging.getLogger().setLevel(logging.INFO)
module = __import__(handler_module, fromlist=["handler"])
class Context:
    def __init__(self, ms):
        self.deadline = time.monotonic() + int(ms) / 1000
        self.function_name, self.aws_request_id = "backline-fallback", "0" * 36
    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.monotonic()) * 1000)
results = []
for event in json.load(open(events_path)):
    context = Context(remaining_ms)
    result = module.handler(event, context)
    results.append({"result": result, "in_time": context.get_remaining_time_in_millis() > 0})
extra = sys.argv[5:]
for name in extra:
    __import__(name)
if extra:
    import zoneinfo
    zoneinfo.ZoneInfo("Asia/Tokyo")
stdlib = (sys.base_prefix, sys.base_exec_prefix)
loaded = {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items())
          if name != "__main__"}
outside = sorted(n for n, f in loaded.items()
                 if f and not f.startswith(artifact) and not f.startswith(stdlib))
print(json.dumps({"results": results, "outside": outside, "records": records,
                  "psycopg": loaded.get("psycopg2._psycopg")}))
"""


def sam_cli() -> str | None:
    bundled = ROOT / ".venv" / "sam" / "bin" / "sam"
    return str(bundled) if bundled.exists() else shutil.which("sam")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template, verbatim, in a project of its own; the package built where its CodeUri
    points for this Python and architecture; then `sam build`."""
    sam = sam_cli()
    if sam is None:
        if os.environ.get("BACKLINE_TEST_REQUIRE_SAM") == "1":
            pytest.fail("the SAM CLI is required (make install puts it in .venv/sam)")
        pytest.skip("the SAM CLI is not installed (make install puts it in .venv/sam)")
    root = tmp_path_factory.mktemp("project")
    (root / "deploy" / "aws").mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "aws" / "template.yaml", root / "deploy" / "aws")
    package = root / "build" / "lambda" / f"python{PYTHON}-{ARCH}"
    env = {
        **os.environ,
        "LAMBDA_PYTHON_VERSION": PYTHON,
        "LAMBDA_ARCH": ARCH,
        "LAMBDA_PYTHON": sys.executable,
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-lambda"), str(package)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [
            sam,
            "build",
            "--template-file",
            str(root / "deploy" / "aws" / "template.yaml"),
            "--build-dir",
            str(root / ".aws-sam" / "build"),
            "--parameter-overrides",
            f"PythonVersion={PYTHON}",
            f"Architecture={ARCH}",
        ],
        cwd=root,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root / ".aws-sam" / "build"


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1_000_000


def invoke(
    artifact: Path,
    events: list[dict[str, Any]],
    env: dict[str, str],
    tmp_path: Path,
    *,
    module: str = "backline.aws.fallback",
    remaining_ms: int = 10_000,
    imports: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A cold instance: a fresh process, the built folder first on its path, nothing else."""
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    events_path = tmp_path / f"events-{len(list(tmp_path.glob('events-*')))}.json"
    events_path.write_text(json.dumps(events))
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            str(runner),
            str(artifact),
            module,
            str(events_path),
            str(remaining_ms),
            *imports,
        ],
        env={"PATH": "/usr/bin:/bin", "AWS_LAMBDA_FUNCTION_NAME": "backline-fallback", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
def test_the_built_package_keeps_compiled_modules_and_bytecode(built: Path) -> None:
    manifest = json.loads((built / "FallbackFunction" / "backline-build.json").read_text())
    assert (manifest["python"], manifest["architecture"]) == (PYTHON, ARCH)
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    for function in ("FallbackFunction", "DispatcherFunction", "DrillFunction"):
        folder = built / function
        assert (folder / "psycopg2" / f"_psycopg.{tag}-{MACHINE}-linux-gnu.so").is_file()
        assert (folder / "backline" / "__pycache__" / f"answer.{tag}.pyc").is_file()
        assert (folder / "twilio" / "twiml" / "__pycache__" / f"voice_response.{tag}.pyc").is_file()
        assert not (folder / "twilio" / "rest").exists()
        assert not (folder / "Makefile").exists()
        # Only what runs there: no web framework, ORM, migration tool or twilio's REST deps.
        present = {p.name for p in folder.iterdir()}
        for absent in (
            *("starlette", "uvicorn", "sqlalchemy", "alembic", "typer", "aiohttp"),
            *("jinja2", "argon2", "playwright", "schemathesis"),  # the admin's and its tests'
        ):
            assert absent not in present
        assert size_mb(folder) < 40
    built_template = (built / "template.yaml").read_text()
    assert "CodeUri: FallbackFunction" in built_template
    assert "CodeUri: DispatcherFunction" in built_template
    assert "CodeUri: DrillFunction" in built_template


@pytest.mark.slow
def test_the_dispatcher_imports_its_channels_from_the_package_alone(
    built: Path, tmp_path: Path
) -> None:
    report = invoke(
        built / "DispatcherFunction",
        [],
        {},
        tmp_path,
        module="backline.aws.dispatcher",
        imports=(
            "backline.notify.dispatcher",
            "backline.notify.channels.slack",
            "backline.notify.channels.email",
            "backline.notify.channels.sms",
            "backline.notify.channels.webhook",
        ),
    )
    assert report["outside"] == []


@pytest.mark.slow
def test_the_drill_runs_from_the_package_alone(built: Path, postgres: str, tmp_path: Path) -> None:
    """The built drill function drills a running service and keeps its result, loading
    nothing from outside the package (no ORM: the package has none)."""
    env = service_env(postgres, tmp_path / "state")
    server = Server({**env, "BACKLINE_LOG_LEVEL": "WARNING"}, tmp_path)
    try:
        report = invoke(
            built / "DrillFunction",
            [{"url": server.base, "notify": False}],
            {**env, "BACKLINE_STATE_DIR": str(tmp_path / "drill")},
            tmp_path,
            module="backline.aws.drill",
        )
    finally:
        server.stop()
    assert report["outside"] == []
    [result] = report["results"]
    assert result["result"]["ok"] is True
    assert [n["number"] for n in result["result"]["numbers"]] == [TWILIO_NUMBER]


@pytest.fixture
def postgres(postgres_url: str) -> str:
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
    add_route(postgres_url)
    return postgres_url


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rest-v1", "http-v2", "function-url"])
def test_the_built_handler_answers_each_kind_of_event_against_postgresql(
    kind: str, built: Path, postgres: str, tmp_path: Path
) -> None:
    deployment = next(d for d in DEPLOYMENTS if d.kind == kind)
    params = fallback_params(TWILIO_NUMBER)
    env = lambda_env(postgres, deployment.public_url, tmp_path / "state")
    report = invoke(
        built / "FallbackFunction", [twilio_post(deployment, FALLBACK, params)], env, tmp_path
    )
    (outcome,) = report["results"]
    result = outcome["result"]
    assert result["statusCode"] == 200, report["records"]
    assert result["headers"]["content-type"].startswith("text/xml")
    assert f"<Number>{DESTINATION}</Number>" in result["body"]
    assert outcome["in_time"]
    # The driver's compiled module came from the package; nothing came from anywhere else.
    assert report["psycopg"].startswith(str(built / "FallbackFunction"))
    assert report["outside"] == []
    recorded = rows(
        postgres, "SELECT outcome FROM calls WHERE call_sid = :sid", sid=params["CallSid"]
    )
    assert recorded == [("forwarding",)]


@pytest.fixture
def hung_postgres(postgres: str) -> Iterator[tuple[str, Relay]]:
    """PostgreSQL behind a relay that accepts connections and passes nothing on."""
    parts = urlsplit(postgres)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    relay.freeze()
    yield postgres.replace(parts.netloc, f"{parts.username}@127.0.0.1:{relay.port}"), relay
    relay.close()


@pytest.mark.slow
def test_a_cold_instance_answers_in_time_when_the_database_hangs(
    built: Path, hung_postgres: tuple[str, Relay], tmp_path: Path
) -> None:
    """The invocation has 3 s; the database accepts and never answers: valid TwiML before the
    time runs out, the call in the local journal, and both marked for the alarms."""
    url, _relay = hung_postgres
    deployment = next(d for d in DEPLOYMENTS if d.kind == "http-v2")
    params = fallback_params(TWILIO_NUMBER)
    state = tmp_path / "state"
    env = lambda_env(url, deployment.public_url, state, BACKLINE_ANSWER_DEADLINE_SECONDS="2.5")
    report = invoke(
        built / "FallbackFunction",
        [twilio_post(deployment, FALLBACK, params)],
        env,
        tmp_path,
        remaining_ms=3000,
    )
    (outcome,) = report["results"]
    assert outcome["in_time"], report["records"]
    result = outcome["result"]
    assert result["statusCode"] == 200
    assert ElementTree.fromstring(result["body"]).tag == "Response"
    with sqlite3.connect(state / "journal.db") as journal:
        assert journal.execute("SELECT count(*) FROM records").fetchone() == (1,)
    marks = {record["backline"] for record in report["records"]}
    assert {LogEvent.JOURNALED.value, LogEvent.LAST_RESORT.value} <= marks
