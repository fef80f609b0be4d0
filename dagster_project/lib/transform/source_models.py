"""The dbt files a configured source needs, generated from governance.yaml.

A source is its block in governance.yaml and nothing else. dbt cannot declare sources or
models from a variable, so for each configured source this module writes what dbt needs into a
folder of the warehouse's dbt project (`dbt_project.py`; dbt_project.yml lists it as a model
path):

- `_raw__sources.yml`: the raw table `raw.<source>__customers`, with the source's description,
  loader and freshness;
- `stg_<source>__customers.sql`: one line calling `macros/stage_customers.sql`;
- `_staging__models.yml`: each staging model's entry in the data dictionary, with the canonical
  staging columns of `dbt/dictionary/stg_customers.yml`.

Why generated at run time rather than committed and checked for drift: the files follow the
config a run is given (`--config`), not the one in the repository, so a company's own config
never requires editing, adding or deleting a file in the project, and removing a source from
the config removes its model, its source declaration and its dictionary entry on the next run.
The folder is rewritten whenever the config changes (files that did not change keep their
bytes, so dbt's partial parsing stays valid) and is never edited by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import yaml

from dagster_project.config import GovernanceConfig, SourceConfig

STAGING_TAG = "staging"
"""Every generated staging model carries it: the daily job selects the staging layer by it."""

_NOTICE = (
    "Generated from governance.yaml by dagster_project/lib/transform/source_models.py; "
    "rewritten whenever the config changes: edit the config, not this file."
)

# A daily source that has not delivered for two days is late; for four, something is broken.
_FRESHNESS = {
    "warn_after": {"count": 48, "period": "hour"},
    "error_after": {"count": 96, "period": "hour"},
}


def dictionary_path(project_dir: Path) -> Path:
    """The canonical staging columns every generated staging model documents."""
    return project_dir / "dictionary" / "stg_customers.yml"


def staging_model_name(source_name: str) -> str:
    return f"stg_{source_name}__customers"


def _describe(source: SourceConfig) -> str:
    what = source.description.strip() or f"The {source.system} system's customer export."
    return f"{what} ({source.format}, {source.encoding}; {source.path})"


def _sources_file(config: GovernanceConfig) -> dict:
    return {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "description": (
                    "Source-system exports as landed, one table per source in governance.yaml, "
                    "every column as text plus lineage columns (_source_name, _partition_date, "
                    "_file_path, _file_sha256, _row_number, _loaded_at, _run_id). Loaded by the "
                    "Dagster ingestion assets. " + _NOTICE
                ),
                "schema": "raw",
                "loader": "dagster (dagster_project/defs/ingestion)",
                "config": {"loaded_at_field": "_loaded_at", "freshness": _FRESHNESS},
                "tables": [
                    {
                        "name": f"{source.name}__customers",
                        "description": _describe(source),
                        "meta": {"system": source.system, "trust_rank": source.trust_rank},
                    }
                    for source in config.sources
                ],
            }
        ],
    }


def _models_file(config: GovernanceConfig, columns: list[dict]) -> dict:
    return {
        "version": 2,
        "models": [
            {
                "name": staging_model_name(source.name),
                "description": (
                    f"One row per {source.name} record delivery (one row per record per "
                    "delivery day), renamed onto the canonical customer fields and "
                    f"standardised. Source: {_describe(source)}"
                ),
                # The folder-level settings of dbt_project.yml do not reach a folder outside
                # the project: each model says it is a view in the staging schema.
                "config": {"materialized": "view", "schema": "staging", "tags": [STAGING_TAG]},
                "columns": columns,
            }
            for source in config.sources
        ],
    }


def _model_sql(source: SourceConfig) -> str:
    return f"{{#- {_NOTICE} -#}}\n{{{{ stage_customers('{source.name}') }}}}\n"


def _dump(document: dict) -> str:
    header = "".join(f"# {line}\n" for line in _NOTICE.split("; "))
    body = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
    return header + body


def source_model_files(config: GovernanceConfig, project_dir: Path) -> dict[str, str]:
    """File name -> content of every generated file for the config."""
    dictionary = yaml.safe_load(dictionary_path(project_dir).read_text(encoding="utf-8"))
    files = {
        "_raw__sources.yml": _dump(_sources_file(config)),
        "_staging__models.yml": _dump(_models_file(config, dictionary["columns"])),
    }
    for source in config.sources:
        files[f"{staging_model_name(source.name)}.sql"] = _model_sql(source)
    return files


def write_source_models(
    config: GovernanceConfig,
    project_dir: Path,
    out_dir: Path,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Make `out_dir` hold exactly the generated files (plus `extra_files`); return it.

    Files whose content is unchanged are not rewritten; files no longer generated (a source
    removed from the config) are deleted.
    """
    files = {**source_model_files(config, project_dir), **(extra_files or {})}
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.iterdir():
        if stale.is_file() and stale.name not in files and not stale.name.startswith("."):
            stale.unlink()
    for name, content in files.items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            # Whole or not at all: a parallel process may be parsing the folder.
            partial = path.with_name(f".{name}.{os.getpid()}.tmp")
            partial.write_text(content, encoding="utf-8")
            partial.replace(path)
    return out_dir


def drop_staging_views_of_removed_sources(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig
) -> list[str]:
    """Drop `staging.stg_<source>__customers` views of sources no longer configured.

    dbt never drops what it no longer builds; a view of a removed source would linger beside
    the live ones. Its raw table stays: loaded data is kept until retention says otherwise.
    """
    wanted = {staging_model_name(source.name) for source in config.sources}
    stale = [
        name
        for (name,) in con.execute(
            "select view_name from duckdb_views() "
            "where schema_name = 'staging' and view_name like 'stg\\_%\\_\\_customers' escape '\\'"
        ).fetchall()
        if name not in wanted
    ]
    for name in stale:
        con.execute(f'drop view if exists staging."{name}"')
    return stale
