"""Running the jobs: the daily pipeline (`run`), the monthly `audit` and `purge`, `train`, and
the data dictionary (`docs`). Every run is recorded in the Dagster instance the UI shows."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from dagster_project import settings
from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_RUN_FAILED,
    ConfigOption,
    console,
    err_console,
    execute,
    fail,
    failure_summary,
    job_log_path,
    load_governance,
)
from dagster_project.config import GovernanceConfig

DAILY_JOB = "daily_customer_pipeline"
# The ops of the history and resolution assets (defs/history, defs/resolution): their keys'
# paths joined by "__".
FULL_REFRESH_OPS_CONFIG = {
    "history__customer_record_versions": {"config": {"full_refresh": True}},
    "er__record_clusters": {"config": {"full_refresh": True}},
}

# More days than this in a "not run" list are shown as the first and last few.
_DAYS_LISTED_IN_FULL = 8


def landed_partitions(
    config: GovernanceConfig, through: date, since: date | None = None
) -> list[date]:
    """Days from `since` (default: the pipeline's start) through `through` on which any source
    has a file."""
    days = []
    day = max(since or config.pipeline_start_date, config.pipeline_start_date)
    while day <= through:
        if any(
            (config.landing_root / source.path_for(day)).is_file()
            for source in config.sources
            if day >= source.start_date
        ):
            days.append(day)
        day += timedelta(days=1)
    return days


def last_complete_day(config: GovernanceConfig) -> date:
    """The latest daily partition: a day becomes one at the following midnight in the schedule's
    time zone (the partitions are Dagster's DailyPartitionsDefinition in that zone)."""
    return datetime.now(ZoneInfo(config.schedule.timezone)).date() - timedelta(days=1)


def _parse_day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date; use YYYY-MM-DD", EXIT_BAD_INPUT) from None


def _nothing_landed_on(config: GovernanceConfig, day: date) -> str:
    expected = [source for source in config.sources if day >= source.start_date]
    if not expected:
        return (
            f"no source delivers files for {day}: the first daily partition is "
            f"{config.pipeline_start_date} (the earliest start_date in the config)"
        )
    looked_for = ", ".join(str(config.landing_root / s.path_for(day)) for s in expected)
    return (
        f"no landed file for {day} under {config.landing_root}; looked for: {looked_for}. "
        "Deliver the day's exports there, or run every landed day with `custodian run --through`."
    )


def _day_list(days: Sequence[str]) -> str:
    if len(days) <= _DAYS_LISTED_IN_FULL:
        return ", ".join(days)
    return f"{', '.join(days[:3])}, ... {', '.join(days[-2:])}"


def stopped_run_message(
    failed_day: str, not_run: Sequence[str], config_option: Path | None = None
) -> str:
    """What a failed day left undone and the commands that continue from it.

    Each day builds on the ones before it (change history, incremental resolution), so a run
    stops at the first failed day rather than building later days on a gap.
    """
    config_arg = f" --config {shlex.quote(str(config_option))}" if config_option else ""
    lines = []
    if not_run:
        lines.append(
            f"not run: {_day_list(not_run)} ({len(not_run)} later day(s); each day builds on "
            f"the days before it, so the run stopped at {failed_day})"
        )
    lines.append("to continue, once the cause is fixed:")
    lines.append(f"  custodian run{config_arg} --date {failed_day}    # re-run the failed day")
    if not_run:
        lines.append(
            f"  custodian run{config_arg} --through {not_run[-1]}    # then every landed day "
            f"through {not_run[-1]}"
        )
    return "\n".join(lines)


def planned_partitions(
    governance: GovernanceConfig, *, day: str | None = None, through: str | None = None
) -> list[date]:
    """The days `custodian run` runs: `day` alone, or every landed day through `through`
    (default yesterday). A day with nothing to run exits 2 saying where it looked."""
    latest = last_complete_day(governance)
    if day is not None:
        only = _parse_day("--date", day)
        if only > latest:
            raise fail(
                f"--date {only}: not a daily partition yet; a day becomes one at the following "
                f"midnight in {governance.schedule.timezone} (the latest is {latest})",
                EXIT_BAD_INPUT,
            )
        partitions = landed_partitions(governance, only, since=only)
        if not partitions:
            raise fail(_nothing_landed_on(governance, only), EXIT_BAD_INPUT)
        return partitions
    # Default: yesterday in the schedule's time zone, the latest complete daily partition.
    last = _parse_day("--through", through) if through else latest
    partitions = landed_partitions(governance, last)
    if not partitions:
        raise fail(
            f"no landed files between {governance.pipeline_start_date} and {last} under "
            f"{governance.landing_root}. Generate demo data with `custodian demo-data` or "
            "deliver source files there.",
            EXIT_BAD_INPUT,
        )
    incomplete = [d for d in partitions if d > latest]
    if incomplete:
        # Dagster has no partition for a day still in progress; it runs after midnight.
        note = (
            f"{_day_list([d.isoformat() for d in incomplete])} (not a daily partition until "
            f"the following midnight in {governance.schedule.timezone})"
        )
        if len(incomplete) == len(partitions):
            raise fail(f"nothing to run yet: {note}", EXIT_BAD_INPUT)
        err_console.print(f"not run: {note}", highlight=False, markup=False)
    return [d for d in partitions if d <= latest]


def run(
    config: ConfigOption = None,
    through: Annotated[
        str | None,
        typer.Option(help="Last partition date to run, YYYY-MM-DD (default: yesterday)."),
    ] = None,
    day: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Re-run exactly this day's partition, YYYY-MM-DD (not with --through).",
        ),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild record history from every loaded day and score every candidate pair "
            "again: after upgrading standardisation, or to take in a corrected file of a past "
            "day.",
        ),
    ] = False,
) -> None:
    """Run the daily pipeline for every day with landed data (or one day), then print a summary.

    A failed day stops the run; the days after it are listed with the commands to continue.
    The runs are recorded in the Dagster instance at $DAGSTER_HOME (default ./.dagster, the one
    `make ui` uses), so they appear in the UI beside scheduled runs and backfills.
    """
    if day is not None and through is not None:
        raise fail(
            "--date and --through cannot be combined: --date re-runs one day, --through runs "
            "every landed day up to a date",
            EXIT_BAD_INPUT,
        )
    config_path, governance = load_governance(config)
    partitions = planned_partitions(governance, day=day, through=through)
    planned = [d.isoformat() for d in partitions]
    results = execute(
        DAILY_JOB,
        config_path,
        planned,
        "daily pipeline",
        first_run_ops_config=FULL_REFRESH_OPS_CONFIG if full_refresh else None,
    )
    print_summary(governance, results, planned=len(planned))
    failed = [(key, result) for key, result in results if not result.success]
    if failed:
        key, result = failed[0]
        err_console.print(f"[bold red]daily pipeline failed for partition {key}[/]")
        err_console.print(
            failure_summary(result, job_log_path(DAILY_JOB)), highlight=False, markup=False
        )
        err_console.print(published_marts_note(result.run_id), highlight=False, markup=False)
        err_console.print(
            stopped_run_message(str(key), planned[len(results) :], config),
            highlight=False,
            markup=False,
        )
        raise typer.Exit(EXIT_RUN_FAILED)


