"""Each suite in `expectations/` becomes one Dagster asset check on the asset it names.

Critical expectations make the check blocking: when one fails, downstream assets do not
materialise in that run and the run says which check failed and why.
"""

import dagster as dg

from dagster_project import settings
from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib.quality.gates import (
    GateSuite,
    discover_suites,
    record_outcome,
    validate_table,
)


def _check_for(suite: GateSuite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(suite.asset_key),
        name=f"gx_{suite.table}",
        blocking=suite.is_blocking,
        pool=WAREHOUSE_POOL,
        description=f"Great Expectations suite {suite.path.relative_to(settings.PROJECT_ROOT)}",
    )
    def run_suite(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        with warehouse.connect() as con:
            outcome = validate_table(con, suite)
            record_outcome(con, outcome, context.run.run_id, None)
        failures = outcome.critical_failures or outcome.warnings
        metadata = {
            f"{o.expectation_type}({o.column or ''})": dg.MetadataValue.json(
                {
                    "success": o.success,
                    "severity": o.severity,
                    "observed_value": o.observed_value,
                    "unexpected_percent": o.unexpected_percent,
                    "failing_sample_masked": o.sample_masked,
                }
            )
            for o in outcome.outcomes
        }
        metadata["expectations"] = len(outcome.outcomes)
        metadata["failed"] = len(failures)
        return dg.AssetCheckResult(
            passed=not failures,
            severity=(
                dg.AssetCheckSeverity.ERROR
                if outcome.critical_failures
                else dg.AssetCheckSeverity.WARN
            ),
            description=(
                "; ".join(f"{o.expectation_type} on {o.column} failed" for o in failures)
                or "all expectations met"
            ),
            metadata=metadata,
        )

    return run_suite


def build_gate_checks() -> list[dg.AssetChecksDefinition]:
    return [_check_for(suite) for suite in discover_suites(settings.expectations_dir())]
