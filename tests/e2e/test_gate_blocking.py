"""A bad source day stops at the gate: the whole daily pipeline, through `custodian run`.

300 demo people, one day. Before the run, 30% of the e-mails in the CRM's file for that day are
made invalid. The canonical suite's critical e-mail validity check (judged per source over the
day's delivery) must fail, so Splink and the golden table do not run; the command must fail
naming the check; quality.gate_results must hold the failure; and nothing the check shows (its
metadata, its Data Docs page) may contain an e-mail address as the file had it.

One day keeps this test to about a minute: day one is a full extract, so the CRM's slice is
large enough to be judged on its own (a later day's delta of a few hundred people would be
pooled with the other sources'). The Dagster instance is kept in tmp_path so the check's
metadata can be read back after the command has exited.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.settings import PROJECT_ROOT
from tests.e2e.support import custodian, demo_environment
from tests.support.database import open_database

pytestmark = pytest.mark.e2e

DAY = date(2026, 11, 1)
PEOPLE = 300
CHECK = "gx_email_is_valid__in_set__critical"
CHECK_KEY = dg.AssetCheckKey(dg.AssetKey(["intermediate", "int_customer_records"]), CHECK)


def _corrupt_emails(path: Path, share: float) -> tuple[list[str], list[str]]:
    """Make `share` of the file's e-mails invalid ('zhangsan@qq.com' -> 'zhangsan at qq.com');
    return the originals and the corrupted values (to prove neither leaks)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    column = header.index("email")
    with_email = [row for row in rows if row[column].strip()]
    chosen = with_email[: round(len(with_email) * share)]
    originals = [row[column] for row in chosen]
    for row in chosen:
        row[column] = row[column].replace("@", " at ")
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([header, *rows])
    return originals, [row[column] for row in chosen]


@pytest.fixture(scope="module")
def blocked_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("gate_blocking")
    landing, env = demo_environment(root, customers=PEOPLE, days=1, start=DAY, seed=11)
    crm_file = landing / "crm" / DAY.isoformat() / f"crm_customers_{DAY:%Y%m%d}.csv"
    originals, corrupted = _corrupt_emails(crm_file, 0.30)
    assert len(originals) >= 50, "the CRM slice must be large enough to be judged alone"
    # A persistent instance (the repository's dagster.yaml) so the check's metadata can be read.
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env["DAGSTER_HOME"] = str(home)
    run = custodian(env, "run", "--through", DAY.isoformat())
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        (dagster_run,) = instance.get_runs()
        events = {
            kind: instance.all_logs(dagster_run.run_id, of_type=kind)
            for kind in (
                dg.DagsterEventType.ASSET_MATERIALIZATION,
                dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            )
        }
    finally:
        instance.dispose()
    return root, run, dagster_run, events, originals, corrupted


def _warehouse(root: Path) -> duckdb.DuckDBPyConnection:
    return open_database(root / "warehouse" / "custodian.duckdb", read_only=True)


def _evaluations(events) -> dict[str, dg.AssetCheckEvaluation]:
    evaluations = [
        record.dagster_event.event_specific_data
        for record in events[dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    ]
    return {evaluation.check_name: evaluation for evaluation in evaluations}


def test_the_run_fails_naming_the_check_and_the_source(blocked_run) -> None:
    _, run, dagster_run, _, _, _ = blocked_run
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert dagster_run.status == dg.DagsterRunStatus.FAILURE
    # The terminal wraps long lines: compare with the wrapping undone.
    stderr = " ".join(run.stderr.split())
    assert f"daily pipeline failed for partition {DAY}" in stderr, run.stderr
    assert f"check intermediate/int_customer_records:{CHECK} failed (ERROR)" in stderr, stderr
    assert "source_name=crm:" in stderr


def test_the_golden_table_is_not_rebuilt(blocked_run) -> None:
    root, _, _, events, _, _ = blocked_run
    materialized = {
        record.dagster_event.asset_key.to_user_string()
        for record in events[dg.DagsterEventType.ASSET_MATERIALIZATION]
    }
    assert "intermediate/int_customer_records" in materialized  # the gate ran after it
    assert {"raw/crm__customers", "raw/erp_billing__customers"} <= materialized
    assert not materialized & {
        "er/record_clusters",
        "candidate/customer_source_xref",
        "candidate/golden_customers",
        "main/customer_source_xref",
        "main/golden_customers",
    }
    with _warehouse(root) as con:
        tables = {
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        }
    assert "golden_customers" not in tables
    assert "record_clusters" not in tables


def test_the_raw_gates_passed_for_the_day(blocked_run) -> None:
    # The file itself is well-formed: the raw suites (row counts, keys, columns) let it through.
    _, _, _, events, _, _ = blocked_run
    raw = [
        evaluation
        for evaluation in _evaluations(events).values()
        if evaluation.asset_key.path[0] == "raw"
    ]
    assert raw
    assert all(e.passed or not e.blocking for e in raw)


def test_gate_results_hold_the_failure(blocked_run) -> None:
    root, _, dagster_run, _, _, _ = blocked_run
    with _warehouse(root) as con:
        rows = con.execute(
            "select slice_name, success, severity, partition_key, unexpected_percent, "
            "failing_sample_masked, data_docs_path from quality.gate_results "
            "where check_name = ? and run_id = ?",
            [CHECK, dagster_run.run_id],
        ).fetchall()
        raw_days = con.execute(
            "select distinct asset_key from quality.gate_results "
            "where asset_key like 'raw/%' and partition_key = ? and run_id = ?",
            [DAY.isoformat(), dagster_run.run_id],
        ).fetchall()
    by_slice = {row[0]: row for row in rows}
    crm = by_slice["source_name=crm"]
    assert crm[1:4] == (False, "critical", DAY.isoformat())
    assert 25 <= crm[4] <= 45
    assert all(row[1] for name, row in by_slice.items() if name != "source_name=crm")
    assert Path(crm[6]).is_file()
    assert len(raw_days) == 4


def test_evidence_is_masked_everywhere_it_is_shown(blocked_run) -> None:
    root, _, _, events, originals, corrupted = blocked_run
    evaluation = _evaluations(events)[CHECK]
    assert not evaluation.passed
    assert evaluation.blocking
    metadata = {key: getattr(value, "value", value) for key, value in evaluation.metadata.items()}
    assert metadata["slice"] == "source_name=crm"
    assert metadata["threshold"]["mostly"] == 0.85
    assert 25 <= metadata["unexpected_percent"] <= 45
    sample = metadata["failing_sample_masked"]
    assert sample
    assert all(row["email_is_valid"] is False for row in sample)
    assert all("*" in row["email_normalised"] for row in sample)

    every_metadata = json.dumps(
        [
            {key: str(getattr(value, "value", value)) for key, value in e.metadata.items()}
            for e in _evaluations(events).values()
        ],
        ensure_ascii=False,
    ).lower()
    page = Path(metadata["data_docs"]).read_text(encoding="utf-8").lower()
    for value in [*originals, *corrupted]:
        assert value.strip().lower() not in every_metadata
        assert value.strip().lower() not in page
    with _warehouse(root) as con:
        recorded = " ".join(
            row[0]
            for row in con.execute(
                "select failing_sample_masked from quality.gate_results "
                "where failing_sample_masked is not null"
            ).fetchall()
        ).lower()
    assert not any(value.strip().lower() in recorded for value in [*originals, *corrupted])
