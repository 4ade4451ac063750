"""Run every benchmark, or the ones named: python -m bench [answer] [coldstart] [notify] [surge].

Run whole (`make bench`), it also writes docs/benchmarks.md: the machine, the commands, each
benchmark's figures and the ratios between them, all from this one run.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

# The cold start first: its few milliseconds are the figures most easily disturbed by what the
# heavier benchmarks leave behind (a database flushing, caches).
ALL = ("coldstart", "answer", "notify", "surge")
TITLES = {
    "answer": "Warm answers, beside nginx and a bare endpoint",
    "coldstart": "Lambda cold start, beside a standard-library-only handler",
    "notify": "Time to know",
    "surge": "An outage surge, the database stopped halfway",
}
REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


class _Tee(io.TextIOBase):
    """Prints as usual and keeps a copy for the report."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def _run(name: str) -> tuple[ModuleType | None, Any, str]:
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"bench.{name}":
            print(f"({name}: not available in this checkout)\n")
            return None, None, f"({name}: not available in this checkout)"
        raise
    kept = io.StringIO()
    value = None
    with contextlib.redirect_stdout(_Tee(sys.stdout, kept)):
        try:
            value = module.main()
        except Exception as error:  # one benchmark failing must not lose the others' figures
            print(f"{name}: failed: {type(error).__name__}: {error}")
    print()
    return module, value, kept.getvalue()


def _postgres_version() -> str:
    try:
        import psycopg2

        connection = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    except Exception:
        return "no server at 127.0.0.1:5432"
    with connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    connection.close()
    return f"PostgreSQL {row[0]} on 127.0.0.1:5432" if row else "unknown"


def _ratios(results: dict[str, tuple[ModuleType | None, Any, str]]) -> list[str]:
    lines = []
    answer = results.get("answer")
    if answer and answer[1] is not None:
        by_name = {result.name: result.rate for result in answer[1].results if result.rate}
        bare = next((rate for name, rate in by_name.items() if name.startswith("bare")), None)
        nginx = next((rate for name, rate in by_name.items() if name.startswith("nginx")), None)
        for name, rate in by_name.items():
            if name.startswith("backline"):
                parts = []
                if bare:
                    parts.append(f"{rate / bare:.2f} of the bare Starlette endpoint")
                if nginx:
                    parts.append(f"{rate / nginx:.3f} of nginx serving static files")
                lines.append(f"- {name}: " + ", ".join(parts))
        if bare and nginx:
            lines.append(f"- bare Starlette endpoint: {bare / nginx:.2f} of nginx")
        surge = results.get("surge")
        slowest = min(
            (
                rate
                for name, rate in by_name.items()
                if name.startswith("backline") and "in-process" not in name
            ),
            default=None,
        )
        if surge and surge[1] is not None and slowest:
            from bench.surge import CALLS, SECONDS

            lines.append(
                f"- headroom: the surge's {CALLS / SECONDS:.0f} calls a second is "
                f"{CALLS / SECONDS / slowest:.0%} of what one backline worker answered warm "
                "(the slower database, with its writer process)"
            )
    coldstart = results.get("coldstart")
    if coldstart:
        # "goal: the built package within 3x of the baseline (wall), sqlite: 2.50x, within"
        for database, ratio in re.findall(
            r"^goal: .*?(?:, (\w+))?: ([0-9.]+x)", coldstart[2], re.MULTILINE
        ):
            where = f" on {database}" if database else ""
            lines.append(
                f"- Lambda cold start of the built package{where}: {ratio} the "
                "standard-library-only handler (wall)"
            )
        size = re.search(r"^Package \(.*?\): (.*)$", coldstart[2], re.MULTILINE)
        if size:
            lines.append(f"- Lambda package: {size.group(1)}")
    return lines


def _report(results: dict[str, tuple[ModuleType | None, Any, str]], seconds: float) -> str:
    from bench.tools import machine

    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`): every figure below comes from one run on "
        "one machine. **The figures are indicative.** The machine is small and shared (other "
        "work ran on its cores at the same time), and each load generator shares the cores with "
        "the server it measures; absolute numbers move from run to run by 10 to 30 percent. "
        "Compare the ratios, which are measured side by side in the same run.",
        "",
        "## The machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {what} | {value} |" for what, value in machine()),
        f"| Database | {_postgres_version()} |",
        f"| Run took | {seconds / 60:.1f} min |",
        "",
        "## Commands",
        "",
        "```sh",
        "make bench                       # everything, and writes this file",
        "python -m bench answer           # one of: answer, coldstart, notify, surge (prints only)",
        "BENCH_ROUNDS=5 BENCH_SECONDS=5 python -m bench answer   # rounds per target, seconds each",
        "BENCH_COLDSTART_RUNS=15 python -m bench coldstart",
        "BENCH_SURGE_CALLS=2000 BENCH_SURGE_SECONDS=20 python -m bench surge",
        "```",
        "",
        "`answer` uses Debian's `nginx` and `wrk` packages: found on the PATH, installed with "
        "`apt-get` from a root shell, or left out with a line saying so (the load then comes "
        "from an asyncio client). `surge` starts a private PostgreSQL cluster (the server "
        "binaries, `initdb` and `pg_ctl`), else cuts a TCP relay to the server on "
        "127.0.0.1:5432. The PostgreSQL figures need that server.",
        "",
        "## Ratios",
        "",
        *(_ratios(results) or ["(not measured in this run)"]),
        "",
    ]
    for name, (module, value, printed) in results.items():
        out += [f"## {TITLES.get(name, name)}", ""]
        render = getattr(module, "markdown", None) if module is not None else None
        if render is not None and value is not None:
            out += [render(value), ""]
        else:
            out += ["```text", printed.strip(), "```", ""]
    return "\n".join(out)


def main() -> None:
    names = sys.argv[1:] or list(ALL)
    for name in names:
        if name not in ALL:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(ALL)}")
    started = time.monotonic()
    results = {name: _run(name) for name in names}
    if not sys.argv[1:]:
        REPORT.write_text(_report(results, time.monotonic() - started), encoding="utf-8")
        print(f"written: {REPORT.relative_to(REPORT.parent.parent)}")


if __name__ == "__main__":
    main()
