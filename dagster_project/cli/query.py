"""Reading personal data: `sql` over the masked analyst database (or, for roles that may, the
restricted warehouse) and `access-log`, the record of who read what.

Every command here checks the acting user's role (governance.yaml `access`) and appends what it
did to the access log, refusals included.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from dagster_project import settings
from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_RUN_FAILED,
    AsOption,
    ConfigOption,
    authorise_or_refuse,
    console,
    err_console,
    fail,
    load_governance,
    log_access,
)

TABLE_LIMIT = 50
ACCESS_LOG_COLUMNS = ("at", "user", "role", "action", "detail", "outcome", "rows")


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _cell(value: object) -> Text:
    # Text, not a string: a value such as "[vip]", "x [/] y" or ":x:" is data, never markup or
    # an emoji code.
    return Text("∅" if value is None else str(value), style="dim" if value is None else "")


def sql(
    query: Annotated[str, typer.Argument(help="One SELECT statement.")],
    config: ConfigOption = None,
    as_user: AsOption = None,
    warehouse: Annotated[
        bool,
        typer.Option(
            "--warehouse",
            help="Query the restricted warehouse (raw, staging, unmasked marts) instead of the "
            "analyst database; values are masked on display. Needs the query_warehouse right.",
        ),
    ] = False,
    unmasked: Annotated[
        bool,
        typer.Option(
            help="Query the restricted warehouse and show personal data as stored. Needs the "
            "view_unmasked right.",
        ),
    ] = False,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table (default), csv or json, to stdout.")
    ] = OutputFormat.table,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help=f"Rows at most (default: {TABLE_LIMIT} as a table, all as csv or json)."
        ),
    ] = None,
) -> None:
    """Run one read-only SELECT over the analyst database, where personal data is masked at
    rest, and print the result literally.

    The connection can read nothing but its database: no files (COPY, read_csv, ATTACH), no
    extensions, no settings. Every query is logged with its literals redacted.
    """
    from dagster_project.lib.privacy.access import redact_literals
    from dagster_project.lib.privacy.masking import mask_evidence
    from dagster_project.lib.privacy.sandbox import QueryRefusedError, run_query

    _, governance = load_governance(config)
    restricted = warehouse or unmasked
    right = "view_unmasked" if unmasked else "query_warehouse" if restricted else "query_analytics"
    target = "warehouse unmasked" if unmasked else "warehouse" if restricted else "analytics"
    action = f"sql {target}"
    detail = redact_literals(query)
    actor = authorise_or_refuse(governance, right, action, detail, as_user)
    path = settings.warehouse_path() if restricted else settings.analytics_path()
    if not path.exists():
        log_access(actor, action, detail, "failed: no database")
        what = "warehouse" if restricted else "analyst database"
        raise fail(
            f"no {what} at {path} yet: run the daily job first (`custodian run`, or `make "
            "demo`), or set "
            + ("CUSTODIAN_WAREHOUSE" if restricted else "CUSTODIAN_ANALYTICS")
            + " to an existing file",
            EXIT_BAD_INPUT,
        )
    rows_limit = (
        limit if limit is not None else (TABLE_LIMIT if output is OutputFormat.table else None)
    )
    try:
        result = run_query(path, query, rows_limit)
    except QueryRefusedError as exc:
        log_access(actor, action, detail, "refused: " + str(exc).split(":")[0])
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except RuntimeError as exc:
        log_access(actor, action, detail, "failed: locked")
        raise fail(str(exc), EXIT_RUN_FAILED) from None
    log_access(actor, action, detail, "ok", rows=len(result.rows))
    columns = result.columns
    rows = result.rows
    if restricted and not unmasked:
        # A convenience for engineers at a terminal, by column name (an unknown name is masked
        # too); the protection is the analyst database, where values are masked at rest.
        rows = [
            tuple(mask_evidence(c, v) for c, v in zip(columns, row, strict=True)) for row in rows
        ]
    if output is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    elif output is OutputFormat.json:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, ensure_ascii=False, default=str) + "\n")
    else:
        table = Table(show_lines=False)
        for column in columns:
            table.add_column(Text(column))
        for row in rows:
            table.add_row(*(_cell(value) for value in row))
        console.print(table)
    where = {
        "analytics": "analyst database (masked at rest)",
        "warehouse": "restricted warehouse (masked on display)",
        "warehouse unmasked": "restricted warehouse, UNMASKED",
    }[target]
    more = " (more rows not shown; use --limit)" if result.truncated else ""
    summary = f"{len(rows)} row(s){more} from the {where}"
    # The summary goes to stderr for csv/json so stdout stays one parseable document.
    (console if output is OutputFormat.table else err_console).print(Text(summary), highlight=False)


def access_log(
    config: ConfigOption = None,
    as_user: AsOption = None,
    last: Annotated[int, typer.Option(min=1, help="Entries to show, newest last.")] = 20,
) -> None:
    """Show the latest access-log entries and verify the log's hash chain (exit 1 if broken)."""
    from dagster_project.lib.privacy.access import read_access_log, verify_access_log

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "read_access_log", "access-log", "", as_user)
    path = settings.access_log_path()
    entries = list(read_access_log(path))
    problems = verify_access_log(path)
    log_access(actor, "access-log", f"last {last}", "ok", rows=min(last, len(entries)))
    table = Table(title=f"Access log {path} ({len(entries):,} entries)")
    for column in ACCESS_LOG_COLUMNS:
        table.add_column(column, overflow="fold")
    for entry in entries[-last:]:
        table.add_row(*(_cell(entry.get(column)) for column in ACCESS_LOG_COLUMNS))
    console.print(table)
    if problems:
        raise fail("the access log has been altered:\n  " + "\n  ".join(problems), EXIT_RUN_FAILED)
    console.print(Text(f"hash chain intact over {len(entries):,} entries"))
