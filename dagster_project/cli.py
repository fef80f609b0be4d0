"""The `custodian` command: demo data, pipeline runs and read-only queries.

Exit codes: 0 ok, 1 a run failed, 2 bad usage or config.
"""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dagster_project import settings
from dagster_project.config import ConfigError, GovernanceConfig, load_config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Custodian: govern customer records from many systems into one golden table.",
)
console = Console()
err_console = Console(stderr=True)

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="governance.yaml to use (default: $CUSTODIAN_CONFIG, else ./governance.yaml).",
    ),
]


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _load(config_option: Path | None) -> tuple[Path, GovernanceConfig]:
    path = settings.config_path(config_option)
    try:
        return path, load_config(path)
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None


def _progress() -> Progress:
    # Bound to the stream of the moment: runs then redirect sys.stdout/sys.stderr (dbt's and
    # Splink's chatter) to a log file while the bar keeps drawing on the terminal.
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stdout),
        transient=False,
    )


@app.command("demo-data")
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
        raise _fail(f"--start {start!r} is not a date; use YYYY-MM-DD", EXIT_BAD_INPUT) from None
    with _progress() as progress:
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


def landed_partitions(config: GovernanceConfig, through: date) -> list[date]:
    """Days from the pipeline's start through `through` on which any source has a file."""
    days = []
    day = config.pipeline_start_date
    while day <= through:
        if any(
            (config.landing_root / source.path_for(day)).is_file()
            for source in config.sources
            if day >= source.start_date
        ):
            days.append(day)
        day += timedelta(days=1)
    return days


def _instance():
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


_QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _execute(
    job_name: str, config_path: Path, partition_keys: list[str | None], label: str
) -> list:
    """Run a job in-process for each partition, with a progress bar; stop at the first failure."""
    from dagster_project.definitions import build_definitions

    definitions = build_definitions(config_path)
    job = definitions.resolve_job_def(job_name)
    instance = _instance()
    log_path = settings.warehouse_path().resolve().parent / "logs" / f"{job_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with _progress() as progress, log_path.open("a", encoding="utf-8") as log:
        task = progress.add_task(label, total=len(partition_keys))
        for key in partition_keys:
            progress.update(task, description=f"{label} {key or ''}".rstrip())
            # dbt's event stream and Splink's training notes go to the log, not the terminal.
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                result = job.execute_in_process(
                    partition_key=key,
                    instance=instance,
                    run_config=_QUIET_RUN_CONFIG,
                    raise_on_error=False,
                )
            results.append((key, result))
            if not result.success:
                break
            progress.advance(task)
    console.print(f"run log: {log_path}", highlight=False)
    return results


def _failure_summary(result) -> str:
    lines = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            message = error.message.strip().splitlines()[-1] if error else "unknown error"
            if error and error.cause:
                message = error.cause.message.strip().splitlines()[0]
            lines.append(f"  step {event.step_key}: {message}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            lines.append(
                f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed"
                f" ({evaluation.severity.value}): {evaluation.description or ''}"
            )
    return "\n".join(lines) or "  (no step failure recorded; see the Dagster run logs)"


def _check_counts(results) -> tuple[int, int, int]:
    """Checks passed, failed with severity WARN (reported only) and failed blocking (ERROR)."""
    from dagster import AssetCheckSeverity

    passed = warned = failed = 0
    for _, result in results:
        for evaluation in result.get_asset_check_evaluations():
            if evaluation.passed:
                passed += 1
            elif evaluation.severity == AssetCheckSeverity.WARN:
                warned += 1
            else:
                failed += 1
    return passed, warned, failed


@app.command()
def run(
    config: ConfigOption = None,
    through: Annotated[
        str | None,
        typer.Option(help="Last partition date to run, YYYY-MM-DD (default: yesterday)."),
    ] = None,
) -> None:
    """Run the daily pipeline for every partition with landed data, then print a summary."""
    config_path, governance = _load(config)
    try:
        last = date.fromisoformat(through) if through else date.today() - timedelta(days=1)
    except ValueError:
        raise _fail(
            f"--through {through!r} is not a date; use YYYY-MM-DD", EXIT_BAD_INPUT
        ) from None
    partitions = landed_partitions(governance, last)
    if not partitions:
        raise _fail(
            f"no landed files between {governance.pipeline_start_date} and {last} under "
            f"{governance.landing_root}. Generate demo data with `custodian demo-data` or "
            "deliver source files there.",
            EXIT_BAD_INPUT,
        )
    results = _execute(
        "daily_customer_pipeline",
        config_path,
        [d.isoformat() for d in partitions],
        "daily pipeline",
    )
    failed = [(key, result) for key, result in results if not result.success]
    print_summary(governance, results)
    if failed:
        key, result = failed[0]
        err_console.print(f"[bold red]daily pipeline failed for partition {key}[/]")
        err_console.print(_failure_summary(result), highlight=False)
        raise typer.Exit(EXIT_RUN_FAILED)


