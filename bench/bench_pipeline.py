"""Benchmark: the daily pipeline at ~1,000,000 source records, step by step, a cold day and the
ordinary day after it.

Run with `uv run python bench/bench_pipeline.py [--customers N]`. It generates two days of demo
data (460,000 people give ~1,000,000 records on day one; day two is the generator's ordinary
day: new customers, changed addresses, phones and e-mails, a few per cent of the records), runs
the `daily_customer_pipeline` job for each partition in-process on a fresh warehouse, and
reports the wall time of every step. Day one gives the share of the quality gates (the `gx_*`
steps; target: at most 10% of the run); day two against day one gives what an ordinary day
costs (target of issue 16: at most 15% of a full run). Results go to
`bench/results/pipeline.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from demo_day import DAY, demo_day

from dagster_project.lib.warehouse import connect as warehouse_connect

RESULTS = Path(__file__).parent / "results" / "pipeline.json"
GATE_BUDGET_SHARE = 0.10
ORDINARY_DAY_TARGET = 0.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=460_000)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (warehouse)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custodian_bench_pipeline_"))
    try:
        result = run(work, args.customers)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def run(work: Path, customers: int) -> dict:
    landing, config_path = demo_day(work, customers, seed=11, days=2)
    os.environ["CUSTODIAN_CONFIG"] = str(config_path)
    os.environ.setdefault("CUSTODIAN_MASKING_SALT", "bench-key-not-a-secret")
    os.environ["CUSTODIAN_WAREHOUSE"] = str(work / "warehouse" / "custodian.duckdb")
    os.environ.pop("DAGSTER_HOME", None)

    # Imported after the environment is set: the definitions read it when built.
    from dagster import DagsterInstance

    from dagster_project.definitions import build_definitions

    job = build_definitions(config_path).resolve_job_def("daily_customer_pipeline")
    instance = DagsterInstance.ephemeral()
    days = [_run_day(job, instance, DAY + timedelta(days=n)) for n in range(2)]
    cold, ordinary = days
    warehouse = work / "warehouse" / "custodian.duckdb"

    with warehouse_connect(warehouse, read_only=True) as con:
        applied = dict(
            zip(
                ["records", "inserted", "updated", "deleted", "standardised"],
                con.execute(
                    "select (select count(*) from intermediate.int_customer_records), "
                    "inserted, updated, deleted, standardised from history.applied_days "
                    "where partition_date = ?",
                    [DAY + timedelta(days=1)],
                ).fetchone(),
                strict=True,
            )
        )
        scoring = con.execute("select mode from er.resolution_state").fetchone()[0]
    changed_share = (applied["inserted"] + applied["updated"] + applied["deleted"]) / max(
        applied["records"], 1
    )
    with_records = sum(
        1 for p in landing.rglob("*") if p.is_file() and not p.is_relative_to(landing / "_truth")
    )
    return {
        "customers": customers,
        "landing_files": with_records,
        **cold,
        "ordinary_day": {
            **ordinary,
            "records_new_or_changed": applied["inserted"] + applied["updated"],
            "records_deleted": applied["deleted"],
            "changed_share": round(changed_share, 4),
            "resolution_scoring": scoring,
        },
        "ordinary_day_share_of_cold_day": round(ordinary["wall_seconds"] / cold["wall_seconds"], 3),
        "target_ordinary_day_share": ORDINARY_DAY_TARGET,
        "cpu_count": os.cpu_count(),
    }


def _run_day(job, instance, day) -> dict:
    from dagster import DagsterEventType

    started = time.perf_counter()
    result = job.execute_in_process(
        partition_key=day.isoformat(),
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        raise_on_error=False,
    )
    wall = time.perf_counter() - started
    step_seconds = {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 2)
        for event in result.all_events
        if event.event_type == DagsterEventType.STEP_SUCCESS
    }
    failed_steps = [
        event.step_key
        for event in result.all_events
        if event.event_type == DagsterEventType.STEP_FAILURE
    ]
    failed_checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name} ({e.severity.value}): {e.description}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    gate_seconds = sum(s for step, s in step_seconds.items() if step.startswith("gx_"))
    # Per suite (one step each); a gate whose blocking check failed ends in STEP_FAILURE, which
    # carries no duration, so it is listed apart and not counted above.
    gate_seconds_per_suite = {
        step.removeprefix("gx_").replace("__", "/", 1): seconds
        for step, seconds in step_seconds.items()
        if step.startswith("gx_")
    }
    return {
        "run_succeeded": result.success,
        "failed_steps": failed_steps,
        "failed_checks": failed_checks,
        "wall_seconds": round(wall, 2),
        "step_seconds": dict(sorted(step_seconds.items(), key=lambda kv: -kv[1])),
        "gate_seconds": round(gate_seconds, 2),
        "gate_seconds_per_suite": gate_seconds_per_suite,
        "gate_steps_failed_uncounted": [s for s in failed_steps if s.startswith("gx_")],
        "gate_share_of_wall": round(gate_seconds / wall, 3),
        "gate_budget_share": GATE_BUDGET_SHARE,
        "gates_within_budget": gate_seconds / wall <= GATE_BUDGET_SHARE,
    }


if __name__ == "__main__":
    main()
