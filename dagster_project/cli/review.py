"""Steward review: the queue of uncertain pairs, match decisions and golden-field corrections.

Every value shown is masked by its sensitivity class; decisions and corrections are appended,
never edited, and apply on the next run.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
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

review_app = typer.Typer(
    no_args_is_help=True,
    help="Steward review: uncertain pairs, match decisions and golden-field corrections.",
)

_LIST_HINT = "list open pairs with `custodian review list`"


def _utc_now():
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(tzinfo=None)


def _masked(column: str, value: object) -> str:
    from dagster_project.lib.privacy.masking import mask_evidence

    # mask_evidence: a column it cannot classify is masked too.
    # Escaped: a stored value such as "[vip]" is data, not rich markup.
    return "∅" if value is None else escape(str(mask_evidence(column, value)))


def _queue_reason(has_name_conflict: bool | None) -> str:
    if has_name_conflict is None:
        return "not recorded (queued before the reason was kept; the next daily run records it)"
    if has_name_conflict:
        return (
            "the full names differ beyond typos (the name guard: relatives at one address "
            "score high), so no probability links the pair automatically"
        )
    return "the match probability is in the review band"


@review_app.command("list")
def review_list(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Pairs to show at most.")] = 20,
    as_user: AsOption = None,
) -> None:
    """Open pairs in the review band, highest match probability first (names masked)."""
    from dagster_project.lib.resolve.review import open_pairs

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "review", "review list", "", as_user)

    con = steward_connection(write=False)
    try:
        rows, total = open_pairs(con, limit=limit)
    finally:
        con.close()
    log_access(actor, "review list", f"limit {limit}", "ok", rows=len(rows))
    if not total:
        console.print("no open pairs in the review queue (it is refreshed by each daily run)")
        return
    table = Table(title="Review queue: open pairs")
    # The pair ID is what the steward types next: never cut it.
    table.add_column("pair", no_wrap=True, min_width=16)
    table.add_column("p(match)", justify="right")
    table.add_column("weight", justify="right")
    table.add_column("why")
    table.add_column("record (left)", overflow="fold")
    table.add_column("name")
    table.add_column("record (right)", overflow="fold")
    table.add_column("name")
    for row in rows:
        table.add_row(
            row["pair_id"],
            "∅" if row["match_probability"] is None else f"{row['match_probability']:.3f}",
            "∅" if row["match_weight"] is None else f"{row['match_weight']:+.2f}",
            {True: "names differ", False: "in band", None: "—"}[row["has_name_conflict"]],
            row["record_key_l"],
            _masked("full_name", row["full_name_l"]),
            row["record_key_r"],
            _masked("full_name", row["full_name_r"]),
        )
    console.print(table)
    console.print(
        f"{len(rows)} of {total:,} open pair(s); PII masked. "
        "Look at one with `custodian review show PAIR_ID`.",
        highlight=False,
    )


@review_app.command("show")
def review_show(
    pair_id: Annotated[str, typer.Argument(help="The pair's ID (RP...), from `review list`.")],
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Both records side by side (masked) and the match weight of each comparison."""
    from dagster_project.lib.resolve.review import UnknownPairError, pair_for_review

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "review", "review show", pair_id, as_user)

    con = steward_connection(write=False)
    try:
        review = pair_for_review(con, pair_id)
    except UnknownPairError:
        log_access(actor, "review show", pair_id, "failed: unknown pair")
        raise fail(
            f"no pair {pair_id!r} in the review queue; {_LIST_HINT}", EXIT_BAD_INPUT
        ) from None
    finally:
        con.close()
    log_access(actor, "review show", pair_id, "ok", rows=2)
    pair = review.pair
    probability, weight = pair["match_probability"], pair["match_weight"]
    console.print(
        f"[bold]{pair['pair_id']}[/]  status: {pair['status']}  match probability: "
        + ("∅" if probability is None else f"{probability:.4f}")
        + "  match weight: "
        + ("∅" if weight is None else f"{weight:+.2f}"),
        highlight=False,
    )
    console.print(f"queued because: {_queue_reason(pair.get('has_name_conflict'))}")
    if review.latest_decision:
        decision = review.latest_decision
        console.print(
            f"decided: {'same customer' if decision['is_match'] else 'different customers'} "
            f"by {decision['decided_by']} at {decision['decided_at']:%Y-%m-%d %H:%M} UTC "
            f"(decision #{decision['decision_id']})",
            highlight=False,
        )
    left, right = review.record_l, review.record_r
    records = Table(title="Records (PII masked)")
    records.add_column("column")
    records.add_column(pair["record_key_l"] + ("" if left else " (gone)"), overflow="fold")
    records.add_column(pair["record_key_r"] + ("" if right else " (gone)"), overflow="fold")
    records.add_column("same?", justify="center")
    columns = list((left or right or {}).keys())
    for column in columns:
        value_l = (left or {}).get(column)
        value_r = (right or {}).get(column)
        if value_l is None and value_r is None:
            continue
        same = "" if value_l is None or value_r is None else ("=" if value_l == value_r else "≠")
        records.add_row(column, _masked(column, value_l), _masked(column, value_r), same)
    if columns:
        console.print(records)
    else:
        console.print("(neither record is in intermediate.int_customer_records any more)")
    if not review.explanation:
        console.print("no match explanation recorded for this pair")
    else:
        waterfall = Table(title="Why: match weight per comparison (strongest evidence first)")
        waterfall.add_column("comparison")
        waterfall.add_column("level")
        waterfall.add_column("match weight", justify="right")
        for step in review.explanation:
            weight = step.get("match_weight")
            waterfall.add_row(
                str(step.get("comparison")),
                str(step.get("level")),
                "∅" if weight is None else f"{weight:+.2f}",
            )
        console.print(waterfall)
    console.print(
        f"decide with `custodian review decide --pair {pair['pair_id']} --match yes|no "
        "--by NAME --note TEXT`",
        highlight=False,
    )


