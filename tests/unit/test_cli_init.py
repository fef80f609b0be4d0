"""`custodian init`: a starter config that loads as written, shows every key with its default,
and never replaces a file unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic_core import PydanticUndefined
from typer.testing import CliRunner

from dagster_project.canonical import CANONICAL_FIELDS
from dagster_project.cli import app
from dagster_project.cli.init import starter_config_for, starter_config_text
from dagster_project.config import (
    AccessConfig,
    AnalyticsConfig,
    BackupConfig,
    ErasureConfig,
    GovernanceConfig,
    MaskingConfig,
    MatchingConfig,
    MonitoringConfig,
    RetentionConfig,
    ScheduleConfig,
    SourceConfig,
    SurvivorshipConfig,
    load_config,
)
from dagster_project.settings import PROJECT_ROOT

runner = CliRunner()

SECTIONS = {
    "schedule": ScheduleConfig,
    "matching": MatchingConfig,
    "survivorship": SurvivorshipConfig,
    "monitoring": MonitoringConfig,
    "retention": RetentionConfig,
    "backup": BackupConfig,
    "erasure": ErasureConfig,
    "masking": MaskingConfig,
    "analytics": AnalyticsConfig,
    "access": AccessConfig,
}


@pytest.fixture(scope="module")
def starter() -> dict:
    return yaml.safe_load(starter_config_text())


def _one_line(output: str) -> str:
    return " ".join(output.split())


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "governance.yaml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert [source.name for source in config.sources] == ["customers_csv"]
    assert config.landing_root == tmp_path / "data" / "landing"
    output = _one_line(result.output)
    assert "edit the source block" in output
    assert f"custodian run --config {path}" in output


def test_init_defaults_to_governance_yaml_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSTODIAN_CONFIG", raising=False)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "governance.yaml").read_text(encoding="utf-8") == starter_config_for("admin")
    # Whoever ran init (CUSTODIAN_USER=admin in the tests) may use the personal-data commands.
    assert load_config(tmp_path / "governance.yaml").access.users == {"admin": "admin"}
    # The default config needs no --config to run.
    assert "custodian run (every landed day" in _one_line(result.output)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text("landing_root: mine\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert "--force" in result.output
    assert path.read_text(encoding="utf-8") == "landing_root: mine\n"


def test_init_force_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text("landing_root: mine\n", encoding="utf-8")
    result = runner.invoke(app, ["init", "--force", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == starter_config_for("admin")


def test_init_into_a_folder_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a folder" in _one_line(result.output)


def test_starter_shows_every_top_level_key(starter: dict) -> None:
    assert set(starter) <= set(GovernanceConfig.model_fields)
    missing = set(GovernanceConfig.model_fields) - set(starter)
    assert not missing, (
        f"the starter config (dagster_project/templates/governance.starter.yaml) shows every "
        f"key of governance.yaml; add {sorted(missing)} there, with the default and why"
    )
    assert not Path(starter["landing_root"]).is_absolute()


@pytest.mark.parametrize("section", SECTIONS)
def test_starter_sections_hold_the_defaults(starter: dict, section: str) -> None:
    model = SECTIONS[section]
    assert model.model_validate(starter[section]) == model()
    assert set(starter[section]) == set(model.model_fields)


def test_starter_source_shows_every_key_with_its_default(starter: dict) -> None:
    (source,) = starter["sources"]
    assert set(source) <= set(SourceConfig.model_fields)
    missing = set(SourceConfig.model_fields) - set(source)
    assert not missing, (
        f"the starter config's example source shows every SourceConfig key; add "
        f"{sorted(missing)} there, with the default and why"
    )
    loaded = SourceConfig.model_validate(source)
    for name, field in SourceConfig.model_fields.items():
        if field.default is not PydanticUndefined and name in source:
            assert getattr(loaded, name) == field.default, f"{name} is not its default"


def test_starter_source_is_a_csv_export_not_a_demo_source(starter: dict) -> None:
    (source,) = starter["sources"]
    demo = load_config(PROJECT_ROOT / "governance.yaml")
    assert source["name"] not in {s.name for s in demo.sources}
    assert source["format"] == "csv"
    assert source["path"] == "exports/customers/{date:%Y-%m-%d}/customers.csv"


def test_starter_model_sits_beside_the_config_and_runs_with_the_shipped_one(
    starter: dict, tmp_path: Path
) -> None:
    from dagster_project.lib.resolve.model_checks import SHIPPED_MODEL_PATH, model_for_run

    assert starter["matching"]["model_path"] == MatchingConfig().model_path
    path = tmp_path / "governance.yaml"
    path.write_text(starter_config_text(), encoding="utf-8")
    model_path = Path(load_config(path).matching.model_path)
    # Training writes beside the config, never over the shipped model; until it has, the daily
    # run uses the shipped one.
    assert model_path == tmp_path / "models" / "customer_model.json"
    assert model_for_run(model_path)[0] == SHIPPED_MODEL_PATH
    assert SHIPPED_MODEL_PATH.is_file()


def test_starter_lists_every_canonical_field_and_the_quality_place() -> None:
    comments = "\n".join(
        line for line in starter_config_text().splitlines() if line.lstrip().startswith("#")
    )
    missing = [field for field in CANONICAL_FIELDS if f"#   {field} " not in comments]
    assert not missing, f"canonical fields not listed in the starter's comment: {missing}"
    assert "gx_source_record_count__between__critical: {max_value: 120}" in comments
    assert "gx_mobile_phone_is_valid__in_set__critical: {mostly: 0.70}" in comments