def published_marts_note(failed_run_id: str | None = None) -> str:
    """What analysts read after a failed run: the marts are only replaced when every gate of
    the run passed (write-audit-publish, lib/publish.py), so they are the last good version;
    a step after publishing (the analyst database) can fail once the marts are published."""
    from dagster_project.lib.publish import last_publication
    from dagster_project.lib.warehouse import connect

    path = settings.warehouse_path()
    publication = None
    if path.is_file():
        try:
            con = connect(path, read_only=True, timeout=5)
        except RuntimeError:
            return "the published golden tables were not changed by this run"
        try:
            publication = last_publication(con, "golden_customers")
        finally:
            con.close()
    if publication is None:
        return (
            "nothing was published: no run has passed every gate yet, so main.golden_customers "
            "does not exist (the rejected build, if any, is in candidate.*)"
        )
    day = f" for {publication.partition_key}" if publication.partition_key else ""
    if failed_run_id is not None and publication.run_id == failed_run_id:
        return (
            f"published: this run replaced main.golden_customers, customer_source_xref and "
            f"golden_field_lineage{day} ({publication.row_count:,} customers) before the step "
            "that failed; the analyst database (`custodian sql`) keeps its previous version "
            "until a run gets past that step"
        )
    return (
        f"not published: analysts still read main.golden_customers, customer_source_xref and "
        f"golden_field_lineage as published at {publication.published_at:%Y-%m-%d %H:%M} UTC"
        f"{day} ({publication.row_count:,} customers); this run's build, if it got that far, "
        "is in candidate.* for inspection"
    )


def _month_partition(month: str | None) -> str:
    if month is None:
        first_of_this_month = date.today().replace(day=1)
        return (first_of_this_month - timedelta(days=1)).replace(day=1).isoformat()
    try:
        return date.fromisoformat(month + "-01").isoformat()
    except ValueError:
        raise fail(f"--month {month!r} is not a month; use YYYY-MM", EXIT_BAD_INPUT) from None


