"""Great Expectations gates: suites from `expectations/`, validated over DuckDB tables.

A suite's file path names the table it gates: `expectations/<schema>/<table>.json` gates
`<schema>.<table>`, whose Dagster asset key is `[schema, table]`. Adding a gate is adding a file.

Great Expectations' SQL path over duckdb-engine returns no metrics (ARCHITECTURE.md), so the
table is read into pandas, restricted to the columns the suite uses. Each expectation's
`severity` decides what a failure does: `critical` blocks downstream assets, `warning` reports.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from dagster_project.lib.privacy.masking import mask_evidence

GATE_RESULTS_DDL = """
create table if not exists quality.gate_results (
    asset_key varchar not null,
    partition_key varchar,
    suite_name varchar not null,
    expectation_type varchar not null,
    column_name varchar,
    severity varchar not null,
    success boolean not null,
    observed_value varchar,
    unexpected_percent double,
    element_count bigint,
    run_id varchar,
    validated_at timestamp not null
)
"""


@dataclass(frozen=True)
class GateSuite:
    path: Path
    schema: str
    table: str
    definition: dict[str, Any]

    @property
    def name(self) -> str:
        return self.definition.get("name") or f"{self.schema}.{self.table}"

    @property
    def asset_key(self) -> list[str]:
        return [self.schema, self.table]

    @property
    def columns(self) -> list[str]:
        used: list[str] = []
        for expectation in self.definition.get("expectations", []):
            kwargs = expectation.get("kwargs", {})
            for column in [kwargs.get("column"), *kwargs.get("column_list", [])]:
                if column and column not in used:
                    used.append(column)
        return used

    @property
    def is_blocking(self) -> bool:
        return any(
            expectation.get("severity", "critical") == "critical"
            for expectation in self.definition.get("expectations", [])
        )


@dataclass
class ExpectationOutcome:
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    observed_value: Any = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    sample_masked: list[Any] = field(default_factory=list)


@dataclass
class GateOutcome:
    suite: GateSuite
    outcomes: list[ExpectationOutcome]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]


class SuiteError(ValueError):
    """A suite file cannot be used; the message names the file and the problem."""


def discover_suites(expectations_dir: Path) -> list[GateSuite]:
    """Every `<schema>/<table>.json` under the folder, parsed."""
    suites = []
    for path in sorted(expectations_dir.glob("*/*.json")):
        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(definition, dict) or not isinstance(definition.get("expectations"), list):
            raise SuiteError(f"{path}: a suite needs an 'expectations' list")
        for index, expectation in enumerate(definition["expectations"]):
            if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
                raise SuiteError(f"{path}: expectations[{index}] needs a 'type' (text)")
            if expectation.get("severity", "critical") not in ("critical", "warning", "info"):
                raise SuiteError(
                    f"{path}: expectations[{index}].severity must be critical, warning or info"
                )
        suites.append(GateSuite(path, path.parent.name, path.stem, definition))
    return suites


@cache
def _gx_batch_definition():
    # Importing and configuring Great Expectations costs seconds; do it once per process.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_pandas("custodian")
    asset = source.add_dataframe_asset("warehouse_table")
    return gx, asset.add_batch_definition_whole_dataframe("whole_table")


def _plain(value: Any) -> Any:
    """JSON-ready Python values: evidence goes into Dagster metadata, which must serialise."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )


def _masked_sample(column: str | None, values: list[Any]) -> list[Any]:
    # Pandas gives a missing value back as NaN; masked as text it would read "n**", a value.
    return _plain(
        [
            None
            if pd.api.types.is_scalar(value) and pd.isna(value)
            else mask_evidence(column, value)
            for value in values[:5]
        ]
    )


def validate_frame(suite: GateSuite, frame: pd.DataFrame) -> GateOutcome:
    gx, batch_definition = _gx_batch_definition()
    expectations = suite.definition["expectations"]
    try:
        built = [_build_expectation(gx, e) for e in expectations]
    except SuiteError as exc:
        raise SuiteError(f"{suite.path}: {exc}") from None
    gx_suite = gx.ExpectationSuite(name=suite.name, expectations=built)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(gx_suite, result_format="SUMMARY")
    outcomes = []
    for expectation, item in zip(expectations, result.results, strict=True):
        details = item.result or {}
        column = expectation.get("kwargs", {}).get("column")
        observed = details.get("observed_value")
        outcomes.append(
            ExpectationOutcome(
                expectation_type=expectation["type"],
                column=column,
                severity=expectation.get("severity", "critical"),
                success=bool(item.success),
                observed_value=_plain(observed),
                unexpected_percent=details.get("unexpected_percent"),
                element_count=details.get("element_count"),
                sample_masked=_masked_sample(column, details.get("partial_unexpected_list") or []),
            )
        )
    return GateOutcome(suite, outcomes)


def _build_expectation(gx, expectation: dict[str, Any]):
    class_name = "".join(part.title() for part in expectation["type"].split("_"))
    try:
        expectation_class = getattr(gx.expectations, class_name)
    except AttributeError:
        raise SuiteError(f"unknown expectation type {expectation['type']!r}") from None
    try:
        return expectation_class(**expectation.get("kwargs", {}), meta=expectation.get("meta", {}))
    except ValueError as exc:
        # Great Expectations' pydantic models reject a missing or misspelt argument ("colum").
        problems = "; ".join(line.strip() for line in str(exc).splitlines()[1:])
        raise SuiteError(f"{expectation['type']}: invalid kwargs ({problems})") from None


def validate_table(con: duckdb.DuckDBPyConnection, suite: GateSuite) -> GateOutcome:
    columns = ", ".join(f'"{c}"' for c in suite.columns) or "1 as _row"
    frame = con.execute(f'select {columns} from "{suite.schema}"."{suite.table}"').df()
    return validate_frame(suite, frame)


def record_outcome(
    con: duckdb.DuckDBPyConnection, outcome: GateOutcome, run_id: str, partition_key: str | None
) -> None:
    con.execute(GATE_RESULTS_DDL)
    now = datetime.now(UTC).replace(tzinfo=None)
    con.executemany(
        "insert into quality.gate_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                "/".join(outcome.suite.asset_key),
                partition_key,
                outcome.suite.name,
                item.expectation_type,
                item.column,
                item.severity,
                item.success,
                None
                if item.observed_value is None
                else json.dumps(item.observed_value, default=str),
                item.unexpected_percent,
                item.element_count,
                run_id,
                now,
            ]
            for item in outcome.outcomes
        ],
    )