def _month_partition(month: str | None) -> str:
    if month is None:
        first_of_this_month = date.today().replace(day=1)
        return (first_of_this_month - timedelta(days=1)).replace(day=1).isoformat()
    try:
        return date.fromisoformat(month + "-01").isoformat()
    except ValueError:
        raise _fail(f"--month {month!r} is not a month; use YYYY-MM", EXIT_BAD_INPUT) from None


def _run_monthly(job_name: str, config: Path | None, month: str | None, label: str) -> None:
    config_path, _ = _load(config)
    key = _month_partition(month)
    results = _execute(job_name, config_path, [key], label)
    _, result = results[0]
    if not result.success:
        err_console.print(f"[bold red]{job_name} failed for {key[:7]}[/]")
        err_console.print(_failure_summary(result), highlight=False)
        raise typer.Exit(EXIT_RUN_FAILED)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        console.print(f"[green]{materialization.asset_key.to_user_string()}[/] ({key[:7]})")
        for name, value in materialization.metadata.items():
            text = getattr(value, "value", value)
            console.print(f"  {name}: {text}", highlight=False)


@app.command()
def audit(
    config: ConfigOption = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: last month).")] = None,
) -> None:
    """Run the monthly quality audit for one month."""
    _run_monthly("monthly_quality_audit", config, month, "monthly audit")


@app.command()
def purge(
    config: ConfigOption = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: last month).")] = None,
) -> None:
    """Apply retention policies as of the end of one month."""
    _run_monthly("monthly_retention_purge", config, month, "retention")


@app.command()
def train(config: ConfigOption = None) -> None:
    """Refit the Splink match model from the warehouse's records and steward labels.

    Writes the model to matching.model_path (commit it: the daily run loads it) and its charts
    under the reports folder.
    """
    config_path, _ = _load(config)
    (_, result), *_ = _execute("retrain_match_model", config_path, [None], "training match model")
    if not result.success:
        err_console.print("[bold red]training the match model failed[/]")
        err_console.print(_failure_summary(result), highlight=False)
        raise typer.Exit(EXIT_RUN_FAILED)
    for event in result.get_asset_materialization_events():
        for name, value in event.event_specific_data.materialization.metadata.items():
            console.print(f"  {name}: {getattr(value, 'value', value)}", highlight=False)


@app.command()
def docs(config: ConfigOption = None) -> None:
    """Build the data dictionary site (dbt docs) from the models and the warehouse's tables."""
    import subprocess

    from dagster_project.lib.transform.dbt_project import dbt_executable
    from dagster_project.lib.transform.dbt_vars import dbt_vars_arg

    _, governance = _load(config)
    warehouse_file = settings.warehouse_path().resolve()
    if not warehouse_file.is_file():
        raise _fail(
            f"no warehouse at {warehouse_file}: run the pipeline first (`custodian run`), "
            "the docs read column types from its tables",
            EXIT_BAD_INPUT,
        )
    project_dir = settings.dbt_project_dir()
    out = settings.reports_dir().resolve() / "dbt_docs"
    with console.status("dbt docs generate"):
        completed = subprocess.run(
            [
                dbt_executable(), "docs", "generate", "--static",
                "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
                # Its own target folder, so a running pipeline's dbt is not disturbed.
                "--target-path", str(out), *dbt_vars_arg(governance),
            ],
            cwd=project_dir, capture_output=True, text=True, check=False,
            env={**os.environ, "CUSTODIAN_WAREHOUSE": str(warehouse_file)},
        )  # fmt: skip
    if completed.returncode != 0:
        err_console.print(completed.stdout[-3000:] + completed.stderr[-3000:], highlight=False)
        raise _fail("dbt docs generate failed (output above)", EXIT_RUN_FAILED)
    console.print(f"data dictionary: {out / 'static_index.html'} (open it in a browser)")


