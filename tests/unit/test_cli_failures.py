"""What the command says when a run fails: the cause in full (or where to read it), and which
later days a failed day left unrun, with the commands that continue."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_project.cli._common import (
    MAX_ERROR_LINES,
    SHOWN_LINES_OF_LONG_ERROR,
    failure_summary,
    run_partitions,
)
from dagster_project.cli.pipeline import stopped_run_message

DBT_FAILURE = (
    "dbt build failed in model stg_shop__customers (models/staging/stg_shop__customers.sql):\n"
    '  Binder Error: Referenced column "emial" not found in FROM clause!\n'
    '  Candidate bindings: "email"'
)
LONG_TEXT = "\n".join(f"dbt line {number}" for number in range(1, 41))


def _failing_job(raise_in_step) -> dg.JobDefinition:
    @dg.op(name="stg_shop__customers")
    def step() -> None:
        raise_in_step()

    @dg.job(name="daily_customer_pipeline")
    def job() -> None:
        step()

    return job


def _run(raise_in_step) -> dg.ExecuteInProcessResult:
    return _failing_job(raise_in_step).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def _raise(error: Exception):
    def raise_it() -> None:
        raise error

    return raise_it


def test_a_short_failure_description_is_printed_whole(tmp_path: Path) -> None:
    summary = failure_summary(_run(_raise(dg.Failure(description=DBT_FAILURE))), tmp_path)
    assert "step stg_shop__customers: dbt build failed in model stg_shop__customers" in summary
    assert 'Referenced column "emial" not found' in summary
    assert 'Candidate bindings: "email"' in summary  # the last line too, not only the first
    assert "dagster._core" not in summary


def test_a_long_error_shows_its_first_lines_and_where_the_rest_is(tmp_path: Path) -> None:
    log = tmp_path / "daily_customer_pipeline.log"
    summary = failure_summary(_run(_raise(dg.Failure(description=LONG_TEXT))), log)
    assert "dbt line 1\n" in summary
    assert f"dbt line {SHOWN_LINES_OF_LONG_ERROR}\n" in summary
    assert f"dbt line {SHOWN_LINES_OF_LONG_ERROR + 1}\n" not in summary
    assert "dbt line 40" not in summary
    hidden = 40 - SHOWN_LINES_OF_LONG_ERROR
    assert f"... ({hidden} more lines; full text in {log})" in summary
    assert len(summary.splitlines()) <= MAX_ERROR_LINES


def test_dagsters_wrapper_gives_way_to_the_exception_and_its_causes(tmp_path: Path) -> None:
    def chained() -> None:
        try:
            raise KeyError("email")
        except KeyError as error:
            raise RuntimeError("mapping of source shop names no column\nemail") from error

    summary = failure_summary(_run(chained), tmp_path)
    assert "Error occurred while executing" not in summary
    assert "step stg_shop__customers: RuntimeError: mapping of source shop names" in summary
    assert "    email\n" in summary  # the message's second line, indented under the step
    assert "caused by: KeyError: 'email'" in summary


def test_a_qualified_exception_name_is_shortened(tmp_path: Path) -> None:
    summary = failure_summary(_run(_raise(dg.DagsterInvariantViolationError("boom"))), tmp_path)
    assert "DagsterInvariantViolationError: boom" in summary
    assert "dagster._core.errors." not in summary


def test_a_run_stops_at_the_failed_day_and_logs_the_full_error(tmp_path: Path) -> None:
    partitions = dg.StaticPartitionsDefinition(["2026-11-01", "2026-11-02", "2026-11-03"])

    @dg.asset(partitions_def=partitions)
    def raw_shop(context) -> None:  # unannotated: dagster checks the annotation's object
        if context.partition_key == "2026-11-02":
            raise dg.Failure(description=LONG_TEXT)

    job = dg.Definitions(
        assets=[raw_shop], jobs=[dg.define_asset_job("daily", partitions_def=partitions)]
    ).resolve_job_def("daily")
    log = tmp_path / "logs" / "daily.log"
    with dg.DagsterInstance.ephemeral() as instance:
        results = run_partitions(
            job, instance, partitions.get_partition_keys(), "daily pipeline", log
        )
    assert [(key, result.success) for key, result in results] == [
        ("2026-11-01", True),
        ("2026-11-02", False),
    ]
    logged = log.read_text(encoding="utf-8")
    assert "partition 2026-11-02 failed" in logged
    assert "--- step raw_shop ---" in logged
    assert "dbt line 40" in logged  # what the terminal leaves out
    assert "Stack Trace:" in logged


def test_the_days_a_failure_left_unrun_are_listed_with_how_to_continue() -> None:
    message = stopped_run_message("2026-11-02", ["2026-11-03", "2026-11-04"])
    assert "not run: 2026-11-03, 2026-11-04 (2 later day(s)" in message
    assert "custodian run --date 2026-11-02" in message
    assert "custodian run --through 2026-11-04" in message
    assert message.index("--date") < message.index("--through")


def test_the_commands_to_continue_keep_the_config_option() -> None:
    message = stopped_run_message("2026-11-02", ["2026-11-03"], Path("/srv/my configs/gov.yaml"))
    assert "custodian run --config '/srv/my configs/gov.yaml' --date 2026-11-02" in message
    assert "custodian run --config '/srv/my configs/gov.yaml' --through 2026-11-03" in message


def test_many_unrun_days_are_shortened_but_counted() -> None:
    days = [f"2026-11-{day:02d}" for day in range(3, 31)]
    message = stopped_run_message("2026-11-02", days)
    assert "not run: 2026-11-03, 2026-11-04, 2026-11-05, ... 2026-11-29, 2026-11-30" in message
    assert "(28 later day(s)" in message
    assert "--through 2026-11-30" in message


def test_the_last_day_failing_leaves_only_the_rerun() -> None:
    message = stopped_run_message("2026-11-04", [])
    assert "not run" not in message
    assert "--through" not in message
    assert "custodian run --date 2026-11-04" in message
