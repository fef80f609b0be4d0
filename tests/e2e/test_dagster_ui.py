"""The Dagster UI path, for real: `dagster dev` serves the project and a backfill launched through
its GraphQL API (the call the UI's *Materialize* dialog makes) loads two days of demo drops.

Everything runs against temp files: a small demo in tmp_path, a temp governance.yaml pointing at
it, a temp warehouse and a temp DAGSTER_HOME holding the repository's dagster.yaml (the
`warehouse` pool limited to one step, so the two partitions' runs queue instead of colliding
on DuckDB's single-writer lock). The server runs in its own process group and the whole group is
killed at teardown, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from dagster_project.settings import PROJECT_ROOT
from tests.e2e.support import demo_environment
from tests.support.database import open_database

# A hard ceiling above the sum of the bounded waits below; fixture teardown still kills the server.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

START = date(2026, 11, 1)
# Two partitions are enough for their runs to queue on the pool; a third added ~2 minutes.
DAYS = 2
PARTITIONS = [(START + timedelta(days=offset)).isoformat() for offset in range(DAYS)]
SOURCES = ["crm", "erp_billing", "web_signup", "call_center"]
ASSET_PATHS = [["raw", f"{source}__customers"] for source in SOURCES]
LOCATION = "custodian"
HOST = "127.0.0.1"

# Measured on a busy 2-core machine: `dagster dev` serves the location after ~40 s; the backfill
# daemon ticks every 30 s; the default multiprocess executor starts one Python process per step,
# each importing the project (~7 s of imports alone, 12-25 s under load), and the pool runs the
# 8 steps (4 assets x 2 partitions) one at a time, so the backfill takes ~4 minutes there.
LOAD_TIMEOUT_S = 180
BACKFILL_TIMEOUT_S = 600
STOP_GRACE_S = 20

TERMINAL_BACKFILL_STATUSES = {
    "COMPLETED",
    "COMPLETED_SUCCESS",
    "COMPLETED_FAILED",
    "FAILED",
    "CANCELED",
}

WORKSPACE_QUERY = """
query CustodianWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message stack }
  }
}
"""

LAUNCH_BACKFILL_MUTATION = """
mutation CustodianLaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message stack }
  }
}
"""

BACKFILL_QUERY = """
query CustodianBackfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id
      status
      isAssetBackfill
      numPartitions
      partitionNames
      error { message stack }
      runs { runId status }
    }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message stack }
  }
}
"""

RUN_FAILURES_QUERY = """
query CustodianRunFailures($runId: ID!) {
  logsForRun(runId: $runId, limit: 2000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ErrorEvent { error { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

PARTITION_STATS_QUERY = """
query CustodianPartitionStats($assetKeys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $assetKeys) {
    assetKey { path }
    partitionStats { numMaterialized numPartitions numFailed numMaterializing }
  }
}
"""


def _free_port() -> int:
    # The port is free when we look; dagster dev binds it a moment later. A collision in between
    # shows as a server that never answers, with the bind error in the log tail.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class DagsterDev:
    """One `dagster dev` process group and how to reach and stop it."""

    process: subprocess.Popen
    port: int
    log_path: Path
    _log_file: Any = field(repr=False)

    @property
    def graphql_url(self) -> str:
        return f"http://{HOST}:{self.port}/graphql"

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            return f"(no server log: {error})"
        return f"--- dagster dev log tail ({self.log_path}) ---\n{text[-chars:]}"

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            self.graphql_url, json={"query": query, "variables": variables or {}}, timeout=60
        )
        assert response.status_code == 200, (
            f"GraphQL HTTP {response.status_code}: {response.text[:2000]}\n{self.log_tail()}"
        )
        body = response.json()
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}\n{self.log_tail()}"
        return body["data"]

    def stop(self) -> None:
        """SIGTERM to the group (webserver, daemon, code server, run workers), then SIGKILL."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE_S)
        # The leader may exit before its children (run workers, gRPC server): kill what is left.
        _signal_group(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=STOP_GRACE_S)
        if not self._log_file.closed:
            self._log_file.close()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


@pytest.fixture
def demo(tmp_path: Path) -> dict[str, str]:
    """Demo drops, a governance.yaml pointing at them and the env naming the temp warehouse."""
    _, env = demo_environment(tmp_path, customers=300, days=DAYS, start=START, seed=3)
    return env


def _default_interrupt_handling() -> None:
    # A process started in the background by a non-interactive shell (`pytest &` in a CI script)
    # inherits SIGINT ignored; Python then keeps it ignored and `dagster dev` maps SIGTERM onto
    # the same disposition, so it would ignore our SIGTERM and only die by SIGKILL, without
    # shutting its webserver and daemon down cleanly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def dagster_dev(tmp_path: Path, demo: dict[str, str]) -> Iterator[DagsterDev]:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    port = _free_port()
    log_path = tmp_path / "dagster_dev.log"
    log_file = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml",
         "-h", HOST, "-p", str(port)],
        cwd=PROJECT_ROOT,
        env={**demo, "DAGSTER_HOME": str(dagster_home)},
        stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_default_interrupt_handling,
    )  # fmt: skip
    server = DagsterDev(process=process, port=port, log_path=log_path, _log_file=log_file)
    try:
        yield server
    finally:
        server.stop()


def _wait_for_location(server: DagsterDev) -> None:
    """Until the webserver answers and the `custodian` location has loaded, or fail loudly."""
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    last_seen = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"dagster dev exited with code {server.process.returncode} before the code "
                f"location loaded\n{server.log_tail()}"
            )
        try:
            response = requests.post(
                server.graphql_url, json={"query": WORKSPACE_QUERY}, timeout=10
            )
        except requests.RequestException:
            time.sleep(1)
            continue
        if response.status_code != 200:
            last_seen = f"HTTP {response.status_code}"
            time.sleep(1)
            continue
        workspace = response.json()["data"]["workspaceOrError"]
        assert workspace["__typename"] == "Workspace", f"{workspace}\n{server.log_tail()}"
        entries = {entry["name"]: entry for entry in workspace["locationEntries"]}
        entry = entries.get(LOCATION)
        last_seen = str(entry or f"locations: {sorted(entries)}")
        if entry and entry["loadStatus"] == "LOADED":
            location = entry["locationOrLoadError"] or {}
            assert location.get("__typename") == "RepositoryLocation", (
                f"code location {LOCATION!r} failed to load:\n"
                f"{location.get('message')}\n{location.get('stack')}\n{server.log_tail()}"
            )
            assert location["repositories"], f"{LOCATION!r} has no repository: {location}"
            return
        time.sleep(2)
    pytest.fail(
        f"code location {LOCATION!r} not loaded after {LOAD_TIMEOUT_S}s (last seen: {last_seen})"
        f"\n{server.log_tail()}"
    )


def _launch_backfill(server: DagsterDev) -> str:
    params = {
        "partitionNames": PARTITIONS,
        "assetSelection": [{"path": path} for path in ASSET_PATHS],
        "fromFailure": False,
        "title": "e2e: ingestion backfill through the UI's API",
    }
    result = server.query(LAUNCH_BACKFILL_MUTATION, {"backfillParams": params})
    launched = result["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", f"{launched}\n{server.log_tail()}"
    return launched["backfillId"]


def _run_failures(server: DagsterDev, run_ids: list[str]) -> str:
    """The failure events of the given runs, one line each, for an assertion message."""
    failure_types = {"ExecutionStepFailureEvent", "RunFailureEvent", "EngineEvent"}
    lines = []
    for run_id in run_ids:
        logs = server.query(RUN_FAILURES_QUERY, {"runId": run_id})["logsForRun"]
        for event in logs.get("events", []):
            error = (event.get("error") or {}).get("message")
            if event["__typename"] in failure_types and (
                error or "fail" in (event.get("message") or "")
            ):
                lines.append(
                    f"{run_id} {event.get('stepKey')}: {event.get('message')} {error or ''}"
                )
    return "\n".join(lines[-40:])


def _wait_for_backfill(server: DagsterDev, backfill_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    backfill: dict[str, Any] = {}
    while time.monotonic() < deadline:
        backfill = server.query(BACKFILL_QUERY, {"backfillId": backfill_id})[
            "partitionBackfillOrError"
        ]
        assert backfill["__typename"] == "PartitionBackfill", f"{backfill}\n{server.log_tail()}"
        if backfill["status"] in TERMINAL_BACKFILL_STATUSES:
            return backfill
        time.sleep(3)
    runs = [run["runId"] for run in backfill.get("runs") or []]
    pytest.fail(
        f"backfill {backfill_id} not finished after {BACKFILL_TIMEOUT_S}s: {backfill}\n"
        f"{_run_failures(server, runs)}\n{server.log_tail()}"
    )


def test_backfill_through_the_dagster_ui_api_loads_every_partition(
    tmp_path: Path, demo: dict[str, str], dagster_dev: DagsterDev
) -> None:
    _wait_for_location(dagster_dev)
    backfill_id = _launch_backfill(dagster_dev)
    backfill = _wait_for_backfill(dagster_dev, backfill_id)

    runs = backfill["runs"]
    failed = [run["runId"] for run in runs if run["status"] != "SUCCESS"]
    succeeded = backfill["status"] in {"COMPLETED_SUCCESS", "COMPLETED"} and runs and not failed
    assert succeeded, (
        f"backfill {backfill_id} ended {backfill['status']}: runs {runs}, error "
        f"{backfill['error']}\n{_run_failures(dagster_dev, failed)}\n{dagster_dev.log_tail()}"
    )
    assert backfill["isAssetBackfill"]
    assert sorted(backfill["partitionNames"]) == PARTITIONS

    stats = dagster_dev.query(
        PARTITION_STATS_QUERY, {"assetKeys": [{"path": path} for path in ASSET_PATHS]}
    )["assetNodes"]
    materialized = {
        "/".join(node["assetKey"]["path"]): node["partitionStats"]["numMaterialized"]
        for node in stats
    }
    assert materialized == {"/".join(path): DAYS for path in ASSET_PATHS}, stats

    # Every run has finished; stop the server so nothing holds the warehouse file.
    dagster_dev.stop()
    warehouse = demo["CUSTODIAN_WAREHOUSE"]
    with open_database(warehouse, read_only=True) as con:
        for source in SOURCES:
            rows_by_date = dict(
                con.execute(
                    f"select _partition_date::varchar, count(*) from raw.{source}__customers "
                    "group by all"
                ).fetchall()
            )
            assert all(rows_by_date.get(day, 0) > 0 for day in PARTITIONS), (
                f"raw.{source}__customers rows by partition: {rows_by_date}"
            )
        loaded = set(
            con.execute(
                "select source_name, partition_date::varchar from ops.load_log "
                "where status = 'loaded'"
            ).fetchall()
        )
    expected = {(source, day) for source in SOURCES for day in PARTITIONS}
    assert expected <= loaded, f"missing from ops.load_log: {sorted(expected - loaded)}"
