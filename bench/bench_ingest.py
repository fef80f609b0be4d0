"""Benchmark: ingesting a 1,000,000-row CRM-shaped CSV, against DuckDB's bare CSV read.

Run with `uv run python bench/bench_ingest.py [--rows N] [--repeats R]`. It writes one CSV with
the CRM export's 19 columns (UTF-8 with BOM, Chinese names and addresses, quoted fields with
commas), then, alternating, R times each:

(a) bare: `create table t as select * from read_csv(path, all_varchar=true)` into a fresh
    DuckDB file: what reading the file into text columns costs with nothing else;
(b) loader: `load_partition` of the same file into another fresh file: the record scan and
    SHA-256, lineage columns, quarantine, load log and the transaction.

The target is (b) at no less than half the rate of (a). Results (best of R, and every run) go to
`bench/results/ingest.json`; the generated files go to a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from dagster_project.config import SourceConfig
from dagster_project.lib.demo.sources import CRM_COLUMNS
from dagster_project.lib.ingest.loader import load_partition
from dagster_project.lib.warehouse import connect
from dagster_project.lib.warehouse import connect as warehouse_connect

RESULTS = Path(__file__).parent / "results" / "ingest.json"
DAY = date(2026, 11, 1)
FAMILY = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "欧阳", "司马"]
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰"]
CITIES = [
    ("北京市", "海淀区", "北京市", "100080"),
    ("上海市", "浦东新区", "上海市", "200120"),
    ("广州市", "天河区", "广东省", "510630"),
    ("深圳市", "南山区", "广东省", "518052"),
    ("杭州市", "西湖区", "浙江省", "310012"),
]
TAGS = ["VIP", "new", "churn_risk", "VIP;new", ""]


def write_crm_csv(path: Path, rows: int, seed: int) -> int:
    """A CRM-shaped export: the demo's column names, plausible values, some quoted fields."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(CRM_COLUMNS)
        for number in range(rows):
            city, district, province, postcode = rng.choice(CITIES)
            writer.writerow(
                [
                    f"C{number:08d}",
                    rng.choice(FAMILY),
                    rng.choice(GIVEN) + rng.choice(GIVEN),
                    rng.choice("MF"),
                    f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    f"{rng.randint(110000, 659000)}{rng.randint(10**11, 10**12 - 1)}",
                    f"1{rng.randint(3, 9)}{rng.randint(10**8, 10**9 - 1)}",
                    f"010-{rng.randint(10**7, 10**8 - 1)}" if rng.random() < 0.3 else "",
                    f"user{number}@example.com",
                    f"{district}某某路{rng.randint(1, 999)}号, {rng.randint(1, 30)}栋"
                    f"{rng.randint(101, 2505)}室",
                    district,
                    city,
                    province,
                    postcode,
                    "CN",
                    rng.choice(TAGS),
                    rng.choice(["gold", "silver", "bronze", ""]),
                    rng.choice(["Y", "N"]),
                    f"2026-10-{rng.randint(1, 31):02d} {rng.randint(0, 23):02d}:"
                    f"{rng.randint(0, 59):02d}:00",
                ]
            )
    return rows


def bare_read(csv_path: Path, database: Path) -> float:
    began = time.perf_counter()
    con = warehouse_connect(database)
    con.execute(f"create table t as select * from read_csv('{csv_path}', all_varchar=true)")
    con.close()
    return time.perf_counter() - began


def loader(landing: Path, source: SourceConfig, database: Path) -> tuple[float, dict]:
    began = time.perf_counter()
    con = connect(database, timeout=5)
    result = load_partition(con, source, landing, DAY, "bench")
    con.close()
    wall = time.perf_counter() - began
    return wall, {
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "status": result.status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="custodian_bench_ingest_"))
    try:
        source = SourceConfig(
            name="crm",
            system="crm",
            path="crm/{date:%Y-%m-%d}/crm_customers_{date:%Y%m%d}.csv",
            format="csv",
            start_date=DAY,
            trust_rank=1,
            mapping={"source_record_id": "customer_no", "full_name": "given_name"},
        )
        csv_path = work / "landing" / source.path_for(DAY)
        csv_path.parent.mkdir(parents=True)
        began = time.perf_counter()
        write_crm_csv(csv_path, args.rows, args.seed)
        generate_s = time.perf_counter() - began

        bare_runs: list[float] = []
        loader_runs: list[float] = []
        counts: dict = {}
        for attempt in range(args.repeats):
            bare_runs.append(bare_read(csv_path, work / f"bare_{attempt}.duckdb"))
            wall, counts = loader(work / "landing", source, work / f"loader_{attempt}.duckdb")
            loader_runs.append(wall)
            for stale in work.glob("*.duckdb*"):
                stale.unlink()
        if counts["rows_loaded"] != args.rows:
            raise SystemExit(f"loader loaded {counts} of {args.rows} rows")

        bare_rate = args.rows / min(bare_runs)
        loader_rate = args.rows / min(loader_runs)
        result = {
            "rows": args.rows,
            "columns": len(CRM_COLUMNS),
            "file_mib": round(csv_path.stat().st_size / 2**20, 1),
            "generate_seconds": round(generate_s, 2),
            "bare_read_csv_seconds": [round(s, 3) for s in bare_runs],
            "load_partition_seconds": [round(s, 3) for s in loader_runs],
            "bare_rows_per_second": round(bare_rate),
            "load_partition_rows_per_second": round(loader_rate),
            "ratio_loader_to_bare": round(loader_rate / bare_rate, 3),
            "target_ratio": 0.5,
            "meets_target": loader_rate / bare_rate >= 0.5,
            "load_counts": counts,
            "duckdb": duckdb.__version__,
            "cpu_count": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
