"""Expectations answered by Great Expectations, over pandas batches read out of DuckDB.

DuckDB (`sql_engine.py`) answers what it can; this module takes the rest, and the structural
expectations (which columns exist), which run against an empty frame of the table's columns.
GE's SQL path over duckdb-engine returns no metrics (ARCHITECTURE.md), so a batch is read into
pandas: only the columns its expectations use, one slice at a time, in dtypes GE's metrics
vectorise. GE's results are masked (`evidence.py`) before they become outcomes.

Importing and configuring GE costs ~10 s, so it happens once per process, on first use.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from functools import cache
from typing import Any

import duckdb
import pandas as pd

from dagster_project.lib.quality.evidence import SAMPLE_SIZE, plain, sanitise_result
from dagster_project.lib.quality.outcomes import (
    ExpectationOutcome,
    GateOutcome,
    outcome_from_result,
)
from dagster_project.lib.quality.sql_engine import quote
from dagster_project.lib.quality.suites import GateSuite, SuiteError, SuiteExpectation

# pandas holds datetimes in nanoseconds from 1677-09-22 to 2262-04-11; a typo'd birth year
# (0201) must still reach the range check, so values are clamped into that span in SQL and the
# evidence shows the real value (looked up by key).
_TS_FLOOR, _TS_CEILING = "1677-09-22", "2262-04-10"


@cache
def gx_batch_definition():
    # Importing and configuring Great Expectations costs ~10 s; do it once per process.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_pandas("custodian")
    asset = source.add_dataframe_asset("warehouse_table")
    return gx, asset.add_batch_definition_whole_dataframe("whole_table")


def build_gx_expectation(suite: GateSuite, expectation: SuiteExpectation):
    """The Great Expectations object for one suite entry; SuiteError names file and problem."""
    gx, _ = gx_batch_definition()
    class_name = "".join(part.title() for part in expectation.type.split("_"))
    expectation_class = getattr(gx.expectations, class_name, None)
    if expectation_class is None or not class_name.startswith("Expect"):
        raise SuiteError(f"{suite.path}: unknown expectation type {expectation.type!r}")
    try:
        return expectation_class(
            **expectation.kwargs,
            meta={**expectation.meta, "custodian_check": expectation.check_name},
            severity=expectation.severity,
            description=expectation.description,
        )
    except (ValueError, TypeError) as exc:
        # Great Expectations' pydantic models reject a missing or misspelt argument ("colum").
        problems = "; ".join(line.strip() for line in str(exc).splitlines()[1:]) or str(exc)
        raise SuiteError(
            f"{suite.path}: {expectation.type} ({expectation.check_name}): invalid kwargs "
            f"({problems})"
        ) from None


# SUMMARY: counts, percentages and the first few unexpected values with their row labels.
# Not `unexpected_index_column_names`: GE fetches that column for every unexpected row one by
# one (12 s of 27 s at 300,000 rows with 3% failing); the labels map to keys in one lookup.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}


def _run_gx(
    suite: GateSuite,
    expectations: list[SuiteExpectation],
    frame: pd.DataFrame,
    parameters: dict[str, Any],
):
    gx, batch_definition = gx_batch_definition()
    built = [build_gx_expectation(suite, expectation) for expectation in expectations]
    gx_suite = gx.ExpectationSuite(name=suite.name, expectations=built)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(
        gx_suite,
        result_format=RESULT_FORMAT,
        expectation_parameters=parameters,
    )


def _select_sql(column: str, expression: str, kind: str) -> str:
    if kind.startswith(("DATE", "TIMESTAMP")):
        # greatest() skips NULLs (it would turn a missing date into 1677): hence the case.
        clamped = (
            f"case when {expression} is not null then greatest(least({expression}::timestamp, "
            f"timestamp '{_TS_CEILING}'), timestamp '{_TS_FLOOR}') end"
        )
        return f"{clamped} as {quote(column)}"
    return f"{expression} as {quote(column)}"


def read_frame(
    con: duckdb.DuckDBPyConnection,
    suite: GateSuite,
    columns: Iterable[str],
    projection: dict[str, tuple[str, str]],
    where: str,
    params: list[Any],
) -> pd.DataFrame:
    """The batch's `columns` (as projected) for GE, in dtypes it vectorises; dates and times
    clamped into pandas' range."""
    wanted = [c for c in dict.fromkeys(columns) if c in projection]
    selects = ", ".join(_select_sql(c, *projection[c]) for c in wanted) or "1 as _row"
    frame = con.execute(
        f"select {selects} from {quote(suite.schema)}.{quote(suite.table)}{where}", params
    ).df()
    return _ge_friendly(frame)


