"""`custodian cases`: the monitoring cases stewards work to a verified outcome (R22).

Evidence names fields, counts, days and record keys, never a value; corrected values are shown
masked. Every action is appended (lib/monitoring/cases.py) and logged in the access log.
"""

from __future__ import annotations

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

cases_app = typer.Typer(
    no_args_is_help=True,
    help="Monitoring cases: list, show, assign and resolve (verified, corrected, dismissed).",
)


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


@cases_app.command("list")
def cases_list(
    tier: Annotated[
        str | None, typer.Option("--tier", help="Only customers in this tier: low|medium|high.")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="open | assigned | resolved.")
    ] = None,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Cases oldest first, with the rule, the customer's risk tier and who has the case."""
    from dagster_project.lib.monitoring.cases import case_rows

    if tier not in (None, "low", "medium", "high"):
        raise fail(f"--tier must be low, medium or high, not {tier!r}", EXIT_BAD_INPUT)
    if status not in (None, "open", "assigned", "resolved"):
        raise fail(f"--status must be open, assigned or resolved, not {status!r}", EXIT_BAD_INPUT)
    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "review", "cases list", "", as_user)
    con = steward_connection(write=False)
    try:
        rows = case_rows(con, status=status, tier=tier) if _has_cases(con) else []
    finally:
        con.close()
    log_access(actor, "cases list", f"tier={tier} status={status}", "ok", rows=len(rows))
    if not rows:
        console.print("no cases" + (" matching the filters" if tier or status else ""))
        return
    table = Table(title=f"{len(rows)} case(s)")
    for column in ("case", "opened", "rule", "severity", "customer", "tier", "status", "who"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["case_id"], str(row["opened_on"]), row["rule"], row["severity"],
            row["golden_customer_id"], row["risk_tier"] or "-",
            row["outcome"] or row["status"] + (" (escalated)" if row["is_escalated"] else ""),
            row["assignee"] or "-",
        )  # fmt: skip
    console.print(table)


@cases_app.command("show")
def cases_show(
    case_id: Annotated[str, typer.Argument(help="The case ID (`custodian cases list`).")],
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """One case: its evidence and every action taken, oldest first."""
    from dagster_project.lib.monitoring.cases import CaseError, case_actions, case_rows

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "review", "cases show", case_id, as_user)
    con = steward_connection(write=False)
    try:
        rows = case_rows(con, status=None, tier=None) if _has_cases(con) else []
        found = [row for row in rows if row["case_id"] == case_id]
        if not found:
            raise CaseError(f"no case {case_id!r}: list them with `custodian cases list`")
        actions = case_actions(con, case_id)
    except CaseError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    finally:
        con.close()
    (case,) = found
    log_access(actor, "cases show", case_id, "ok", rows=len(actions))
    console.print(
        f"case {case_id}: rule {case['rule']} ({case['severity']}) on customer "
        f"{case['golden_customer_id']}, risk tier {case['risk_tier'] or '-'}, "
        f"{case['outcome'] or case['status']}",
        highlight=False,
    )
    console.print(f"evidence: {case['evidence']}", highlight=False, markup=False)
    for action in actions:
        said = [f"{action['action']} by {action['actor']} at {str(action['acted_at'])[:19]}"]
        if action["assignee"]:
            said.append(f"to {action['assignee']}")
        if action["outcome"]:
            said.append(f"outcome {action['outcome']}")
        if action["correction_ids"]:
            said.append("corrections " + ", ".join(f"#{n}" for n in action["correction_ids"]))
        if action["note"]:
            said.append(f"note: {action['note']}")
        console.print("  " + "; ".join(said), highlight=False, markup=False)


@cases_app.command("assign")
def cases_assign(
    case_id: Annotated[str, typer.Argument(help="The case ID.")],
    to: Annotated[str, typer.Option("--to", help="Who takes the case.")],
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Give a case to a steward."""
    from dagster_project.lib.monitoring.cases import CaseError, assign_case

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "review", "cases assign", case_id, as_user)
    con = steward_connection(write=True)
    try:
        assign_case(con, case_id, to=to, by=actor.user, at=_now())
    except CaseError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    finally:
        con.close()
    log_access(actor, "cases assign", f"{case_id} to {to.strip()}", "ok")
    console.print(f"case {case_id} assigned to {to.strip()}", highlight=False)


@cases_app.command("resolve")
def cases_resolve(
    case_id: Annotated[str, typer.Argument(help="The case ID.")],
    outcome: Annotated[str, typer.Option("--outcome", help="verified | corrected | dismissed.")],
    by: Annotated[str, typer.Option("--by", help="Who resolves (recorded for audit).")],
    note: Annotated[str, typer.Option("--note", help="What was checked, and how.")],
    set_values: Annotated[
        list[str] | None,
        typer.Option("--set", help="field=value, the correct golden value (with corrected)."),
    ] = None,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Close a case: verified, corrected (the --set values) or dismissed."""
    # `corrected` records the --set values as steward corrections, which the golden table takes
    # on the next run; every outcome stops the same evidence from alerting again and takes the
    # event's points off the customer's risk on the next run.
    from dagster_project.lib.monitoring.cases import CaseError, resolve_case
    from dagster_project.lib.resolve.review import InvalidCorrectionError

    corrections: dict[str, str] = {}
    for item in set_values or []:
        field, separator, value = item.partition("=")
        if not separator or not field.strip():
            raise fail(f"--set takes field=value, not {item.split('=')[0]!r}...", EXIT_BAD_INPUT)
        corrections[field.strip()] = value
    _, governance = load_governance(config)
    detail = f"{case_id} {outcome} fields={','.join(corrections)}"  # fields, never values
    actor = authorise_or_refuse(governance, "review", "cases resolve", detail, as_user)
    con = steward_connection(write=True)
    try:
        resolution = resolve_case(
            con, case_id, outcome=outcome, by=by, note=note, corrections=corrections, at=_now()
        )
    except (CaseError, InvalidCorrectionError, LookupError) as exc:
        # A KeyError's text comes quoted; the others are plain sentences.
        message = str(exc).strip("'\"") if isinstance(exc, LookupError) else str(exc)
        raise fail(message, EXIT_BAD_INPUT) from None
    finally:
        con.close()
    log_access(actor, "cases resolve", detail, "ok")
    recorded = (
        "; corrections " + ", ".join(f"#{n}" for n in resolution.correction_ids)
        + " apply when golden_customers is next built"
        if resolution.correction_ids
        else ""
    )  # fmt: skip
    console.print(f"case {case_id} resolved: {outcome}{recorded}", highlight=False)


def _has_cases(con) -> bool:
    from dagster_project.lib.warehouse import table_exists

    return table_exists(con, "monitoring.cases") and table_exists(con, "monitoring.customer_risk")
