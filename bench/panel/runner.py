"""The user's path: `custodian run`, `custodian train`, `custodian run` again, as subprocesses with
the data set's own warehouse and Dagster instance, and what they left in the warehouse."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from dagster_project.lib.warehouse import connect as warehouse_connect
from dagster_project.lib.warehouse import table_exists

TAIL_CHARS = 1500
# A step that runs longer than this is stopped and reported as failed; the panel goes on.
STEP_TIMEOUT_SECONDS = 3600


def environment(work: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # The data set's config is passed with --config; an inherited one must not leak in.
        if key not in ("CUSTODIAN_CONFIG", "CUSTODIAN_REPORTS")
    }
    env["CUSTODIAN_WAREHOUSE"] = str(warehouse_path(work))
    env["DAGSTER_HOME"] = str(work / "dagster_home")
    # Wide enough that rich does not wrap the summary lines parsed below.
    env["COLUMNS"] = "400"
    return env


def warehouse_path(work: Path) -> Path:
    return work / "warehouse" / "custodian.duckdb"


def custodian(work: Path, *args: str) -> dict[str, Any]:
    """Run one `custodian` command; exit code, wall time and the ends of its output."""
    (work / "dagster_home").mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "custodian"), *args]
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            cwd=work,
            env=environment(work),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_SECONDS,
            check=False,
        )
        exit_code, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    except subprocess.TimeoutExpired as exc:
        exit_code = None
        stdout = _text(exc.stdout)
        stderr = _text(exc.stderr) + f"\n[bench] stopped after {STEP_TIMEOUT_SECONDS} s"
    step: dict[str, Any] = {
        "command": "custodian " + " ".join(args),
        "exit_code": exit_code,
        "ok": exit_code == 0,
        "seconds": round(time.perf_counter() - started, 1),
        "stdout_tail": stdout[-TAIL_CHARS:],
        "stderr_tail": stderr[-TAIL_CHARS:],
    }
    step |= _summary(stdout)
    return step


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


CHECKS = re.compile(r"checks: (\d+) passed, (\d+) warnings?, (\d+) failed")
GOLDEN = re.compile(r"golden customers: ([\d,]+) from ([\d,]+) source records")
PARTITIONS = re.compile(r"partitions run: (\d+)/(\d+) succeeded")


def _summary(stdout: str) -> dict[str, Any]:
    """The figures `custodian run` prints, and the metadata `custodian train` prints."""
    found: dict[str, Any] = {}
    if match := CHECKS.search(stdout):
        found["checks"] = dict(
            zip(("passed", "warnings", "failed"), map(int, match.groups()), strict=True)
        )
    if match := GOLDEN.search(stdout):
        found["golden_customers_printed"] = int(match.group(1).replace(",", ""))
    if match := PARTITIONS.search(stdout):
        found["partitions_succeeded"] = f"{match.group(1)}/{match.group(2)}"
    training = _training_metadata(stdout)
    if training:
        found["training"] = training
    return found


TRAINING_KEYS = (
    "records",
    "em_blocks",
    "skipped_em_blocks",
    "levels_without_evidence",
    "training_seconds",
)


def _training_metadata(stdout: str) -> dict[str, str]:
    """`  key: value` lines (a value may wrap onto following lines)."""
    entries: dict[str, str] = {}
    key = None
    for line in stdout.splitlines():
        if match := re.match(r"^  ([a-z_]+): ?(.*)$", line):
            key = match.group(1)
            entries[key] = match.group(2).strip()
        elif key and line.strip() and not line.startswith(("run log", "training match")):
            entries[key] += " " + line.strip()
    return {k: entries[k] for k in TRAINING_KEYS if k in entries}


def publications(work: Path) -> int:
    """Rows in ops.publish_log: a step published when it grew."""
    path = warehouse_path(work)
    if not path.is_file():
        return 0
    con = warehouse_connect(path, read_only=True)
    try:
        if not table_exists(con, "ops.publish_log"):
            return 0
        return con.execute("select count(*) from ops.publish_log").fetchone()[0]
    finally:
        con.close()


def read_outcome(work: Path, publications_before: int) -> dict[str, Any]:
    """What a step left: the assignment to score and where it came from, and the review queue.

    The published mart (main.customer_source_xref) is what users read, and is scored when this
    step published it. When the step did not publish (a gate failed), the mart still holds an
    earlier run's answer, so the resolver's own table er.record_clusters is scored instead, and
    the result says so: it is this step's resolution if the step got that far.
    """
    path = warehouse_path(work)
    outcome: dict[str, Any] = {"assignment": None, "assignment_source": None}
    if not path.is_file():
        outcome["note"] = "no warehouse file"
        return outcome
    published = publications(work) > publications_before
    outcome["published"] = published
    con = warehouse_connect(path, read_only=True)
    try:
        candidates = [("er", "record_clusters")]
        if published:
            candidates.insert(0, ("main", "customer_source_xref"))
        for schema, table in candidates:
            if table_exists(con, f"{schema}.{table}"):
                outcome["assignment"] = con.execute(
                    f"select record_key, golden_customer_id as cluster_id from {schema}.{table}"
                ).to_arrow_table()
                outcome["assignment_source"] = f"{schema}.{table}"
                break
        if not published:
            outcome["note"] = (
                "not published by this step: er.record_clusters scored (this step's "
                "resolution if it ran, else an earlier one)"
                if outcome["assignment"] is not None
                else "not published and never resolved: nothing to score"
            )
        if table_exists(con, "er.review_queue"):
            outcome["review_pairs"] = con.execute(
                "select record_key_l, record_key_r from er.review_queue where status = 'open'"
            ).fetchall()
            outcome["review_queue_open"] = len(outcome["review_pairs"])
    finally:
        con.close()
    return outcome


def largest_cluster(assignment: pa.Table) -> int:
    sizes: dict[str, int] = {}
    for cluster in assignment.column("cluster_id").to_pylist():
        sizes[cluster] = sizes.get(cluster, 0) + 1
    return max(sizes.values(), default=0)
