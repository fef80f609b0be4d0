"""Benchmark: generate about 1,000,000 source records and record time, throughput and memory.

Run with `uv run python bench/bench_demo_data.py [--customers N] [--days D]`. Results go to
`bench/results/demo_data.json`; the generated files go to a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from dagster_project.lib.demo import generate_demo_data

# About 2.2 distinct source records per person (presence 0.70/0.50/0.45/0.40 plus duplicates).
DEFAULT_CUSTOMERS = 460_000
RESULTS = Path(__file__).parent / "results" / "demo_data.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    out_dir = Path(tempfile.mkdtemp(prefix="custodian_bench_"))
    steps: dict[str, float] = {}
    began = time.perf_counter()

    def progress(step: str, done: int, total: int) -> None:
        if done == total:
            steps[step] = round(time.perf_counter() - began, 2)

    try:
        summary = generate_demo_data(
            out_dir, customers=args.customers, days=args.days, seed=args.seed, progress=progress
        )
        wall = time.perf_counter() - began
        size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mib = usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
    result = {
        "customers": args.customers,
        "days": args.days,
        "seed": args.seed,
        "records": summary.total_records,
        "records_per_source": summary.records_per_source,
        "rows_written": summary.total_rows,
        "wall_seconds": round(wall, 2),
        "records_per_second": round(summary.total_records / wall),
        # CPU time next to wall time: the machine may be shared, which only stretches the wall.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(peak_mib),
        "output_mib": round(size / 2**20, 1),
        "steps_cumulative_seconds": steps,
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
