"""Benchmark: the full standardisation (staging + int_customer_records) at ~1,000,000 records.

Run with `uv run python bench/bench_standardise.py [--customers N]`. It generates one day of demo
data (about 2.2 source records per person, so 460,000 people give ~1,000,000 records), loads it
into a fresh warehouse with the ingestion code, then:

the pipeline's standardisation on a cold day (every record new): dbt builds the staging views,
the history step (lib/history/records.py, in-process, with the Python UDFs registered here to
report seconds, rows and distinct inputs per standardiser) standardises and stores every record,
and dbt builds int_customer_records from the current versions. The target is >= 25,000
records/s over the history step and int_customer_records together. bench_history.py measures
the ordinary days after it.

Results go to `bench/results/standardise.json`; generated files are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from demo_day import DAY, demo_day

from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.lib.history.days import apply_day
from dagster_project.lib.ingest.loader import load_partition
from dagster_project.lib.transform.dbt_project import (
    dbt_environment,
    dbt_executable,
    dbt_project_for,
)
from dagster_project.lib.transform.dbt_vars import dbt_vars_arg
from dagster_project.lib.transform.duckdb_plugin import register_udfs
from dagster_project.lib.warehouse import connect

RESULTS = Path(__file__).parent / "results" / "standardise.json"
TARGET_RECORDS_PER_SECOND = 25_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=460_000)
    parser.add_argument("--keep", action="store_true", help="Keep the warehouse for profiling.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custodian_bench_std_"))
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
    warehouse = work / "custodian.duckdb"
    began = time.perf_counter()
    landing, config_path = demo_day(work, customers, seed=7)
    print(f"demo data: {time.perf_counter() - began:.0f} s", flush=True)
    config = load_config(config_path)
    with connect(warehouse) as con:
        for source in config.sources:
            load_partition(con, source, landing, DAY, run_id="bench")
        raw_rows = sum(
            con.sql(f"select count(*) from raw.{s.name}__customers").fetchone()[0]
            for s in config.sources
        )
    print(f"loaded {raw_rows:,} raw rows", flush=True)

    project_dir = dbt_project_for(config, warehouse, settings.dbt_project_dir())
    env = {**os.environ, **dbt_environment(warehouse)}
    dbt_common = [
        "--profiles-dir", str(project_dir), "--project-dir", str(project_dir),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
        *dbt_vars_arg(config),
    ]  # fmt: skip

    def dbt_run(select: str) -> dict[str, float]:
        completed = subprocess.run(
            [dbt_executable(), "run", "--select", select, *dbt_common],
            cwd=project_dir, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if completed.returncode != 0:
            raise SystemExit(completed.stdout[-4000:] + completed.stderr[-4000:])
        run_results = json.loads((work / "target" / "run_results.json").read_text())
        return {
            r["unique_id"].rsplit(".", 1)[-1]: round(r["execution_time"], 2)
            for r in run_results["results"]
        }

    started = time.perf_counter()
    model_seconds = dbt_run("tag:staging")
    # The pipeline's order: the staging views, the history step standardising the day's new and
    # changed records (all of them on this cold day), then int_customer_records.
    with connect(warehouse) as con:
        udfs = register_udfs(con)
        history_started = time.perf_counter()
        apply_day(con, config, DAY, dbt_project_dir=settings.dbt_project_dir(), run_id="bench",
                  recorded_at=datetime.now(UTC))  # fmt: skip
        in_process = time.perf_counter() - history_started
    model_seconds["history_step"] = round(in_process, 2)
    model_seconds.update(dbt_run("int_customer_records"))
    dbt_wall = time.perf_counter() - started
    with connect(warehouse) as con:
        records = con.sql("select count(*) from intermediate.int_customer_records").fetchone()[0]

    int_seconds = model_seconds["int_customer_records"] + model_seconds["history_step"]
    return {
        "raw_rows": raw_rows,
        "records": records,
        "wall_seconds": round(dbt_wall, 2),
        "dbt_model_seconds": model_seconds,
        "records_per_second_history_and_int_model": round(records / int_seconds),
        "records_per_second_wall": round(records / dbt_wall),
        "target_records_per_second": TARGET_RECORDS_PER_SECOND,
        "meets_target": records / int_seconds >= TARGET_RECORDS_PER_SECOND,
        "history_step_seconds": round(in_process, 2),
        "standardisers": {
            name: {
                "seconds": round(udf.seconds, 2),
                "rows": udf.rows,
                "distinct_inputs": udf.calls,
                "microseconds_per_distinct_input": round(udf.seconds / max(udf.calls, 1) * 1e6, 1),
            }
            for name, udf in udfs.items()
        },
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
