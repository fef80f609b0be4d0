"""`custodian hold`: place, release and list legal holds (R31; lib/privacy/legal_holds.py).

A held golden customer or source record is exempt from every retention purge and archive and
from erasure until the hold is released. Needs the `hold` right (admin).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    AsOption,
    ConfigOption,
    authorise_or_refuse,
    console,
    fail,
    load_governance,
    log_access,
    steward_connection,
)

hold_app = typer.Typer(
    no_args_is_help=True,
    help="Legal holds: keep a golden customer or a source record out of every purge, archive "
    "and erasure until released.",
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _write(actor, action: str, detail: str, change: Callable):
    """Run `change` on the warehouse's write connection; a refused hold request exits 2 with
    its reason, logged as refused."""
    from dagster_project.lib.privacy.legal_holds import LegalHoldError

    con = steward_connection(write=True)
    try:
        return change(con)
    except LegalHoldError as exc:
        log_access(actor, action, detail, "refused")
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    finally:
        con.close()


@hold_app.command("place")
def place(
    golden_id: Annotated[
        str | None, typer.Option("--golden-id", help="The golden_customer_id to hold.")
    ] = None,
    record: Annotated[
        str | None,
        typer.Option("--record", help="A source record to hold, as <source>:<source_record_id>."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. the legal case).")] = "",
    by: Annotated[str, typer.Option("--by", help="Who places the hold.")] = "",
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Place a legal hold on one golden customer or one source record."""
    from dagster_project.lib.privacy.legal_holds import place_hold

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "hold", "hold place", "", as_user)
    hold_id = _write(
        actor, "hold place", "",
        lambda con: place_hold(
            con, golden_id=golden_id, record_key=record, reason=reason, placed_by=by, at=_now()
        ),
    )  # fmt: skip
    log_access(actor, "hold place", hold_id, "ok")
    console.print(
        f"legal hold {hold_id} placed on {golden_id or record}: exempt from retention and "
        "erasure until `custodian hold release " + hold_id + "`",
        highlight=False,
    )


@hold_app.command("release")
def release(
    hold_id: Annotated[str, typer.Argument(help="The hold's ID (`custodian hold list`).")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is released.")] = "",
    by: Annotated[str, typer.Option("--by", help="Who releases it.")] = "",
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Release a legal hold: its customer is subject to retention and erasure again."""
    from dagster_project.lib.privacy.legal_holds import release_hold

    if not reason.strip() or not by.strip():
        raise fail("--reason and --by are required (they are the release's evidence)",
                   EXIT_BAD_INPUT)  # fmt: skip
    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "hold", "hold release", hold_id, as_user)
    _write(
        actor, "hold release", hold_id,
        lambda con: release_hold(con, hold_id, released_by=by, reason=reason, at=_now()),
    )  # fmt: skip
    log_access(actor, "hold release", hold_id, "ok")
    console.print(f"legal hold {hold_id} released", highlight=False)


@hold_app.command("list")
def list_(
    include_released: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """The legal holds in force (with --all, released ones too)."""
    from dagster_project.lib.privacy.legal_holds import list_holds

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "hold", "hold list", "", as_user)
    con = steward_connection(write=False)
    try:
        holds = list_holds(con, include_released=include_released)
    finally:
        con.close()
    log_access(actor, "hold list", "", "ok", rows=len(holds))
    if not holds:
        console.print("no legal holds in force" if not include_released else "no legal holds")
        return
    table = Table()
    for column in ("hold", "golden ID", "record", "reason", "placed by", "placed", "released"):
        # IDs are copied into `hold release`: never wrapped.
        table.add_column(column, no_wrap=column in ("hold", "golden ID", "record"))
    for (
        hold_id,
        golden_id,
        record_key,
        reason,
        placed_by,
        placed_at,
        released_by,
        released_at,
    ) in holds:
        table.add_row(
            hold_id, golden_id or "", record_key or "", reason, placed_by,
            f"{placed_at:%Y-%m-%d}",
            f"{released_at:%Y-%m-%d} by {released_by}" if released_at else "",
        )  # fmt: skip
    console.print(table)
