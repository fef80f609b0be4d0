"""`custodian history`: what changed for one golden customer or source record, values masked."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from dagster_project import settings
from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    AsOption,
    ConfigOption,
    authorise_or_refuse,
    console,
    fail,
    load_governance,
    log_access,
)

HISTORY_LIMIT = 500


def history(
    customer: Annotated[
        str | None, typer.Option("--customer", help="A golden customer ID, e.g. G000123.")
    ] = None,
    record: Annotated[
        str | None, typer.Option("--record", help="A source record key, source:id.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only changes from this delivery day on, YYYY-MM-DD.")
    ] = None,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """What changed for one golden customer or one source record, oldest first: record
    inserts, deletes and field changes (old and new standardised values, masked), changed golden
    values, and the customer's ID events (issued, merged, split, retired). Needs the review
    right (stewards, admins); logged."""
    from datetime import date

    from dagster_project.lib.history.schema import (
        CHANGE_LOG,
        HISTORY_COLUMNS,
        customer_history,
    )
    from dagster_project.lib.privacy.masking import mask_evidence
    from dagster_project.lib.warehouse import connection, table_exists

    if (customer is None) == (record is None):
        raise fail("give one of --customer GOLDEN_ID or --record SOURCE:ID", EXIT_BAD_INPUT)
    try:
        first_day = date.fromisoformat(since) if since else None
    except ValueError:
        raise fail(f"--since {since!r} is not a date; use YYYY-MM-DD", EXIT_BAD_INPUT) from None
    _, governance = load_governance(config)
    subject = f"customer {customer}" if customer else f"record {record}"
    actor = authorise_or_refuse(governance, "review", "history", subject, as_user)
    path = settings.warehouse_path()
    if not path.exists():
        log_access(actor, "history", subject, "failed: no database")
        raise fail(f"no warehouse at {path} yet: run `custodian run` first", EXIT_BAD_INPUT)
    with connection(path, read_only=True) as con:
        if not table_exists(con, CHANGE_LOG):
            log_access(actor, "history", subject, "failed: no history")
            raise fail(
                "no record history in this warehouse yet: run the daily job (`custodian run`)",
                EXIT_BAD_INPUT,
            )
        rows = customer_history(
            con, golden_customer_id=customer, record_key=record, since=first_day,
            limit=HISTORY_LIMIT,
        )  # fmt: skip
    log_access(actor, "history", subject, "ok", rows=len(rows))
    if not rows:
        console.print(Text(f"no change recorded for {subject}"))
        return
    table = Table(title=f"History of {subject} (values masked)")
    for column in HISTORY_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        values = dict(zip(HISTORY_COLUMNS, row, strict=True))
        for side in ("old_value", "new_value"):
            values[side] = mask_evidence(values["field"], values[side])
        table.add_row(*(Text("" if values[c] is None else str(values[c])) for c in HISTORY_COLUMNS))
    console.print(table)
    more = (
        f" (the first {HISTORY_LIMIT}; narrow with --since)" if len(rows) == HISTORY_LIMIT else ""
    )
    console.print(Text(f"{len(rows)} change(s){more}"))
