"""Each suite in `expectations/` becomes Dagster asset checks on the asset it names.

One check per expectation, all computed by one step per suite (a multi-asset check): the table
is read and validated once, and the UI lists every rule with its own status and history
(`gx_email_is_valid__in_set__critical: failed, crm: 31% unexpected`) instead of one row per
suite whose description must be read to learn what failed. Critical expectations are blocking
checks: when one fails, downstream assets do not materialise in that run and the run's failure
names the check. Warnings and infos report without blocking.

A partitioned asset's checks share its partitions (one result per day in the UI) and validate
that day's rows; checks on unpartitioned tables read the run's partition from its tags and
validate the rows delivered that day where the suite says which column holds the day.
"""

import dataclasses
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project import settings
from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.monitoring.alerts import deliver_alerts
from dagster_project.lib.monitoring.events import record_gate_failure
from dagster_project.lib.quality.gates import validate_table
from dagster_project.lib.quality.outcomes import ExpectationOutcome, GateOutcome
from dagster_project.lib.quality.overrides import apply_gate_overrides, validate_gate_config
from dagster_project.lib.quality.results import record_outcome
from dagster_project.lib.quality.suites import (
    GateSuite,
    SuiteError,
    SuiteExpectation,
    discover_suites,
)


def run_partition(context: dg.AssetCheckExecutionContext) -> tuple[str, str] | None:
    """The partition (as a first..last range) the run is for, or None for an unpartitioned run."""
    op_context = context.op_execution_context
    if op_context.has_partition_key_range:
        key_range = op_context.partition_key_range
        return key_range.start, key_range.end
    tags = context.run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"], tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return (start, end) if start and end else None


def _verdict(item: ExpectationOutcome) -> str:
    if item.exception:
        return f"could not be evaluated: {item.exception}"
    if item.unexpected_percent is not None:
        mostly = item.threshold.get("mostly", 1)
        allowed = (1 - mostly) * 100 if isinstance(mostly, int | float) else None
        limit = f" (allowed {allowed:.1f}%)" if allowed is not None else ""
        subject = item.column or "rows"
        return f"{item.unexpected_percent:.1f}% of {subject} values unexpected{limit}"
    return f"observed {item.observed_value!r}, expected {item.threshold}"


def _metadata_value(value: Any) -> Any:
    """Numbers as numbers (the UI can chart them), text as text, anything else as JSON."""
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int | float):
        return dg.MetadataValue.float(float(value))
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    return dg.MetadataValue.json(value if isinstance(value, dict | list) else {"value": value})


def check_result(
    suite: GateSuite, expectation: SuiteExpectation, outcome: GateOutcome
) -> dg.AssetCheckResult:
    """One expectation's verdict across its slices, with masked evidence as metadata."""
    severity = (
        dg.AssetCheckSeverity.ERROR if expectation.is_blocking else dg.AssetCheckSeverity.WARN
    )
    common: dict[str, Any] = {
        "severity": expectation.severity,
        "expectation": expectation.type,
        "column": expectation.column or "(table)",
        "partition": outcome.partition_label or "(whole table)",
    }
    if expectation.disabled or outcome.skipped_reason:
        return dg.AssetCheckResult(
            asset_key=dg.AssetKey(suite.asset_key),
            check_name=expectation.check_name,
            passed=True,
            severity=severity,
            description=f"not validated: {expectation.disabled or outcome.skipped_reason}",
            metadata={**common, "validated": False},
        )
    items = outcome.for_check(expectation.check_name)
    not_judged = [n for n in outcome.not_judged if n.check_name == expectation.check_name]
    failing = [item for item in items if not item.success]
    worst = max(failing, key=lambda i: i.unexpected_percent or 0) if failing else None
    shown = worst or (items[0] if items else None)
    if failing:
        description = "; ".join(f"{item.slice_name}: {_verdict(item)}" for item in failing)
    elif items:
        description = f"met on {len(items)} batch(es): " + ", ".join(i.slice_name for i in items)
    else:
        description = "not judged: " + "; ".join(f"{n.slice_name}: {n.reason}" for n in not_judged)
    metadata: dict[str, Any] = {**common, "rows_validated": outcome.rows_validated}
    if shown is not None:
        metadata["slice"] = shown.slice_name
        if shown.observed_value is not None:
            metadata["observed_value"] = _metadata_value(shown.observed_value)
        metadata["threshold"] = dg.MetadataValue.json(shown.threshold)
        if shown.unexpected_percent is not None:
            metadata["unexpected_percent"] = float(shown.unexpected_percent)
        metadata["failing_sample_masked"] = dg.MetadataValue.json(shown.sample_masked)
        if shown.data_docs_page is not None:
            metadata["data_docs"] = dg.MetadataValue.path(str(shown.data_docs_page))
    if len(items) > 1:
        metadata["slices"] = dg.MetadataValue.json(
            {
                item.slice_name: {
                    "success": item.success,
                    "observed_value": item.observed_value,
                    "unexpected_percent": item.unexpected_percent,
                    "element_count": item.element_count,
                }
                for item in items
            }
        )
    if not_judged:
        metadata["not_judged"] = dg.MetadataValue.json({n.slice_name: n.reason for n in not_judged})
    if outcome.data_docs_pages:
        metadata["data_docs_index"] = dg.MetadataValue.path(
            str(settings.data_docs_dir().resolve() / "index.html")
        )
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(suite.asset_key),
        check_name=expectation.check_name,
        passed=not failing,
        severity=severity,
        description=description[:2000],
        metadata=metadata,
    )


