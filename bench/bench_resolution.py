"""Benchmark: entity resolution of ~1,000,000 demo source records, stage by stage.

Run with `uv run python bench/bench_resolution.py [--customers N] [--warehouse FILE]`. It builds
one day of demo data through the daily pipeline (or reuses a warehouse that has
intermediate.int_customer_records), then, in one process and on the same records:

  bare      Splink alone with the shipped model: predict + cluster_pairwise_predictions_at_threshold
  blocking  the candidate pairs our blocking rules generate (Splink's blocking analysis, exact)
  input, predict, cluster, ledger, publish
            `resolve_customers` on a warehouse without earlier IDs (every ID issued)
  rerun     `resolve_customers` again on identical input (every ID kept): the daily steady state
  survivorship
            dbt building golden_customers and golden_field_lineage

Target: the whole resolution stage (input..publish + survivorship) within 3x the bare Splink
predict+cluster, and under 8 GB peak memory. Peak RSS (this process and its children) is
sampled every 0.1 s for bare, blocking, each resolver run and survivorship.
Results go to `bench/results/resolution.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from demo_day import DAY, demo_day

from dagster_project.lib.warehouse import connect as warehouse_connect

RESULTS = Path(__file__).parent / "results" / "resolution.json"
TIME_RATIO_TARGET = 3.0
MEMORY_TARGET_GB = 8.0


class PeakMemory:
    """Peak resident memory while a stage runs: this process and every process it started
    (dbt), summed, sampled from /proc every 0.1 s. Each `measure` starts from zero, so a stage's
    peak is its own; getrusage's RUSAGE_CHILDREN would give the largest child of the whole
    benchmark (the standardisation's dbt, before any stage here)."""

    def __init__(self) -> None:
        self.peak = 0
        self._running = False

    @staticmethod
    def _tree_rss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
                rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            children: list[int] = []
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listed:
                    children += [int(child) for child in listed.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            return 0  # the process ended between listing and reading
        return rss + sum(PeakMemory._tree_rss(child) for child in children)

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, self._tree_rss(os.getpid()))
            time.sleep(0.1)

    @contextmanager
    def measure(self):
        self.peak = self._tree_rss(os.getpid())
        self._running = True
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._running = False
            thread.join()


def main() -> None:
    # Splink warns on every predict that rarely-seen levels keep default m/u values.
    logging.getLogger("splink").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=460_000)
    parser.add_argument("--warehouse", type=Path, help="reuse this warehouse's records")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custodian_bench_resolution_"))
    try:
        if args.warehouse:
            warehouse = work / "warehouse" / "custodian.duckdb"
            warehouse.parent.mkdir(parents=True)
            shutil.copy(args.warehouse, warehouse)
            config_path = None
        else:
            warehouse, config_path = build_records(work, args.customers)
        result = run(warehouse, config_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def build_records(work: Path, customers: int) -> tuple[Path, Path]:
    """One demo day through ingestion and standardisation (the daily job, in-process)."""
    _, config_path = demo_day(work, customers, seed=11)
    warehouse = work / "warehouse" / "custodian.duckdb"
    os.environ["CUSTODIAN_CONFIG"] = str(config_path)
    os.environ["CUSTODIAN_WAREHOUSE"] = str(warehouse)
    os.environ.pop("DAGSTER_HOME", None)
    from dagster import AssetKey, AssetSelection, DagsterInstance

    from dagster_project.definitions import build_definitions

    definitions = build_definitions(config_path)
    # Up to int_customer_records: resolution is what this benchmark measures.
    selection = AssetSelection.groups("ingestion", "standardisation").upstream() - (
        AssetSelection.assets(AssetKey(["er", "record_clusters"])).downstream()
    )
    job = definitions.get_implicit_global_asset_job_def().get_subset(
        asset_selection=set(selection.resolve(definitions.resolve_asset_graph()))
    )
    result = job.execute_in_process(
        partition_key=DAY.isoformat(),
        instance=DagsterInstance.ephemeral(),
        resources=definitions.resources,
        raise_on_error=True,
    )
    assert result.success
    return warehouse, config_path


def run(warehouse: Path, config_path: Path | None) -> dict:
    from dagster_project.config import load_config
    from dagster_project.lib.resolve.resolver import resolve_customers
    from dagster_project.lib.resolve.splink_model import (
        load_model,
        match_input_sql,
        splink_linker,
    )
    from dagster_project.settings import PROJECT_ROOT

    config = load_config(config_path or PROJECT_ROOT / "governance.yaml")
    matching = config.matching
    model_path = PROJECT_ROOT / matching.model_path
    model = load_model(model_path)
    memory = PeakMemory()
    stages: dict[str, dict] = {}

    def record(name: str, seconds: float, peak: int) -> None:
        stages[name] = {"seconds": round(seconds, 2), "peak_rss_gb": round(peak / 2**30, 2)}

    with warehouse_connect(warehouse) as con:
        con.execute("create schema if not exists er")
        for table in ("record_clusters", "golden_ids", "golden_id_ledger", "pairwise_predictions"):
            con.execute(f"drop table if exists er.{table} cascade")
        con.execute("drop view if exists er.golden_id_resolution")
        records = con.execute(match_input_sql("intermediate.int_customer_records")).to_arrow_table()

    # Bare Splink: the same model, blocking rules and threshold, Splink's own clustering.
    with memory.measure():
        started = time.perf_counter()
        with splink_linker(records, model, matching.max_records_per_block_key) as (linker, _):
            predictions = linker.inference.predict(
                threshold_match_probability=matching.review_threshold
            )
            clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                predictions, threshold_match_probability=matching.auto_link_threshold
            )
            bare_pairs = predictions.as_duckdbpyrelation().count("*").fetchone()[0]
            clusters.as_duckdbpyrelation().count("*").fetchone()
        bare_seconds = time.perf_counter() - started
    record("bare_splink_predict_cluster", bare_seconds, memory.peak)

    with memory.measure():
        started = time.perf_counter()
        with splink_linker(records, model, matching.max_records_per_block_key) as (linker, _):
            counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(
                record_sample_proportion=1.0
            )
        record("blocking", time.perf_counter() - started, memory.peak)
    candidate_pairs = sum(int(entry["marginal_comparison_count"]) for entry in counts)

    runs = {}
    for label in ("first_run", "rerun"):
        with memory.measure(), warehouse_connect(warehouse) as con:
            started = time.perf_counter()
            result = resolve_customers(
                con,
                model_path=model_path,
                review_threshold=matching.review_threshold,
                auto_link_threshold=matching.auto_link_threshold,
                max_records_per_block_key=matching.max_records_per_block_key,
                review_name_conflicts=matching.review_name_conflicts,
                run_id=label,
                recorded_at=datetime.now(UTC),
            )
            seconds = time.perf_counter() - started
        runs[label] = {
            "seconds": round(seconds, 2),
            "peak_rss_gb": round(memory.peak / 2**30, 2),
            "stage_seconds": result.stage_seconds,
            "golden_customers": result.golden_customers,
            "largest_cluster": result.largest_cluster,
            "pairs_scored": result.pairs_scored,
            "review_queue_open": result.queue.open_total,
            **result.ledger.metadata(),
        }
        if label == "first_run":
            # The resolver's stages run in one call: their seconds are its own, their memory
            # is the call's peak (runs.first_run.peak_rss_gb), not reported per stage.
            for stage, stage_seconds in result.stage_seconds.items():
                stages[stage] = {"seconds": stage_seconds}

    with memory.measure():
        started = time.perf_counter()
        _dbt_golden(warehouse, config)
        record("survivorship", time.perf_counter() - started, memory.peak)

    resolution_seconds = runs["first_run"]["seconds"] + stages["survivorship"]["seconds"]
    peak = max(
        [entry["peak_rss_gb"] for entry in stages.values() if "peak_rss_gb" in entry]
        + [run["peak_rss_gb"] for run in runs.values()]
    )
    ratio = resolution_seconds / bare_seconds
    return {
        "records": records.num_rows,
        "candidate_pairs": candidate_pairs,
        "bare_splink_pairs": bare_pairs,
        "stages": stages,
        "runs": runs,
        "resolution_seconds": round(resolution_seconds, 2),
        "bare_splink_seconds": round(bare_seconds, 2),
        "ratio_to_bare_splink": round(ratio, 2),
        "ratio_target": TIME_RATIO_TARGET,
        "ratio_target_met": ratio <= TIME_RATIO_TARGET,
        "peak_rss_gb": peak,
        "memory_target_gb": MEMORY_TARGET_GB,
        "memory_target_met": peak <= MEMORY_TARGET_GB,
        "cpu_count": os.cpu_count(),
    }


def _dbt_golden(warehouse: Path, config) -> None:
    from dagster_project import settings
    from dagster_project.lib.transform.dbt_project import (
        dbt_environment,
        dbt_executable,
        dbt_project_for,
    )
    from dagster_project.lib.transform.dbt_vars import dbt_vars_arg

    project_dir = dbt_project_for(config, warehouse, settings.dbt_project_dir())
    with tempfile.TemporaryDirectory() as target:
        completed = subprocess.run(
            [
                dbt_executable(), "run",
                "--select", "customer_source_xref+ int_steward_corrections__latest",
                "--profiles-dir", str(project_dir), "--project-dir", str(project_dir),
                "--target-path", target, "--log-path", target, *dbt_vars_arg(config),
            ],
            cwd=project_dir, env={**os.environ, **dbt_environment(warehouse)},
            check=False, capture_output=True, text=True,
        )  # fmt: skip
    if completed.returncode:
        raise RuntimeError("dbt failed:\n" + completed.stdout[-3000:])


if __name__ == "__main__":
    main()
