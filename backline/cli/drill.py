"""`backline drill`: check every number's fallback, and every channel, against the live service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from backline.cli._common import AsJson, DatabaseUrl, fail, print_json
from backline.cli._common import config as load_config

if TYPE_CHECKING:
    from backline.core.drill import DrillReport

__all__ = ["register"]


def drill(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="Base URL of the running service (default: BACKLINE_PUBLIC_URL).",
        ),
    ] = None,
    number: Annotated[
        list[str] | None,
        typer.Option(
            "--number",
            "-n",
            metavar="NUMBER",
            help="Drill only this number (repeat for several; default: every number).",
            show_default=False,
        ),
    ] = None,
    no_notify: Annotated[
        bool,
        typer.Option("--no-notify", help="Do not send the channels the drill's result."),
    ] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Check each number's answers with signed drill requests, then each channel.

    Drill requests are answered like calls but never recorded or told as calls. Each channel
    gets one message with the result. Exits 1 naming each number or channel that failed.
    """
    from backline.config import ConfigError, normalise_database_url
    from backline.core.validation import InvalidValue, e164, http_url
    from backline.drill import DrillError, run_drill, save_report

    overrides: dict[str, object] = {}
    try:
        if database_url:
            overrides["database_url"] = normalise_database_url(database_url)
        if url:
            url = http_url(url, what="--url")
        numbers = [e164(item, what="--number") for item in number or ()]
    except (ConfigError, InvalidValue) as error:
        fail(str(error))
    config = load_config(**overrides)
    try:
        report = run_drill(config, url=url, numbers=numbers, notify=not no_notify)
    except DrillError as error:
        fail(str(error))
    kept = True
    try:
        save_report(config.database_url, report)
    except DrillError as error:
        kept = False
        typer.echo(f"warning: {error}", err=True)
    if as_json:
        print_json(report.to_json())
    else:
        _print(report)
    if not report.ok:
        named = [*report.failing_numbers, *(c.name for c in report.failing_channels)]
        fail(f"the drill failed: {', '.join(named)}", code=1)
    if not kept:
        raise typer.Exit(1)


def _print(report: DrillReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    numbers = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
    numbers.add_column("NUMBER", no_wrap=True)
    numbers.add_column("CLIENT", overflow="fold")
    numbers.add_column("EXPECTED", overflow="fold")
    numbers.add_column("RESULT", no_wrap=True)
    numbers.add_column("MS", justify="right", no_wrap=True)
    for result in report.numbers:
        verdict = Text("ok", style="green") if result.ok else Text("FAIL", style="bold red")
        numbers.add_row(
            Text(result.number),
            Text(result.client or "-"),
            Text(result.expected),  # Text: no markup from names or messages
            verdict,
            Text(f"{result.slowest_ms:.0f}"),
        )
        for problem in result.problems:
            numbers.add_row("", "", Text(f"  {problem}", style="red"), "", "")
    console.print(numbers)
    if report.channels:
        console.print()
        channels = Table(box=None, pad_edge=False, header_style="bold")
        channels.add_column("CHANNEL", overflow="fold")
        channels.add_column("RESULT", no_wrap=True)
        channels.add_column("ANSWER", overflow="fold")
        for channel in report.channels:
            verdict = Text("ok", style="green") if channel.ok else Text("FAIL", style="bold red")
            channels.add_row(Text(channel.name), verdict, Text(channel.detail))
        console.print(channels)
    elif not report.notified:
        console.print("channels not checked (--no-notify)")
    else:
        console.print("no channels to check")
    service = report.service
    if service is not None:
        snapshot = service.get("snapshot") or {}
        console.print(
            Text(
                f"service {report.url}: {service.get('status')}, table from "
                f"{snapshot.get('source')} ({snapshot.get('numbers')} numbers), database "
                f"{service.get('database')}, journal {service.get('journal_pending')}"
            )
        )
    if report.ok:
        console.print(
            Text(
                f"drill passed: {len(report.numbers)} number(s), {len(report.channels)} channel(s)",
                style="green",
            )
        )


def register(app: typer.Typer) -> None:
    app.command("drill")(drill)
