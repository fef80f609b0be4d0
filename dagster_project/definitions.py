"""The one Definitions object: assembled here, built in `defs/`, from governance.yaml."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.defs.analytics.assets import build_analytics_asset
from dagster_project.defs.audit.assets import build_audit_assets, build_audit_job
from dagster_project.defs.erasure.requests import erasure_request_feed, erasure_requests_job
from dagster_project.defs.history.assets import build_golden_history_asset, build_history_asset
from dagster_project.defs.ingestion.assets import build_ingestion_assets
from dagster_project.defs.monitoring.assets import build_monitoring_assets
from dagster_project.defs.monitoring.sensors import daily_job_failure_alert
from dagster_project.defs.pipeline import build_daily_job, build_schedules
from dagster_project.defs.publish.assets import build_publish_asset
from dagster_project.defs.quality.checks import build_gate_checks
from dagster_project.defs.resolution.assets import (
    match_model,
    record_clusters,
    retrain_match_model_job,
)
from dagster_project.defs.resources import default_resources
from dagster_project.defs.retention.assets import build_retention_assets, build_retention_job
from dagster_project.defs.transform.dbt_assets import build_dbt_assets, dbt_resource
from dagster_project.lib.privacy.masking import configure_masking
from dagster_project.lib.publish import CANDIDATE_SCHEMA


def build_definitions(config_path: Path | None = None) -> dg.Definitions:
    """The graph for one governance.yaml (default: `settings.config_path()`)."""
    config_path = settings.config_path(config_path)
    config = load_config(config_path)
    # Metadata, logs and evidence the assets write are masked as the config says.
    configure_masking(config.masking)
    dbt_project, dbt_assets = build_dbt_assets(config)
    candidates = [
        key for asset in dbt_assets for key in asset.keys if key.path[0] == CANDIDATE_SCHEMA
    ]
    jobs = [
        build_daily_job(config),
        build_audit_job(config),
        build_retention_job(config),
        retrain_match_model_job,
        erasure_requests_job,
    ]
    assets = [
        *build_ingestion_assets(config),
        *dbt_assets,
        build_history_asset(config),
        build_golden_history_asset(config),
        build_monitoring_assets(config),
        build_publish_asset(candidates),
        build_analytics_asset(config),
        record_clusters,
        match_model,
        *build_audit_assets(config),
        *build_retention_assets(config),
    ]
    return dg.Definitions(
        assets=assets,
        # Each suite's checks take the partitions of the asset it gates.
        asset_checks=build_gate_checks(assets, config, config_path),
        jobs=jobs,
        schedules=build_schedules(config, jobs),
        sensors=[daily_job_failure_alert, erasure_request_feed],
        resources={**default_resources(config_path), "dbt": dbt_resource(dbt_project)},
        # Each step runs in its own process (so a crash in DuckDB or Splink fails that step,
        # not the run) forked from a server that has already imported the project: importing
        # dagster, dagster-dbt and pandas costs ~7 s a step otherwise.
        executor=dg.multiprocess_executor.configured(
            {
                "start_method": {
                    "forkserver": {
                        # Great Expectations takes ~10 s to import: once in the server, not
                        # once per check step.
                        "preload_modules": ["dagster_project.definitions", "great_expectations"]
                    }
                }
            }
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
