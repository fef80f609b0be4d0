"""Data in and out by hand: generated demo drops (`demo-data`) and read-only queries (`sql`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dagster_project import settings
from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    ConfigOption,
    console,
    fail,
    load_governance,
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


def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the warehouse.")],
    config: ConfigOption = None,
    unmasked: Annotated[
        bool, typer.Option(help="Show personal data unmasked (masked by default).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows to print at most.")] = 50,
) -> None:
    """Query the warehouse read-only and print the result as a table."""
    import duckdb

    from dagster_project.lib.privacy.masking import mask_column_value
    from dagster_project.lib.warehouse import connect

    # Validated though not yet read: masking policy and warehouse settings will come from it,
    # and a broken config should be found by the first command, not the nightly run.
    load_governance(config)
    try:
        con = connect(settings.warehouse_path(), read_only=True, timeout=5)
    except (FileNotFoundError, RuntimeError) as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    try:
        cursor = con.execute(query)
        if cursor.description is None:
            console.print("(statement returned no rows)")
            return
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchmany(limit + 1)
    except duckdb.Error as exc:
        raise fail(f"query failed: {str(exc).splitlines()[0]}", EXIT_BAD_INPUT) from None
    finally:
        con.close()
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(escape(column))
    for row in rows[:limit]:
        # Escaped: a value such as "[vip]" is data, not rich markup to swallow.
        table.add_row(
            *(
                "∅"
                if value is None
                else escape(str(value if unmasked else mask_column_value(column, value)))
                for column, value in zip(columns, row, strict=True)
            )
        )
    console.print(table)
    more = " (more rows not shown; use --limit)" if len(rows) > limit else ""
    console.print(f"{min(len(rows), limit)} row(s){more}" + ("" if unmasked else "; PII masked"))
