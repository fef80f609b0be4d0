"""Benchmark: the full standardisation (staging + int_customer_records) at ~1,000,000 records.

Run with `uv run python bench/bench_standardise.py [--customers N]`. It generates one day of demo
data (about 2.2 source records per person, so 460,000 people give ~1,000,000 records), loads it
into a fresh warehouse with the ingestion code, then:

(a) dbt: `dbt run --select staging intermediate` as the pipeline runs it (a subprocess, the
    plugin's Python UDFs); the target is >= 50,000 records/s over int_customer_records' build;
(b) in-process: the same compiled int_customer_records query on a connection with the UDFs
    registered here, to report seconds, rows and distinct inputs per standardiser.

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
from pathlib import Path

from demo_day import DAY, demo_day

from dagster_project import settings
from dagster_project.config import load_config
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
TARGET_RECORDS_PER_SECOND = 50_000


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
    started = time.perf_counter()
    completed = subprocess.run(
        [dbt_executable(), "run", "--select", "tag:staging", "int_customer_records", *dbt_common],
        cwd=project_dir, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    dbt_wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(completed.stdout[-4000:] + completed.stderr[-4000:])
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    model_seconds = {
        r["unique_id"].rsplit(".", 1)[-1]: round(r["execution_time"], 2)
        for r in run_results["results"]
    }

    with connect(warehouse) as con:
        records = con.sql("select count(*) from intermediate.int_customer_records").fetchone()[0]
        compiled = next((work / "target" / "compiled").rglob("int_customer_records.sql"))
        udfs = register_udfs(con)
        started = time.perf_counter()
        # A table, not count(*): DuckDB would prune the unused UDF columns from a count.
        con.execute(f"create temp table standardised as {compiled.read_text(encoding='utf-8')}")
        in_process = time.perf_counter() - started

    int_seconds = model_seconds["int_customer_records"]
    return {
        "raw_rows": raw_rows,
        "records": records,
        "dbt_wall_seconds": round(dbt_wall, 2),
        "dbt_model_seconds": model_seconds,
        "records_per_second_int_model": round(records / int_seconds),
        "records_per_second_dbt_wall": round(records / dbt_wall),
        "target_records_per_second": TARGET_RECORDS_PER_SECOND,
        "meets_target": records / int_seconds >= TARGET_RECORDS_PER_SECOND,
        "in_process_seconds": round(in_process, 2),
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
