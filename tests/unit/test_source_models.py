"""A source is its block in governance.yaml: the dbt files it needs are generated from it, and
removing the block removes them. dbt's failures are told with their model and reason, without
the values DuckDB quotes."""

from __future__ import annotations

from pathlib import Path

import yaml

from dagster_project.config import GovernanceConfig
from dagster_project.lib.transform.dbt_errors import failure_description, hide_values
from dagster_project.lib.transform.dbt_project import dbt_project_for, dbt_state_dir
from dagster_project.lib.transform.source_models import write_source_models
from dagster_project.settings import dbt_project_dir


def _config(*names: str) -> GovernanceConfig:
    return GovernanceConfig.model_validate(
        {
            "landing_root": "/tmp",
            "sources": [
                {
                    "name": name,
                    "system": "other",
                    "description": f"The {name} export.",
                    "path": f"{name}/{{date:%Y-%m-%d}}.csv",
                    "format": "csv",
                    "start_date": "2026-11-01",
                    "trust_rank": rank,
                    "mapping": {"source_record_id": "id"},
                }
                for rank, name in enumerate(names, start=1)
            ],
        }
    )


def test_each_source_gets_a_model_a_raw_declaration_and_a_dictionary_entry(
    tmp_path: Path,
) -> None:
    out = write_source_models(_config("registry", "shop"), dbt_project_dir(), tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == [
        "_raw__sources.yml",
        "_staging__models.yml",
        "stg_registry__customers.sql",
        "stg_shop__customers.sql",
    ]
    assert "{{ stage_customers('shop') }}" in (out / "stg_shop__customers.sql").read_text()
    (raw,) = yaml.safe_load((out / "_raw__sources.yml").read_text())["sources"]
    assert [t["name"] for t in raw["tables"]] == ["registry__customers", "shop__customers"]
    assert raw["config"]["loaded_at_field"] == "_loaded_at"
    models = yaml.safe_load((out / "_staging__models.yml").read_text())["models"]
    assert [m["name"] for m in models] == ["stg_registry__customers", "stg_shop__customers"]
    dictionary = yaml.safe_load(
        (dbt_project_dir() / "dictionary" / "stg_customers.yml").read_text()
    )
    for model in models:
        assert model["description"].startswith("One row per")
        assert model["columns"] == dictionary["columns"]
        assert model["config"]["schema"] == "staging"


def test_removing_a_source_removes_its_files_and_keeps_the_others_untouched(
    tmp_path: Path,
) -> None:
    out = tmp_path / "m"
    write_source_models(_config("registry", "shop"), dbt_project_dir(), out)
    kept = out / "stg_registry__customers.sql"
    before = kept.stat().st_mtime_ns
    write_source_models(_config("registry"), dbt_project_dir(), out)
    assert not (out / "stg_shop__customers.sql").exists()
    assert "shop" not in (out / "_raw__sources.yml").read_text()
    # Unchanged files are not rewritten: dbt's partial parse stays valid.
    assert kept.stat().st_mtime_ns == before


def test_each_warehouse_gets_its_own_project_linking_the_repository(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh" / "custodian.duckdb"
    project = dbt_project_for(_config("registry"), warehouse, dbt_project_dir())
    assert project == dbt_state_dir(warehouse) / "project"
    assert (project / "models").resolve() == (dbt_project_dir() / "models").resolve()
    assert (project / "source_models" / "stg_registry__customers.sql").is_file()
    # The repository's dbt folder holds no generated model.
    assert not list(dbt_project_dir().glob("**/stg_registry__customers.sql"))


def test_values_duckdb_quotes_are_hidden_from_error_messages() -> None:
    message = "Conversion Error: Could not convert string '张三' to INT32 (it's 'x''y')"
    hidden = hide_values(message)
    assert "张三" not in hidden
    assert "x''y" not in hidden
    assert hidden.startswith("Conversion Error: Could not convert string '…' to INT32")


def test_a_dbt_failure_names_the_failed_model_and_dbts_reason() -> None:
    run_results = {
        "results": [
            {"unique_id": "model.custodian.stg_shop__customers", "status": "success"},
            {
                "unique_id": "model.custodian.int_customer_records",
                "status": "error",
                "message": "Runtime Error\n  Conversion Error: Could not convert string '13800'",
            },
            {
                "unique_id": "test.custodian.unique_customer_source_xref_record_key.2a1",
                "status": "fail",
                "message": "Got 3 results, configured to fail if != 0",
            },
        ]
    }
    text = failure_description("dbt_standardisation", run_results, None)
    assert "2 model(s)/test(s) failed" in text
    assert "model int_customer_records (error): Runtime Error" in text
    assert "test unique_customer_source_xref_record_key (fail)" in text
    assert "13800" not in text
    # dbt that stopped before running anything: its logged errors say why.
    parse = failure_description(
        "dbt_golden", None, "The dbt CLI process ...\n\nErrors parsed from dbt logs:\nParsing Error"
    )
    assert parse.endswith("Parsing Error")