@review_app.command("decide")
def review_decide(
    match: Annotated[
        str, typer.Option("--match", help="yes: the same customer; no: different customers.")
    ],
    by: Annotated[str, typer.Option("--by", help="Who decides (recorded for audit).")],
    pair: Annotated[
        str | None, typer.Option("--pair", help="A queued pair's ID (RP...), from `review list`.")
    ] = None,
    records: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--records",
            help="Two record keys (source:id) instead of a queued pair: `--match no` splits "
            "records the model linked into one golden customer, `--match yes` joins two it "
            "did not.",
        ),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why, for the audit trail.")] = None,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Record whether a pair is the same customer; it applies on the next run."""
    from dagster_project.lib.resolve.review import (
        UnknownPairError,
        UnknownRecordError,
        record_decision,
    )

    _, governance = load_governance(config)
    target = pair or " ".join(records or ())
    detail = f"{target} match={match}"
    actor = authorise_or_refuse(governance, "review", "review decide", detail, as_user)

    answer = match.strip().lower()
    if answer not in ("yes", "no"):
        raise fail(f"--match must be yes or no, not {match!r}", EXIT_BAD_INPUT)
    if not by.strip():
        raise fail("--by must name who decides", EXIT_BAD_INPUT)
    if (pair is None) == (records is None):
        raise fail(
            "name the pair: --pair RP... (from `custodian review list`) or --records KEY KEY "
            "(record keys as in customer_source_xref), one of the two",
            EXIT_BAD_INPUT,
        )
    con = steward_connection(write=True)
    try:
        decision = record_decision(
            con,
            pair_id=pair,
            record_keys=records,
            is_match=answer == "yes",
            decided_by=by,
            note=note,
            decided_at=_utc_now(),
        )
    except UnknownPairError:
        raise fail(f"no pair {pair!r} in the review queue; {_LIST_HINT}", EXIT_BAD_INPUT) from None
    except UnknownRecordError as exc:
        raise fail(
            f"no record {exc.args[0]!r} in er.record_clusters (record keys are source:id, as in "
            "customer_source_xref; records appear there after a daily run)",
            EXIT_BAD_INPUT,
        ) from None
    except ValueError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    finally:
        con.close()
    log_access(actor, "review decide", f"{detail} decision #{decision.decision_id}", "ok")
    verdict = "same customer (must-link)" if decision.is_match else "different (cannot-link)"
    console.print(
        f"recorded decision #{decision.decision_id}: {decision.pair_id} "
        f"({decision.record_key_l} / {decision.record_key_r}) {verdict} by {by.strip()}"
        + ("; it replaces the earlier decision" if decision.supersedes else "")
        + ". It applies on the next run.",
        highlight=False,
    )


@review_app.command("correct")
def review_correct(
    customer: Annotated[str, typer.Option("--customer", help="The golden_customer_id.")],
    field: Annotated[str, typer.Option("--field", help="The golden_customers column.")],
    value: Annotated[str, typer.Option("--value", help="The correct value.")],
    by: Annotated[str, typer.Option("--by", help="Who corrects (recorded for audit).")],
    note: Annotated[str | None, typer.Option("--note", help="Why, for the audit trail.")] = None,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Correct one golden field; the steward's value wins over every survivorship rule."""
    from dagster_project.lib.resolve.review import InvalidCorrectionError, record_correction

    _, governance = load_governance(config)
    # The value is personal data: the log names the customer and the field, not the value.
    detail = f"{customer.strip()} {field.strip()}"
    actor = authorise_or_refuse(governance, "review", "review correct", detail, as_user)

    if not by.strip():
        raise fail("--by must name who corrects", EXIT_BAD_INPUT)
    con = steward_connection(write=True)
    try:
        correction = record_correction(
            con,
            golden_customer_id=customer.strip(),
            field=field.strip(),
            value=value,
            corrected_by=by,
            note=note,
            corrected_at=_utc_now(),
        )
    except (InvalidCorrectionError, LookupError) as exc:
        # The messages name the field and the reason, never the value typed.
        raise fail(str(exc).strip("'\""), EXIT_BAD_INPUT) from None
    finally:
        con.close()
    log_access(actor, "review correct", f"{detail} correction #{correction.correction_id}", "ok")
    console.print(
        f"recorded correction #{correction.correction_id}: {correction.golden_customer_id} "
        f"{correction.field} = {_masked(correction.field, correction.corrected_value)} by "
        f"{by.strip()}. It applies when golden_customers is next built.",
        highlight=False,
    )
