"""Generated demo drops (`demo-data`): realistic, messy files from several systems."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    console,
    fail,
    progress_bar,
)


def demo_data(
    out: Annotated[Path, typer.Option(help="Landing folder to write the drops into.")] = Path(
        "data/landing"
    ),
    customers: Annotated[int, typer.Option(min=1, help="Number of distinct people.")] = 5000,
    days: Annotated[int, typer.Option(min=1, max=366, help="Daily drops to write.")] = 5,
    start: Annotated[
        str, typer.Option(help="First drop's date, YYYY-MM-DD (day one is a full extract).")
    ] = "2026-11-01",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 42,
    faults: Annotated[
        bool, typer.Option(help="Inject file faults (malformed lines, drift, a re-sent file).")
    ] = False,
) -> None:
    """Generate realistic, messy multi-source demo drops with ground truth under <out>/_truth."""
    from dagster_project.lib.demo import generate_demo_data

    try:
        start_date = date.fromisoformat(start)
    except ValueError:
        raise fail(f"--start {start!r} is not a date; use YYYY-MM-DD", EXIT_BAD_INPUT) from None
    with progress_bar() as progress:
        tasks: dict[str, int] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=done, total=total)

        summary = generate_demo_data(
            out,
            customers=customers,
            days=days,
            start=start_date,
            seed=seed,
            faults=faults,
            progress=report,
        )
    table = Table(title=f"Demo data in {out}")
    table.add_column("source")
    table.add_column("records", justify="right")
    for source, count in sorted(summary.records_per_source.items()):
        table.add_row(source, f"{count:,}")
    console.print(table)
    console.print(
        f"{summary.people:,} people; ground truth in {out / '_truth'}; "
        f"events: {', '.join(f'{k}={v}' for k, v in sorted(summary.events.items())) or 'none'}"
    )
