"""Benchmark: what encryption at rest costs the daily pipeline (R26; target: at most 15%).

Run with `uv run python bench/bench_encryption.py [--customers N] [--rounds R]`. Each round runs
the `daily_customer_pipeline` job for two demo days (a cold day and the ordinary day after it,
as bench_pipeline.py does) on a fresh warehouse twice: once with every database file written
without encryption (`CUSTODIAN_ENCRYPTION=off`, which exists for this measurement only) and
once encrypted, in that order in odd rounds and the other order in even ones, each in its own
process. The overhead compares the fastest run of each mode (noise on a shared machine only
ever adds time). Each run also searches the warehouse file's bytes for 200 e-mail addresses of
its own golden table: found in the plain file (the search can see them), none in the encrypted
one. Results go to `bench/results/encryption.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "encryption.json"
TARGET_OVERHEAD = 0.15
MODES = ("plaintext", "encrypted")
SAMPLE_EMAILS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.out).write_text(json.dumps(_child(args.child, args.customers)), "utf-8")
        return
    runs: list[dict] = []
    for round_number in range(args.rounds):
        order = MODES if round_number % 2 == 0 else MODES[::-1]
        for mode in order:
            print(f"round {round_number + 1}: {mode}", flush=True)
            runs.append(_run_child(mode, args.customers))
    result = _summarise(runs, args.customers)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


def _run_child(mode: str, customers: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        subprocess.run(
            [sys.executable, __file__, "--child", mode, "--customers", str(customers),
             "--out", str(out)],
            check=True,
        )  # fmt: skip
        return json.loads(out.read_text("utf-8"))
    finally:
        out.unlink(missing_ok=True)


def _child(mode: str, customers: int) -> dict:
    if mode == "plaintext":
        os.environ["CUSTODIAN_ENCRYPTION"] = "off"
    else:
        os.environ.pop("CUSTODIAN_ENCRYPTION", None)
        os.environ.setdefault("CUSTODIAN_ENCRYPTION_KEY", "bench-key-not-a-secret")
    from bench_pipeline import run

    from dagster_project.lib.warehouse import connect

    work = Path(tempfile.mkdtemp(prefix=f"custodian_bench_encryption_{mode}_"))
    try:
        day = run(work, customers)
        warehouse = work / "warehouse" / "custodian.duckdb"
        with connect(warehouse, read_only=True) as con:
            emails = [
                email
                for (email,) in con.execute(
                    "select email from main.golden_customers where email is not null "
                    "order by golden_customer_id limit ?",
                    [SAMPLE_EMAILS],
                ).fetchall()
            ]
        content = warehouse.read_bytes()
        found = sum(1 for email in emails if email.encode("utf-8") in content)
        return {
            "mode": mode,
            "succeeded": day["run_succeeded"] and day["ordinary_day"]["run_succeeded"],
            "cold_day_seconds": day["wall_seconds"],
            "ordinary_day_seconds": day["ordinary_day"]["wall_seconds"],
            "warehouse_bytes": warehouse.stat().st_size,
            "emails_searched": len(emails),
            "emails_found_in_file_bytes": found,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _summarise(runs: list[dict], customers: int) -> dict:
    best = {
        mode: {
            key: min(r[key] for r in runs if r["mode"] == mode)
            for key in ("cold_day_seconds", "ordinary_day_seconds")
        }
        for mode in MODES
    }
    for mode in MODES:
        best[mode]["two_days_seconds"] = round(
            min(
                r["cold_day_seconds"] + r["ordinary_day_seconds"] for r in runs if r["mode"] == mode
            ),
            2,
        )
    overhead = {
        key: round(best["encrypted"][key] / best["plaintext"][key] - 1, 3)
        for key in ("cold_day_seconds", "ordinary_day_seconds", "two_days_seconds")
    }
    return {
        "customers": customers,
        "rounds": len(runs) // len(MODES),
        "all_runs_succeeded": all(r["succeeded"] for r in runs),
        "best_seconds": best,
        "encryption_overhead": overhead,
        "target_overhead": TARGET_OVERHEAD,
        "within_target": overhead["two_days_seconds"] <= TARGET_OVERHEAD,
        "emails_found_in_plain_file": max(
            r["emails_found_in_file_bytes"] for r in runs if r["mode"] == "plaintext"
        ),
        "emails_found_in_encrypted_file": max(
            r["emails_found_in_file_bytes"] for r in runs if r["mode"] == "encrypted"
        ),
        "cpu_count": os.cpu_count(),
        "runs": runs,
    }


if __name__ == "__main__":
    main()
