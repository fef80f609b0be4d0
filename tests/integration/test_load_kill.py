"""A load killed mid-way (SIGKILL: no cleanup, no rollback handler) leaves no half partition.

The child process loads a 300,000-row CSV into a DuckDB file and is killed while the load is
running; a fresh process then re-runs the same load into that file. The result must equal an
uninterrupted load into another file: same rows (checksum over every column except the
per-run `_loaded_at` and `_run_id`), same load-log counts, one partition's worth of rows.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster_project.config import SourceConfig
from tests.support.database import open_database

ROWS = 300_000
DAY = "2026-11-01"
SOURCE = {
    "name": "crm",
    "system": "crm",
    "path": "crm/{date:%Y-%m-%d}.csv",
    "format": "csv",
    "start_date": DAY,
    "trust_rank": 1,
    "mapping": {"source_record_id": "customer_id", "full_name": "name"},
}

# The child announces each phase on stdout; "loading" is printed just before load_partition.
CHILD = """
import json, sys, time
from datetime import date
from pathlib import Path
from dagster_project.config import SourceConfig
from dagster_project.lib.ingest.loader import load_partition
from dagster_project.lib.warehouse import connect

database, landing, run_id, source, day = sys.argv[1:6]
con = connect(database, timeout=30)
print("loading", flush=True)
began = time.perf_counter()
result = load_partition(con, SourceConfig(**json.loads(source)), Path(landing),
                        date.fromisoformat(day), run_id)
con.close()
print("done", result.rows_loaded, time.perf_counter() - began, flush=True)
"""


def _write_csv(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "name", "city", "note"])
        for number in range(ROWS):
            note = f"line one\nline two {number}" if number % 1000 == 0 else f"n{number}"
            writer.writerow([f"C{number:07d}", f"名字{number}", "Beijing, CN", note])
        writer.writerow(["BAD", "row", "with", "too", "many"])


def _start(database: Path, landing: Path, run_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(database), str(landing), run_id, json.dumps(SOURCE), DAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(child: subprocess.Popen[str]) -> float:
    """Wait for a child's load; returns how long load_partition itself took."""
    out, err = child.communicate(timeout=50)
    assert child.returncode == 0, err
    done, rows, seconds = out.splitlines()[-1].split()
    assert (done, int(rows)) == ("done", ROWS)
    return float(seconds)


def _state(database: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    con = open_database(database, read_only=True)
    try:
        columns = [
            row[0]
            for row in con.execute("describe raw.crm__customers").fetchall()
            if row[0] not in ("_loaded_at", "_run_id")
        ]
        checksum = con.execute(
            "select count(*), sum(hash(" + ", ".join(columns) + ")) from raw.crm__customers"
        ).fetchall()
        log = con.execute(
            "select status, rows_read, rows_loaded, rows_quarantined, rows_skipped, file_sha256 "
            "from ops.load_log where status <> 'killed' order by finished_at desc limit 1"
        ).fetchall()
        quarantine = con.execute(
            "select line_number, raw_text, reason from quarantine.rejected_rows order by 1"
        ).fetchall()
    finally:
        con.close()
    return checksum, log, quarantine


def test_a_load_killed_midway_leaves_nothing_half_written_and_reruns_identically(
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    SourceConfig(**SOURCE)  # the config the children use is valid
    landing = tmp_path / "landing"
    _write_csv(landing / "crm" / f"{DAY}.csv")

    # The reference: one uninterrupted load.
    reference_db = tmp_path / "reference.duckdb"
    reference = _start(reference_db, landing, "reference")
    load_seconds = _finish(reference)

    # The victim: killed 40% into the time load_partition took for the reference, so the kill
    # lands inside the load (scan, parse or the write transaction), whatever the machine's speed.
    victim_db = tmp_path / "victim.duckdb"
    victim = _start(victim_db, landing, "victim")
    assert victim.stdout is not None
    assert victim.stdout.readline().strip() == "loading"
    time.sleep(min(load_seconds * 0.4, 5.0))
    assert victim.poll() is None, "the load finished before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    assert "done" not in victim.stdout.read(), "the child was killed before it finished"

    # Whatever the kill left behind, it is not a partition: no rows, no load-log row.
    if victim_db.exists():
        con = open_database(victim_db)
        try:
            tables = {
                row[0]
                for row in con.execute(
                    "select table_schema || '.' || table_name from information_schema.tables"
                ).fetchall()
            }
            if "raw.crm__customers" in tables:
                assert con.execute("select count(*) from raw.crm__customers").fetchone() == (0,)
            if "ops.load_log" in tables:
                assert con.execute("select count(*) from ops.load_log").fetchone() == (0,)
        finally:
            con.close()

    # A fresh process re-runs the load into the same file and gets the reference's result.
    _finish(_start(victim_db, landing, "rerun"))
    reference_state = _state(reference_db)
    rerun_state = _state(victim_db)
    assert rerun_state == reference_state
    (count, _), (log,) = reference_state[0][0], reference_state[1]
    assert count == ROWS
    assert log[:5] == ("loaded", ROWS + 1, ROWS, 1, 0)
    assert [row[0] for row in reference_state[2]] == [ROWS + ROWS // 1000 + 2]
    assert time.monotonic() - began < 60
