"""Benchmark: record history and incremental standardisation, cold day against ordinary days.

Run with `uv run python bench/bench_history.py [--customers N] [--days D]`. It generates one day
of demo data (about 2.2 source records per person: the default 100,000 people give ~220,000
records, so thirty days fit the bench's time; bench_pipeline.py runs the whole job at 1M),
loads it with the ingestion code and builds the staging views with dbt, then, with every source
declared a `full` extract:

- cold day: the history step (lib/history/records.py) applies day one, every record new, and dbt
  builds int_customer_records from the current versions;
- ordinary days 2..D: each source re-delivers its whole extract with 1% of its records changed
  (one mapped value edited), written into the raw table as the loader would (the loader is
  measured by bench_ingest.py); the history step applies the day and dbt rebuilds
  int_customer_records.

It reports seconds per step, the ordinary day's share of the cold day (target <= 15% of a full
run: here for the standardisation part of the run), and day D against day 2 (target <= 1.2x:
history must not grow the cost). Results go to `bench/results/history.json`.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
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
from dagster_project.lib.warehouse import connect, quote_identifier

RESULTS = Path(__file__).parent / "results" / "history.json"
CHANGED_SHARE = 0.01
# Edited per changed record, the first of these the source maps: a value every source has.
EDITED_FIELDS = ("email", "address_line", "mobile_phone", "full_name", "family_name")
TARGET_ORDINARY_SHARE = 0.15
TARGET_GROWTH = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custodian_bench_history_"))
    try:
        result = run(work, args.customers, args.days)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def _as_full_extracts(config_path: Path) -> None:
    document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for source in document["sources"]:
        source["extract"] = {"kind": "full"}
    config_path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")


def _dbt(work: Path, config, warehouse: Path, select: str) -> float:
    project_dir = dbt_project_for(config, warehouse, settings.dbt_project_dir())
    started = time.perf_counter()
    completed = subprocess.run(
        [dbt_executable(), "run", "--select", select,
         "--profiles-dir", str(project_dir), "--project-dir", str(project_dir),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
         *dbt_vars_arg(config)],
        cwd=project_dir, env={**os.environ, **dbt_environment(warehouse)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise SystemExit(completed.stdout[-4000:] + completed.stderr[-4000:])
    return time.perf_counter() - started


def _redeliver(con, config, day, day_number: int) -> int:
    """Each source's previous delivery again as `day`'s full extract, 1% of it edited."""
    changed = 0
    for source in config.sources:
        table = f"raw.{quote_identifier(source.name + '__customers')}"
        field = next(f for f in EDITED_FIELDS if isinstance(source.mapping.get(f), str))
        column = quote_identifier(source.mapping[field])
        # A different 1% every day: the row number hashed with the day.
        edit = f"hash(_row_number, {day_number}) % {round(1 / CHANGED_SHARE)} = 0"
        con.execute(
            f"""
            insert into {table} by name
            select * replace (
                $day as _partition_date,
                case when {edit} then coalesce({column}, '') || ' {day_number}' else {column} end
                    as {column}
            )
            from {table} where _partition_date = $previous
            """,
            {"day": day, "previous": day - timedelta(days=1)},
        )
        changed += con.execute(
            f"select count(*) from {table} where _partition_date = $day and {edit}", {"day": day}
        ).fetchone()[0]
        con.execute(
            """
            insert into ops.load_log
            select * replace ($day as partition_date, md5(file_sha256 || $day) as file_sha256,
                now() as started_at, now() as finished_at)
            from ops.load_log where source_name = $source and partition_date = $previous
            """,
            {"day": day, "previous": day - timedelta(days=1), "source": source.name},
        )
    return changed


def run(work: Path, customers: int, days: int) -> dict:
    warehouse = work / "custodian.duckdb"
    landing, config_path = demo_day(work, customers, seed=7)
    _as_full_extracts(config_path)
    config = load_config(config_path)
    with connect(warehouse) as con:
        for source in config.sources:
            load_partition(con, source, landing, DAY, run_id="bench")
        records = sum(
            con.sql(f"select count(*) from raw.{s.name}__customers").fetchone()[0]
            for s in config.sources
        )
    print(f"loaded {records:,} raw rows", flush=True)
    staging_seconds = _dbt(work, config, warehouse, "tag:staging")
    options = {
        "dbt_project_dir": settings.dbt_project_dir(),
        "run_id": "bench",
        "recorded_at": datetime.now(UTC),
    }
    per_day = []
    for number in range(1, days + 1):
        day = DAY + timedelta(days=number - 1)
        with connect(warehouse) as con:
            changed = _redeliver(con, config, day, number) if number > 1 else records
            udfs = register_udfs(con)
            started = time.perf_counter()
            result = apply_day(con, config, day, **options)
            history_seconds = time.perf_counter() - started
        int_seconds = _dbt(work, config, warehouse, "int_customer_records")
        per_day.append(
            {
                "day": number,
                "records_changed_in_delivery": changed,
                "history_seconds": round(history_seconds, 2),
                "int_customer_records_seconds": round(int_seconds, 2),
                "standardisation_seconds": round(history_seconds + int_seconds, 2),
                "standardised": result.standardised,
                "inserted": result.inserted,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "field_changes": result.field_changes,
                "udf_seconds": round(sum(u.seconds for u in udfs.values()), 2),
            }
        )
        print(json.dumps(per_day[-1]), flush=True)
    with connect(warehouse, read_only=True) as con:
        raw_rows = sum(
            con.sql(f"select count(*) from raw.{s.name}__customers").fetchone()[0]
            for s in config.sources
        )
        versions = con.sql("select count(*) from history.customer_record_versions").fetchone()[0]
    cold, second, last = per_day[0], per_day[1], per_day[-1]
    ordinary_share = second["standardisation_seconds"] / cold["standardisation_seconds"]
    growth = last["standardisation_seconds"] / second["standardisation_seconds"]
    return {
        "records": records,
        "days": days,
        "changed_share_per_day": CHANGED_SHARE,
        "raw_rows_after_last_day": raw_rows,
        "versions_after_last_day": versions,
        "staging_views_seconds": round(staging_seconds, 2),
        "cold_day": cold,
        "ordinary_day_share_of_cold": round(ordinary_share, 3),
        "target_ordinary_day_share": TARGET_ORDINARY_SHARE,
        "meets_ordinary_day_target": ordinary_share <= TARGET_ORDINARY_SHARE,
        "last_day_over_day_2": round(growth, 2),
        "target_growth": TARGET_GROWTH,
        "meets_growth_target": growth <= TARGET_GROWTH,
        "cold_records_per_second": round(records / cold["standardisation_seconds"]),
        "per_day": per_day,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