def print_summary(governance: GovernanceConfig, results) -> None:
    from dagster_project.lib.report.summary import warehouse_summary

    warehouse_file = settings.warehouse_path().resolve()
    summary = warehouse_summary(warehouse_file)
    table = Table(title="Records per source (latest version of each record)")
    table.add_column("source")
    table.add_column("records", justify="right")
    table.add_column("quarantined rows", justify="right")
    for source in governance.sources:
        table.add_row(
            source.name,
            f"{summary.records_per_source.get(source.name, 0):,}",
            f"{summary.quarantined_per_source.get(source.name, 0):,}",
        )
    console.print(table)
    passed, warned, failed = _check_counts(results)
    succeeded = sum(1 for _, result in results if result.success)
    console.print(
        f"partitions run: {succeeded}/{len(results)} succeeded  "
        f"golden customers: [bold]{summary.golden_customers:,}[/] from "
        f"{summary.source_records:,} source records  "
        f"checks: [green]{passed} passed[/], [yellow]{warned} warnings[/], [red]{failed} failed[/]"
    )
    if summary.review_queue_open:
        console.print(
            f"review queue: {summary.review_queue_open:,} pair(s) for a steward "
            "(`custodian review list`)"
        )
    console.print(f"warehouse: {warehouse_file}")
    if settings.reports_dir().is_dir():
        console.print(f"reports:   {settings.reports_dir().resolve()}")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the warehouse.")],
    unmasked: Annotated[
        bool, typer.Option(help="Show personal data unmasked (masked by default).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows to print at most.")] = 50,
) -> None:
    """Query the warehouse read-only and print the result as a table."""
    import duckdb

    from dagster_project.lib.privacy.masking import mask_column_value
    from dagster_project.lib.warehouse import connect

    try:
        con = connect(settings.warehouse_path(), read_only=True, timeout=5)
    except (FileNotFoundError, RuntimeError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    try:
        cursor = con.execute(query)
        if cursor.description is None:
            console.print("(statement returned no rows)")
            return
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchmany(limit + 1)
    except duckdb.Error as exc:
        raise _fail(f"query failed: {str(exc).splitlines()[0]}", EXIT_BAD_INPUT) from None
    finally:
        con.close()
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows[:limit]:
        table.add_row(
            *(
                "∅"
                if value is None
                else str(value if unmasked else mask_column_value(column, value))
                for column, value in zip(columns, row, strict=True)
            )
        )
    console.print(table)
    more = " (more rows not shown; use --limit)" if len(rows) > limit else ""
    console.print(f"{min(len(rows), limit)} row(s){more}" + ("" if unmasked else "; PII masked"))


review_app = typer.Typer(
    no_args_is_help=True,
    help="Steward review: uncertain pairs, match decisions and golden-field corrections.",
)
app.add_typer(review_app, name="review")

_LIST_HINT = "list open pairs with `custodian review list`"


def _review_connection(*, write: bool):
    """The warehouse for review commands: read-only to look, the write lock to record."""
    from dagster_project.lib.warehouse import connect

    path = settings.warehouse_path()
    if not path.exists():
        # connect() in write mode would create an empty warehouse; a decision needs a queue.
        raise _fail(
            f"warehouse {path} does not exist yet: run `custodian run` (or `make demo`) first, "
            "or set CUSTODIAN_WAREHOUSE to an existing file",
            EXIT_BAD_INPUT,
        )
    try:
        return connect(path, read_only=not write, timeout=None if write else 5)
    except (FileNotFoundError, RuntimeError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None


def _utc_now():
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(tzinfo=None)


def _masked(column: str, value: object) -> str:
    from dagster_project.lib.privacy.masking import mask_evidence

    # mask_evidence, not mask_column_value: a column it cannot classify is masked too.
    return "∅" if value is None else str(mask_evidence(column, value))


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
    limit: Annotated[int, typer.Option(min=1, help="Pairs to show at most.")] = 20,
) -> None:
    """Open pairs in the review band, highest match probability first (names masked)."""
    from dagster_project.lib.resolve.review import open_pairs

    con = _review_connection(write=False)
    try:
        rows, total = open_pairs(con, limit=limit)
    finally:
        con.close()
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
) -> None:
    """Both records side by side (masked) and the match weight of each comparison."""
    from dagster_project.lib.resolve.review import UnknownPairError, pair_for_review

    con = _review_connection(write=False)
    try:
        review = pair_for_review(con, pair_id)
    except UnknownPairError:
        raise _fail(
            f"no pair {pair_id!r} in the review queue; {_LIST_HINT}", EXIT_BAD_INPUT
        ) from None
    finally:
        con.close()
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
) -> None:
    """Record whether a pair is the same customer; it applies on the next run."""
    from dagster_project.lib.resolve.review import (
        UnknownPairError,
        UnknownRecordError,
        record_decision,
    )

    answer = match.strip().lower()
    if answer not in ("yes", "no"):
        raise _fail(f"--match must be yes or no, not {match!r}", EXIT_BAD_INPUT)
    if not by.strip():
        raise _fail("--by must name who decides", EXIT_BAD_INPUT)
    if (pair is None) == (records is None):
        raise _fail(
            "name the pair: --pair RP... (from `custodian review list`) or --records KEY KEY "
            "(record keys as in customer_source_xref), one of the two",
            EXIT_BAD_INPUT,
        )
    con = _review_connection(write=True)
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
        raise _fail(f"no pair {pair!r} in the review queue; {_LIST_HINT}", EXIT_BAD_INPUT) from None
    except UnknownRecordError as exc:
        raise _fail(
            f"no record {exc.args[0]!r} in er.record_clusters (record keys are source:id, as in "
            "customer_source_xref; records appear there after a daily run)",
            EXIT_BAD_INPUT,
        ) from None
    except ValueError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    finally:
        con.close()
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
) -> None:
    """Correct one golden field; the steward's value wins over every survivorship rule."""
    from dagster_project.lib.resolve.review import InvalidCorrectionError, record_correction

    if not by.strip():
        raise _fail("--by must name who corrects", EXIT_BAD_INPUT)
    con = _review_connection(write=True)
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
        raise _fail(str(exc).strip("'\""), EXIT_BAD_INPUT) from None
    finally:
        con.close()
    console.print(
        f"recorded correction #{correction.correction_id}: {correction.golden_customer_id} "
        f"{correction.field} = {_masked(correction.field, correction.corrected_value)} by "
        f"{by.strip()}. It applies when golden_customers is next built.",
        highlight=False,
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
