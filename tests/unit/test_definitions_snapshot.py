"""A snapshot of the Dagster graph: asset keys, checks, jobs and schedules.

Any change to the graph shows up as a diff of tests/snapshots/definitions.txt. When the change
is intended, regenerate it with
`UPDATE_SNAPSHOTS=1 uv run pytest tests/unit/test_definitions_snapshot.py`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "definitions.txt"


def _describe(definitions) -> str:
    graph = definitions.resolve_asset_graph()
    lines = ["# assets: key | group | partitions"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = type(node.partitions_def).__name__ if node.partitions_def else "-"
        lines.append(f"{key.to_user_string()} | {node.group_name} | {partitions}")
    lines.append("# checks: asset:check | blocking")
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        blocking = graph.get_check_spec(check_key).blocking
        lines.append(f"{check_key.to_user_string()} | {'blocking' if blocking else 'non-blocking'}")
    lines.append("# jobs")
    for job in sorted(definitions.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        lines.append(job.name)
    lines.append("# schedules: name | cron | timezone | job")
    for schedule in sorted(definitions.schedules, key=lambda s: s.name):
        resolved = definitions.resolve_schedule_def(schedule.name)
        lines.append(
            f"{resolved.name} | {resolved.cron_schedule} | {resolved.execution_timezone} | "
            f"{resolved.job_name}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def definitions_and_warnings():
    from dagster_project.definitions import build_definitions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        definitions = build_definitions()
        definitions.resolve_asset_graph()
        definitions.resolve_all_job_defs()
    return definitions, caught


def test_graph_matches_snapshot(definitions_and_warnings) -> None:
    definitions, _ = definitions_and_warnings
    current = _describe(definitions)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert SNAPSHOT.exists(), f"{SNAPSHOT} missing; create it with UPDATE_SNAPSHOTS=1"
    assert current == SNAPSHOT.read_text(encoding="utf-8"), (
        "the Dagster graph changed; if intended, regenerate with UPDATE_SNAPSHOTS=1"
    )


def test_definitions_load_without_warnings(definitions_and_warnings) -> None:
    _, caught = definitions_and_warnings
    # sqlglotrs warns about itself on import; it is dagster-dbt's dependency, not our code.
    ours = [w for w in caught if "sqlglotrs" not in str(w.filename)]
    assert not ours, [f"{w.category.__name__}: {w.message} ({w.filename})" for w in ours]


def test_every_source_has_a_daily_asset_and_the_golden_table_is_gated(
    definitions_and_warnings,
) -> None:
    from dagster_project.config import load_config
    from dagster_project.settings import PROJECT_ROOT

    definitions, _ = definitions_and_warnings
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for source in load_config(PROJECT_ROOT / "governance.yaml").sources:
        assert f"raw/{source.name}__customers" in keys
    checks = {key.to_user_string() for key in graph.asset_check_keys}
    golden_ids_unique = "candidate/golden_customers:gx_golden_customer_id__unique"
    assert golden_ids_unique in checks
    assert graph.get_check_spec(
        next(k for k in graph.asset_check_keys if k.to_user_string() == golden_ids_unique)
    ).blocking


@pytest.mark.parametrize(
    ("schedule", "fires_at", "partition"),
    [
        # The daily job runs yesterday's drops (in the configured time zone).
        ("daily_customer_pipeline_schedule", "2026-12-02T06:00:00+08:00", "2026-12-01"),
        # Monthly jobs run the month that has just ended, never the month in progress.
        ("monthly_quality_audit_schedule", "2026-12-01T06:00:00+08:00", "2026-11-01"),
        ("monthly_retention_purge_schedule", "2027-01-02T06:00:00+08:00", "2026-12-01"),
    ],
)
def test_schedules_pick_the_right_partition(
    definitions_and_warnings, schedule: str, fires_at: str, partition: str
) -> None:
    from datetime import datetime

    import dagster as dg

    definitions, _ = definitions_and_warnings
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime.fromisoformat(fires_at),
        repository_def=definitions.get_repository_def(),
    )
    requests = definitions.resolve_schedule_def(schedule).evaluate_tick(context).run_requests
    assert [request.partition_key for request in requests] == [partition]