def _specs(
    suite: GateSuite, partitions_def: dg.PartitionsDefinition | None
) -> list[dg.AssetCheckSpec]:
    relative = _relative(suite.path)
    with warnings.catch_warnings():
        # Checks sharing their asset's partitions are a preview feature of Dagster 1.13; it
        # records each day's verdict against that day, which is what a daily gate means.
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                expectation.check_name,
                asset=dg.AssetKey(suite.asset_key),
                blocking=expectation.is_blocking and not expectation.disabled,
                partitions_def=partitions_def,
                description=(
                    f"[{expectation.severity}] "
                    f"{expectation.description or expectation.type} ({relative})"
                ),
                metadata={"suite": relative, "severity": expectation.severity},
            )
            for expectation in suite.expectations
        ]


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(settings.PROJECT_ROOT))
    except ValueError:
        return str(path)


def _gate_check(
    suite: GateSuite, partitions_def: dg.PartitionsDefinition | None
) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        specs=_specs(suite, partitions_def),
        name=f"gx_{suite.schema}__{suite.table}",
        can_subset=True,
        pool=WAREHOUSE_POOL,
        description=f"Great Expectations suite {_relative(suite.path)}",
    )
    def run_suite(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ) -> Iterator[dg.AssetCheckResult]:
        partition = run_partition(context)
        selected = {key.name for key in context.selected_asset_check_keys}
        # A check launched alone from the UI validates (and records) that expectation only.
        chosen = dataclasses.replace(
            suite, expectations=tuple(e for e in suite.expectations if e.check_name in selected)
        )
        config = governance.load()
        with warehouse.connect() as con:
            outcome = validate_table(
                con,
                chosen,
                partition=partition,
                config=config,
                run_id=context.run.run_id,
                data_docs_dir=settings.data_docs_dir(),
            )
            record_outcome(con, outcome, context.run.run_id, partition[0] if partition else None)
            if outcome.critical_failures:
                # The run stops before publishing: whoever is on call hears it now, not only
                # from the Dagster UI (a channel that is down is retried by the next run).
                now = datetime.now(UTC)
                record_gate_failure(
                    con,
                    config,
                    suite=chosen.name,
                    failed_checks=[o.expectation.check_name for o in outcome.critical_failures],
                    partition=partition[1] if partition else None,
                    run_id=context.run.run_id,
                    at=now,
                )
                delivery = deliver_alerts(con, config.monitoring, now)
                for channel, why in delivery.failed.items():
                    context.log.warning(f"gate-failure alert not delivered by {channel}: {why}")
        context.log.info(
            f"{chosen.name}: {len(outcome.outcomes)} verdicts over {outcome.rows_validated} rows "
            f"in {outcome.seconds:.2f}s; {len(outcome.critical_failures)} critical and "
            f"{len(outcome.warnings)} warning failures"
        )
        for expectation in chosen.expectations:
            yield check_result(suite, expectation, outcome)

    return run_suite


def build_gate_checks(
    assets: Sequence[dg.AssetsDefinition],
    config: GovernanceConfig,
    config_path: Path | None = None,
    expectations_dir: Path | None = None,
) -> list[dg.AssetChecksDefinition]:
    """Checks for every suite, as governance.yaml adjusts them (lib/quality/overrides.py).

    Raises:
        SuiteError: a suite names no asset of `assets` (a typo in a file name must not silently
            disable a gate) or cannot be read.
        ConfigError: governance.yaml adjusts a suite, check or argument that does not exist.
    """
    partitions_by_key = {key: asset.partitions_def for asset in assets for key in asset.keys}
    suites = discover_suites(
        expectations_dir or settings.expectations_dir(), [s.name for s in config.sources]
    )
    validate_gate_config(config, suites, config_path)
    checks = []
    for suite in apply_gate_overrides(config, suites):
        key = dg.AssetKey(suite.asset_key)
        if key not in partitions_by_key:
            known = sorted(k.to_user_string() for k in partitions_by_key)
            raise SuiteError(
                f"{suite.path} gates {key.to_user_string()}, which no asset materialises; "
                f"assets: {known}. Rename the file after the table it gates, or delete it."
            )
        checks.append(_gate_check(suite, partitions_by_key[key]))
    return checks
