"""The analyst database, rebuilt after every publication of the marts (lib/privacy/analytics.py).

Its checks run inside the build, before the new file replaces the old one: a failed check keeps
yesterday's analyst database, and the run fails with the reason.
"""

import dagster as dg

from dagster_project import settings
from dagster_project.config import GovernanceConfig
from dagster_project.defs.monitoring.assets import CUSTOMER_RISK_KEY
from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.privacy.analytics import (
    ANALYTICS_CHECKS,
    AnalyticsError,
    build_analytics_database,
)
from dagster_project.lib.privacy.masking import MaskingError
from dagster_project.lib.publish import PUBLISHED_SCHEMA

ANALYST_DATABASE = dg.AssetKey(["analytics", "analyst_database"])


def build_analytics_asset(config: GovernanceConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=ANALYST_DATABASE,
        # After monitoring too: golden_customers carries each customer's risk tier.
        deps=[dg.AssetKey([PUBLISHED_SCHEMA, table]) for table in config.analytics.marts]
        + [CUSTOMER_RISK_KEY],
        group_name="analytics",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(name, asset=ANALYST_DATABASE, blocking=True, description=text)
            for name, text in ANALYTICS_CHECKS.items()
        ],
        description=(
            "The published marts masked at rest for analysts, in their own DuckDB file "
            "(`custodian sql` reads it): each column by its data-dictionary class, join keys "
            "as keyed pseudonyms, birth dates as years, cities as provinces; golden_customers "
            "with each customer's monitoring risk_tier and risk_points."
        ),
    )
    def analyst_database(warehouse: WarehouseResource, governance: GovernanceResource):
        config = governance.load()
        try:
            with warehouse.connect() as con:
                build = build_analytics_database(
                    con, settings.analytics_path(), config.analytics, config.masking
                )
        except (AnalyticsError, MaskingError) as exc:
            raise dg.Failure(description=str(exc)) from None
        if not build.passed:
            failed = [check for check in build.checks if not check.passed]
            raise dg.Failure(
                description=(
                    "the analyst database was not replaced (analysts keep the previous one): "
                    + "; ".join(f"{check.name}: {check.metadata}" for check in failed)
                    + f". The rejected build is at {build.path}.new for investigation."
                )
            )
        yield dg.MaterializeResult(
            metadata={
                "path": str(build.path),
                "rows": dg.MetadataValue.json(build.tables),
                "columns by treatment": dg.MetadataValue.json(build.count_by_kind()),
                "seconds": round(build.seconds, 1),
                "seconds by step": dg.MetadataValue.json(build.step_seconds),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=check.name,
                    passed=check.passed,
                    metadata={
                        key: dg.MetadataValue.json(value) if isinstance(value, dict) else value
                        for key, value in check.metadata.items()
                    },
                )
                for check in build.checks
            ],
        )

    return analyst_database