def _run_monthly(job_name: str, config: Path | None, month: str | None, label: str) -> None:
    config_path, _ = load_governance(config)
    key = _month_partition(month)
    results = execute(job_name, config_path, [key], label)
    _, result = results[0]
    if not result.success:
        err_console.print(f"[bold red]{job_name} failed for {key[:7]}[/]")
        err_console.print(
            failure_summary(result, job_log_path(job_name)), highlight=False, markup=False
        )
        raise typer.Exit(EXIT_RUN_FAILED)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        console.print(f"[green]{materialization.asset_key.to_user_string()}[/] ({key[:7]})")
        for name, value in materialization.metadata.items():
            text = getattr(value, "value", value)
            console.print(f"  {name}: {text}", highlight=False)


def audit(
    config: ConfigOption = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: last month).")] = None,
) -> None:
    """Run the monthly quality audit for one month."""
    _run_monthly("monthly_quality_audit", config, month, "monthly audit")


def purge(
    config: ConfigOption = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: last month).")] = None,
) -> None:
    """Apply retention policies as of the end of one month."""
    _run_monthly("monthly_retention_purge", config, month, "retention")


def train(config: ConfigOption = None) -> None:
    """Refit the Splink match model from the warehouse's records and steward labels.

    The new model replaces the one at matching.model_path (relative to the config; commit it:
    the daily run loads it) only after it validates; otherwise the working model stays and the
    reason is printed (exit 1). Charts go under the reports folder; what training had to work
    around on this data is printed as warnings.
    """
    config_path, _ = load_governance(config)
    job_name = "retrain_match_model"
    (_, result), *_ = execute(job_name, config_path, [None], "training match model")
    if not result.success:
        err_console.print("[bold red]training the match model failed[/]")
        err_console.print(
            failure_summary(result, job_log_path(job_name)), highlight=False, markup=False
        )
        raise typer.Exit(EXIT_RUN_FAILED)
    warnings: list[str] = []
    for event in result.get_asset_materialization_events():
        for name, value in event.event_specific_data.materialization.metadata.items():
            text = getattr(value, "value", value)
            if name == "training_warnings":
                warnings += [] if text == "none" else str(text).splitlines()
                continue
            console.print(f"  {name}: {text}", highlight=False)
    for warning in warnings:
        console.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)


def docs(config: ConfigOption = None) -> None:
    """Build the data dictionary site (dbt docs) from the models and the warehouse's tables."""
    import subprocess

    from dagster_project.lib.transform.dbt_project import (
        dbt_environment,
        dbt_executable,
        dbt_project_for,
    )
    from dagster_project.lib.transform.dbt_vars import dbt_vars_arg

    _, governance = load_governance(config)
    warehouse_file = settings.warehouse_path().resolve()
    if not warehouse_file.is_file():
        raise fail(
            f"no warehouse at {warehouse_file}: run the pipeline first (`custodian run`), "
            "the docs read column types from its tables",
            EXIT_BAD_INPUT,
        )
    # The warehouse's own dbt project: the configured sources' models are generated there.
    project_dir = dbt_project_for(governance, warehouse_file, settings.dbt_project_dir())
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
            env={**os.environ, **dbt_environment(warehouse_file)},
        )  # fmt: skip
    if completed.returncode != 0:
        err_console.print(
            completed.stdout[-3000:] + completed.stderr[-3000:], highlight=False, markup=False
        )
        raise fail("dbt docs generate failed (output above)", EXIT_RUN_FAILED)
    console.print(f"data dictionary: {out / 'static_index.html'} (open it in a browser)")


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


def print_summary(governance: GovernanceConfig, results, planned: int | None = None) -> None:
    """Records per source, golden customers, checks, and where the warehouse and reports are."""
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
    not_run = (planned or len(results)) - len(results)
    console.print(
        f"partitions run: {succeeded}/{len(results)} succeeded"
        + (f" ({not_run} not run)" if not_run else "")
        + f"  golden customers: [bold]{summary.golden_customers:,}[/] from "
        f"{summary.source_records:,} source records  "
        f"checks: [green]{passed} passed[/], [yellow]{warned} warnings[/], [red]{failed} failed[/]"
    )
    if summary.review_queue_open:
        console.print(
            f"review queue: {summary.review_queue_open:,} pair(s) for a steward "
            "(`custodian review list`)"
        )
    if summary.open_risk_events:
        tiers = summary.customers_by_risk_tier
        console.print(
            f"monitoring: {summary.open_risk_events:,} open risk event(s); customers at risk: "
            + ", ".join(f"{tiers.get(tier, 0):,} {tier}" for tier in ("high", "medium", "low"))
            + " (monitoring.customer_risk)"
        )
    console.print(f"warehouse: {warehouse_file}")
    if settings.analytics_path().is_file():
        console.print(f"analysts:  {settings.analytics_path().resolve()} (masked; `custodian sql`)")
    if settings.reports_dir().is_dir():
        console.print(f"reports:   {settings.reports_dir().resolve()}")