def _ge_friendly(frame: pd.DataFrame) -> pd.DataFrame:
    """Dtypes GE's pandas metrics vectorise; others it compares row by row, ~25x slower."""
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            # Datetimes vectorise only at nanosecond precision (8 s -> 0.3 s per 1M values).
            frame[column] = frame[column].astype("datetime64[ns]")
        elif pd.api.types.is_integer_dtype(dtype) and dtype != "int64":
            # Only numpy int64/float64 take the vectorised path (DuckDB INTEGER is int32; a
            # nullable Int64 column holds NA): missing values stay missing as float NaN.
            series = frame[column]
            frame[column] = series.astype("float64" if series.isna().any() else "int64")
        elif pd.api.types.is_float_dtype(dtype) and dtype != "float64":
            frame[column] = frame[column].astype("float64")
    return frame


def _exception_message(item) -> str | None:
    info = item.exception_info or {}
    stack = [info]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("raised_exception") and node.get("exception_message"):
                return str(node["exception_message"]).splitlines()[0][:300]
            stack.extend(v for v in node.values() if isinstance(v, dict))
    if info and not item.success and not item.result:
        return "the expectation raised an error (see the Data Docs page)"
    return None


def _outcomes_from_result(
    suite: GateSuite, result, slice_name: str, frame: pd.DataFrame
) -> list[ExpectationOutcome]:
    """Outcomes per expectation; the GE result's values are masked in place, for Data Docs."""
    by_name = suite.by_check_name()
    key = suite.key_column
    outcomes = []
    for item in result.results:
        expectation = by_name[item.expectation_config.meta["custodian_check"]]
        raw = dict(item.result or {})
        # The keys of failing rows stay inside the gate (never shown): they look up evidence.
        labels = [
            label
            for label in raw.get("partial_unexpected_index_list") or []
            if label in frame.index
        ]
        failing_keys = (
            [plain(v) for v in frame.loc[labels, key].tolist()]
            if key and key in frame.columns and labels
            else []
        )
        item.result = sanitise_result(expectation, raw)
        outcomes.append(
            outcome_from_result(
                expectation,
                slice_name,
                bool(item.success),
                item.result,
                dict(item.expectation_config.kwargs),
                failing_keys,
                _exception_message(item),
            )
        )
    return outcomes


def validate_frame(
    suite: GateSuite,
    frame: pd.DataFrame,
    parameters: dict[str, Any] | None = None,
    *,
    expectations: list[SuiteExpectation] | None = None,
    slice_name: str = "all rows",
):
    """Validate one frame against the suite (or some of its expectations), no slicing.

    Returns the outcomes and the GE validation result (masked), for Data Docs.
    """
    chosen = list(suite.expectations) if expectations is None else expectations
    if not chosen:
        return [], None
    result = _run_gx(suite, chosen, frame, parameters or {})
    outcomes = _outcomes_from_result(suite, result, slice_name, frame)
    order = {e.check_name: i for i, e in enumerate(chosen)}
    outcomes.sort(key=lambda o: order[o.check_name])
    return outcomes, result


def outcome_for_frame(
    suite: GateSuite, frame: pd.DataFrame, parameters: dict[str, Any] | None = None
) -> GateOutcome:
    """A whole suite over one in-memory frame (structural expectations included): for tests
    and for suites whose data does not come from the warehouse."""
    outcomes, _ = validate_frame(suite, frame, parameters)
    return GateOutcome(suite, outcomes, rows_validated=len(frame))
