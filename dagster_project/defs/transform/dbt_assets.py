"""dbt models as Dagster assets (dagster-dbt), split around entity resolution.

Standardisation (staging + intermediate) runs before Splink and the marts after it, so the two
selections are two asset definitions; dbt tests become asset checks on the models they test.
Asset keys are [schema, table]: a key names the warehouse table it materialises.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from dagster_project import settings
from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.transform.dbt_errors import failure_description
from dagster_project.lib.transform.dbt_project import (
    dbt_environment,
    dbt_executable,
    ensure_manifest,
)
from dagster_project.lib.transform.dbt_vars import dbt_vars_arg
from dagster_project.lib.transform.source_models import (
    STAGING_TAG,
    drop_staging_views_of_removed_sources,
)

# Models tagged after_resolution read what resolution writes (er.*), so they run with the marts
# even when they live in intermediate/ (int_steward_corrections__latest).
AFTER_RESOLUTION_TAG = "after_resolution"
STAGING_SELECT = f"tag:{STAGING_TAG}"
# Record history (a Python asset, defs/history) runs between the staging views and the
# intermediate models: it standardises only the day's new and changed records through the views.
STANDARDISATION_SELECT = "intermediate"
STANDARDISATION_EXCLUDE = f"tag:{AFTER_RESOLUTION_TAG}"
MARTS_SELECT = f"marts tag:{AFTER_RESOLUTION_TAG}"


class CustodianDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        path = dbt_resource_props.get("original_file_path", "")
        tags = dbt_resource_props.get("tags", [])
        if path.startswith("models/marts") or AFTER_RESOLUTION_TAG in tags:
            return "golden"
        return "standardisation"


def _run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    governance: GovernanceResource,
):
    # The dbt subprocess finds the warehouse through the profile's env_var.
    os.environ.update(dbt_environment(Path(warehouse.path)))
    # Unit tests check the SQL itself, not the day's data: `make test` runs them, not each day.
    args = ["build", "--exclude-resource-type", "unit_test", *dbt_vars_arg(governance.load())]
    step = context.op_execution_context.op.name
    # One target folder per step, reused run after run (runs are serialised by the warehouse
    # pool): dbt's partial parse stays warm and folders do not pile up.
    target = Path(dbt.project_dir) / "target" / "steps" / step
    invocation = dbt.cli(args, context=context, target_path=target, raise_on_error=False)
    yield from invocation.stream()
    if not invocation.is_successful():
        results_file = target / "run_results.json"
        run_results = (
            json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else None
        )
        error = invocation.get_error()
        raise dg.Failure(
            description=failure_description(step, run_results, getattr(error, "description", None)),
            metadata={"dbt_target": dg.MetadataValue.path(str(target))},
        )


def build_dbt_assets(config: GovernanceConfig) -> tuple[Path, list[dg.AssetsDefinition]]:
    """The warehouse's dbt project (see lib/transform/dbt_project.py) and its three assets."""
    project_dir, manifest = ensure_manifest(
        settings.dbt_project_dir(), config, settings.warehouse_path().resolve()
    )
    translator = CustodianDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    )

    @dbt_assets(
        manifest=manifest,
        select=STAGING_SELECT,
        name="dbt_staging",
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def dbt_staging(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ):
        with warehouse.connect() as con:
            dropped = drop_staging_views_of_removed_sources(con, governance.load())
        if dropped:
            context.log.info(f"dropped staging views of sources no longer configured: {dropped}")
        yield from _run_dbt(context, dbt, warehouse, governance)

    @dbt_assets(
        manifest=manifest,
        select=STANDARDISATION_SELECT,
        exclude=STANDARDISATION_EXCLUDE,
        name="dbt_standardisation",
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def dbt_standardisation(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ):
        yield from _run_dbt(context, dbt, warehouse, governance)

    @dbt_assets(
        manifest=manifest,
        select=MARTS_SELECT,
        name="dbt_golden",
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def dbt_golden(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ):
        yield from _run_dbt(context, dbt, warehouse, governance)

    return project_dir, [dbt_staging, dbt_standardisation, dbt_golden]


def dbt_resource(project_dir: Path) -> DbtCliResource:
    # dbt from this Python's environment: `custodian` run by its full path (no activated venv)
    # has no dbt on PATH.
    return DbtCliResource(
        project_dir=str(project_dir),
        profiles_dir=str(project_dir),
        dbt_executable=dbt_executable(),
    )
