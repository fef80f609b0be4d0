"""The shipped dagster.yaml is a valid instance config that serialises warehouse writers, and
the command line uses the same persistent instance as the UI."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import typer
from dagster import DagsterInstance

from dagster_project import settings
from dagster_project.cli._common import dagster_instance, prepare_dagster_home, run_partitions
from dagster_project.settings import PROJECT_ROOT


def test_shipped_instance_config_limits_the_warehouse_pool(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    finally:
        instance.dispose()


def test_dagster_home_defaults_to_dot_dagster_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert settings.dagster_home() == tmp_path / ".dagster"


def test_dagster_home_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "instance"))
    assert settings.dagster_home() == tmp_path / "instance"
    # Dagster needs it absolute: a relative value is taken from where the command runs.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", "relative/home")
    assert settings.dagster_home() == tmp_path / "relative" / "home"


def test_a_new_instance_folder_gets_the_shipped_dagster_yaml(tmp_path: Path) -> None:
    home = prepare_dagster_home(tmp_path / "new" / ".dagster")
    assert (home / "dagster.yaml").read_bytes() == (PROJECT_ROOT / "dagster.yaml").read_bytes()


def test_an_existing_dagster_yaml_is_kept(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    prepare_dagster_home(tmp_path)
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_the_commands_record_runs_in_the_persistent_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    @dg.op
    def step() -> None:
        pass

    @dg.job
    def tiny() -> None:
        step()

    with dagster_instance() as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        run_partitions(tiny, instance, [None], "tiny", tmp_path / "tiny.log")
    # A later process (the UI) opening the same folder sees the run.
    with DagsterInstance.from_config(str(home)) as reopened:
        assert [run.job_name for run in reopened.get_runs()] == ["tiny"]


def test_an_invalid_instance_config_exits_2_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dagster.yaml").write_text("concurrency:\n  poolz: 1\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with pytest.raises(typer.Exit) as exit_info:
        dagster_instance()
    assert exit_info.value.exit_code == 2
    assert "invalid Dagster instance config" in " ".join(capsys.readouterr().err.split())


def _started_run(instance: DagsterInstance, tags: dict[str, str], pool: str) -> str:
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    run = instance.add_run(
        DagsterRun(job_name="daily_customer_pipeline", status=DagsterRunStatus.STARTED, tags=tags)
    )
    instance.event_log_storage.set_concurrency_slots(pool, 1)
    claim = instance.event_log_storage.claim_concurrency_slot(pool, run.run_id, "dbt_golden")
    assert claim.is_claimed
    return run.run_id


def test_a_run_left_started_by_a_killed_command_is_failed_and_its_slot_freed(
    tmp_path: Path,
) -> None:
    from dagster_project.cli._common import STARTED_BY_TAG, release_abandoned_runs

    instance = DagsterInstance.from_config(str(prepare_dagster_home(tmp_path / "home")))
    try:
        orphan = _started_run(instance, {STARTED_BY_TAG: "cli"}, "warehouse")
        # A run of the UI's daemon is not the command line's to judge.
        from_the_ui = _started_run(instance, {}, "another_pool")
        assert release_abandoned_runs(instance) == [orphan]
        assert instance.get_run_by_id(orphan).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(from_the_ui).status == dg.DagsterRunStatus.STARTED
        storage = instance.event_log_storage
        assert storage.get_concurrency_info("warehouse").claimed_slots == []
        (kept,) = storage.get_concurrency_info("another_pool").claimed_slots
        assert kept.run_id == from_the_ui
        assert release_abandoned_runs(instance) == []
    finally:
        instance.dispose()
