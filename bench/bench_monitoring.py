"""Benchmark: how well the shipped monitoring rules find the demo's injected events, and what
monitoring costs in the daily run.

Run with `uv run python bench/bench_monitoring.py [--customers N] [--days D]`. It generates demo
data (every event type needs at least 5 days: the mobile event changes a number on 4 days after
day one), runs `custodian run` over every day with the shipped governance.yaml, then reports per
injected event type the labelled people, the people the rule found and recall / precision
(lib/monitoring/detection.py; targets: recall >= 0.95, precision >= 0.90), beside a baseline on
the same data: the same kind of rule at its loosest (any change of the field; any invalid value;
a contact on two customers; a last interaction more than a day old; the consistency rules have
no looser form). It also times a re-run of the last day's monitoring against the whole run.
Results go to `bench/results/monitoring.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from dagster_project.config import load_config
from dagster_project.lib.monitoring.detection import RULE_FOR_EVENT, detection_quality
from dagster_project.lib.monitoring.events import monitor_day
from dagster_project.lib.warehouse import connect
from dagster_project.settings import PROJECT_ROOT

RESULTS = Path(__file__).parent / "results" / "monitoring.json"
START = date(2026, 11, 1)
RECALL_TARGET, PRECISION_TARGET = 0.95, 0.90

# The loosest rule of each event's kind: what a rule without thresholds or triggers would find.
BASELINE_RULES = [
    {"name": "address_changed_often", "field": "address_line", "kind": "change_count",
     "threshold": 1, "count_per": "customer", "points": 1},
    {"name": "mobile_changed_often", "field": "mobile_phone", "kind": "change_count",
     "threshold": 1, "count_per": "customer", "points": 1},
    {"name": "email_became_undeliverable", "field": "email", "kind": "invalid_value",
     "points": 1},
    {"name": "contact_shared_by_strangers", "field": "mobile_phone", "kind": "shared_contact",
     "threshold": 2, "points": 1},
    {"name": "address_far_from_id_region", "field": "province", "kind": "consistency",
     "points": 1},
    {"name": "billing_address_changed_often", "field": "billing_address_line",
     "kind": "change_count", "threshold": 1, "count_per": "customer", "points": 1},
    {"name": "name_changed_often", "field": "full_name", "kind": "change_count",
     "threshold": 1, "count_per": "customer", "points": 1},
    {"name": "tags_or_level_changed_often", "field": ["customer_tags", "membership_level"],
     "kind": "change_count", "threshold": 1, "count_per": "customer", "points": 1},
    {"name": "email_shared_by_strangers", "field": "email", "kind": "shared_contact",
     "threshold": 2, "points": 1},
    {"name": "birth_date_disagrees_with_id", "field": "date_of_birth", "kind": "consistency",
     "points": 1},
    {"name": "no_interaction_for_a_year", "field": "last_interaction_at", "kind": "stale",
     "window_days": 1, "points": 1},
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=6000)
    parser.add_argument("--days", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custodian_bench_monitoring_"))
    try:
        result = run(work, args.customers, args.days)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def _config(work: Path, landing: Path, rules: list[dict] | None = None) -> Path:
    document = yaml.safe_load((PROJECT_ROOT / "governance.yaml").read_text(encoding="utf-8"))
    document["landing_root"] = str(landing)
    if rules is not None:
        document["monitoring"]["rules"] = rules
    path = work / ("governance.yaml" if rules is None else "baseline.yaml")
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def run(work: Path, customers: int, days: int) -> dict:
    landing = work / "landing"
    warehouse = work / "warehouse" / "custodian.duckdb"
    env = {
        **os.environ,
        "CUSTODIAN_WAREHOUSE": str(warehouse),
        "DAGSTER_HOME": str(work / "dagster"),
        "CUSTODIAN_MASKING_SALT": os.environ.get("CUSTODIAN_MASKING_SALT", "bench-only-key"),
    }
    (work / "dagster").mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", work / "dagster" / "dagster.yaml")
    custodian = [str(Path(sys.executable).parent / "custodian")]
    subprocess.run(
        [*custodian, "demo-data", "--out", str(landing), "--customers", str(customers),
         "--days", str(days), "--start", START.isoformat(), "--seed", "11"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    config_path = _config(work, landing)
    last = START + timedelta(days=days - 1)
    started = time.perf_counter()
    completed = subprocess.run(
        [*custodian, "run", "--config", str(config_path), "--through", last.isoformat()],
        env=env, check=False, capture_output=True, text=True,
    )  # fmt: skip
    run_seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(completed.stdout[-4000:] + completed.stderr[-4000:])
    truth = landing / "_truth"
    with connect(warehouse) as con:
        shipped = [d.as_dict() for d in detection_quality(con, truth)]
        # A re-run of the latest day gives the same tables: its time is monitoring's cost.
        config = load_config(config_path)
        began = time.perf_counter()
        monitor_day(con, config, last, run_id="bench", recorded_at=datetime.now(UTC))
        monitoring_seconds = time.perf_counter() - began
        golden = con.execute("select count(*) from main.golden_customers").fetchone()[0]
        records = con.execute("select count(*) from intermediate.int_customer_records").fetchone()[
            0
        ]
        open_events = con.execute(
            "select count(*) from monitoring.risk_events where status = 'open'"
        ).fetchone()[0]
        # The baseline: the loosest rules, every day again on a copy of the warehouse's state.
        con.execute("drop schema monitoring cascade")
        baseline_config = load_config(_config(work, landing, BASELINE_RULES))
        for offset in range(days):
            monitor_day(
                con, baseline_config, START + timedelta(days=offset), run_id="baseline",
                recorded_at=datetime.now(UTC),
            )  # fmt: skip
        baseline = {d.event_type: d.as_dict() for d in detection_quality(con, truth)}
    per_type = [
        {
            **entry,
            "meets_targets": (entry["recall"] or 0) >= RECALL_TARGET
            and (entry["precision"] or 0) >= PRECISION_TARGET,
            "baseline": {
                key: baseline[entry["event_type"]][key]
                for key in ("detected", "found", "recall", "precision")
            },
        }
        for entry in shipped
    ]
    return {
        "customers": customers,
        "days": days,
        "source_records": records,
        "golden_customers": golden,
        "open_events_last_day": open_events,
        "detection": per_type,
        "all_types_meet_targets": all(entry["meets_targets"] for entry in per_type),
        "targets": {"recall": RECALL_TARGET, "precision": PRECISION_TARGET},
        "rules_for_events": RULE_FOR_EVENT,
        "run_seconds_all_days": round(run_seconds, 1),
        "monitoring_seconds_last_day": round(monitoring_seconds, 2),
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
