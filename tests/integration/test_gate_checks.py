"""Suites as Dagster asset checks, run by a real (small) Dagster job over a DuckDB file.

The assets here are stand-ins (a customers table and a summary built from it) so each run takes
seconds; the checks are built by the same `build_gate_checks` the platform uses, from suite files
written into tmp_path. The whole pipeline's version is tests/e2e/test_gate_blocking.py.
"""

import json
from pathlib import Path

import dagster as dg
import pytest

from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.defs.quality.checks import build_gate_checks
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.settings import PROJECT_ROOT
from tests.support.database import open_database

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
EMAILS_OK = ["zhangsan@qq.com", "lisi@163.com", "wangwu@example.com", "zhaoliu@126.com"]


def _write_suite(root: Path, table: str, expectations: list[dict], **custodian) -> None:
    schema, name = table.split(".")
    path = root / schema / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    suite = {"name": name, "meta": {"custodian": custodian}, "expectations": expectations}
    path.write_text(json.dumps(suite), encoding="utf-8")


def _definitions(
    expectations_dir: Path, warehouse: Path, emails: dict[str, list]
) -> dg.Definitions:
    """main.customers (daily partitions) -> main.customer_summary, gated by the suites."""

    @dg.asset(key=["main", "customers"], partitions_def=DAYS)
    def customers(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
        day = context.partition_key
        with warehouse.connect() as con:
            con.execute(
                "create table if not exists main.customers "
                "(customer_id varchar, email varchar, delivery_date date)"
            )
            con.execute("delete from main.customers where delivery_date = ?", [day])
            for number, email in enumerate(emails[day]):
                con.execute(
                    "insert into main.customers values (?, ?, ?)", [f"{day}-{number}", email, day]
                )

    @dg.asset(key=["main", "customer_summary"], deps=[customers])
    def customer_summary(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as con:
            con.execute(
                "create or replace table main.customer_summary as "
                "select count(*) as customers from main.customers"
            )

    assets = [customers, customer_summary]
    return dg.Definitions(
        assets=assets,
        asset_checks=build_gate_checks(
            assets, load_config(PROJECT_ROOT / "governance.yaml"), None, expectations_dir
        ),
        jobs=[dg.define_asset_job("gated", selection=dg.AssetSelection.all())],
        resources={
            "warehouse": WarehouseResource(path=str(warehouse)),
            "governance": GovernanceResource(config_path=str(PROJECT_ROOT / "governance.yaml")),
        },
    )


CRITICAL_EMAIL_SHAPE = {
    "type": "expect_column_values_to_match_regex",
    "kwargs": {"column": "email", "regex": "^[^@ ]+@[^@ ]+\\.[a-z]+$", "mostly": 0.7},
    "severity": "critical",
    "description": "At least 70% of the day's e-mails look like e-mail addresses.",
}
WARNING_EMAIL_PRESENT = {
    "type": "expect_column_values_to_not_be_null",
    "kwargs": {"column": "email", "mostly": 0.99},
    "severity": "warning",
    "description": "Nearly every customer of the day has an e-mail.",
}


@pytest.fixture
def gated(isolated_env: Path):
    expectations = isolated_env / "expectations"
    _write_suite(
        expectations,
        "main.customers",
        [CRITICAL_EMAIL_SHAPE, WARNING_EMAIL_PRESENT],
        partition_column="delivery_date",
        key_column="customer_id",
    )
    warehouse = settings.warehouse_path()

    def run(day: str, emails: dict[str, list]):
        definitions = _definitions(expectations, warehouse, emails)
        result = definitions.resolve_job_def("gated").execute_in_process(
            partition_key=day, raise_on_error=False
        )
        with open_database(warehouse, read_only=True) as con:
            rows = con.execute(
                "select check_name, partition_key, severity, success, run_id "
                "from quality.gate_results order by validated_at, check_name"
            ).fetchall()
        return result, rows

    return run


def _materialized(result) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }


def _evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_warning_failure_lets_the_run_finish_and_is_recorded(gated) -> None:
    day = "2026-11-01"
    result, rows = gated(day, {day: [*EMAILS_OK, None]})

    assert result.success
    assert _materialized(result) == {"main/customers", "main/customer_summary"}
    evaluations = _evaluations(result)
    warning = evaluations["gx_email__not_null"]
    assert not warning.passed
    assert warning.severity == dg.AssetCheckSeverity.WARN
    assert not warning.blocking
    assert warning.partition == day
    assert "20.0% of email values unexpected (allowed 1.0%)" in warning.description
    assert evaluations["gx_email__match_regex"].passed
    assert ("gx_email__not_null", day, "warning", False, result.run_id) in rows
    assert ("gx_email__match_regex", day, "critical", True, result.run_id) in rows


def test_a_critical_failure_blocks_downstream_and_names_the_check(gated) -> None:
    day = "2026-11-02"
    bad = ["zhangsan.qq.com", "lisi@", "wangwu@example.com", "zhaoliu@126.com"]
    result, rows = gated(day, {day: bad})

    assert not result.success
    assert _materialized(result) == {"main/customers"}, "the summary must not be rebuilt"
    failure = next(
        e for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ).event_specific_data.error.message
    assert "main/customers: gx_email__match_regex" in failure
    critical = _evaluations(result)["gx_email__match_regex"]
    assert not critical.passed
    assert critical.severity == dg.AssetCheckSeverity.ERROR
    metadata = {key: getattr(value, "value", value) for key, value in critical.metadata.items()}
    assert metadata["unexpected_percent"] == pytest.approx(50.0)
    assert metadata["threshold"] == {"mostly": 0.7, "regex": "^[^@ ]+@[^@ ]+\\.[a-z]+$"}
    assert metadata["observed_value"] == pytest.approx(0.5)
    sample = metadata["failing_sample_masked"]
    assert [row["email"] for row in sample] == ["z**************", "l***@"]
    assert "zhangsan" not in json.dumps(sample)
    assert "lisi@" not in json.dumps(sample)
    assert Path(metadata["data_docs"]).is_file()
    assert ("gx_email__match_regex", day, "critical", False, result.run_id) in rows
    # Whoever is on call is told (monitoring.alerts, every configured channel), without a value.
    with open_database(settings.warehouse_path(), read_only=True) as con:
        alerts = con.execute(
            "select partition_date::varchar, kind, severity, channel, status, message "
            "from monitoring.alerts"
        ).fetchall()
    ((alert_day, kind, severity, channel, status, message),) = alerts
    assert (alert_day, kind, severity, channel, status) == (
        day, "gate_failed", "high", "log", "sent"
    )  # fmt: skip
    assert message.startswith(f"quality gate customers failed for {day} (run {result.run_id}): ")
    assert "1 critical expectation(s) not met: gx_email__match_regex;" in message
    assert "zhangsan" not in message
    assert "lisi" not in message


def test_a_warning_failure_alerts_nobody(gated) -> None:
    day = "2026-11-01"
    gated(day, {day: [*EMAILS_OK, None]})
    with open_database(settings.warehouse_path(), read_only=True) as con:
        monitoring = "select 1 from duckdb_tables() where schema_name = 'monitoring'"
        assert con.execute(monitoring).fetchall() == []


def test_each_partition_is_judged_on_its_own_rows(gated) -> None:
    good, bad = "2026-11-01", "2026-11-02"
    emails = {good: EMAILS_OK, bad: ["x", "y", "z", "zhaoliu@126.com"]}
    gated(bad, emails)  # the bad day is loaded (and fails) first
    result, _ = gated(good, emails)

    assert result.success, "yesterday's bad rows do not fail today's partition"
    critical = _evaluations(result)["gx_email__match_regex"]
    assert critical.passed
    assert critical.partition == good
    assert critical.metadata["rows_validated"].value == 4


def test_a_check_launched_alone_validates_and_records_only_itself(gated, isolated_env) -> None:
    day = "2026-11-01"
    gated(day, {day: [*EMAILS_OK, None]})
    definitions = _definitions(
        isolated_env / "expectations", settings.warehouse_path(), {day: EMAILS_OK}
    )
    only = dg.AssetCheckKey(dg.AssetKey(["main", "customers"]), "gx_email__not_null")
    job = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(only))
    # The day goes in as the run's partition tag, as the UI launches it: execute_in_process's
    # partition_key needs a job with assets to find a partitions definition.
    result = (
        dg.Definitions.merge(definitions, dg.Definitions(jobs=[job]))
        .resolve_job_def("one_check")
        .execute_in_process(tags={"dagster/partition": day}, raise_on_error=False)
    )

    (evaluation,) = result.get_asset_check_evaluations()
    assert (evaluation.check_name, evaluation.partition) == ("gx_email__not_null", day)
    with open_database(settings.warehouse_path(), read_only=True) as con:
        recorded = con.execute(
            "select check_name from quality.gate_results where run_id = ?", [result.run_id]
        ).fetchall()
    assert recorded == [("gx_email__not_null",)]
