"""Great Expectations gates: a suite (see `suites.py`) validated over a DuckDB table.

Two engines give the same verdicts in GE's result format:

- DuckDB (`sql_engine.py`) answers every expectation made of counts and aggregates (row
  counts, not-null shares, value sets, ranges, regexes, uniqueness, mean/min/max): one grouped
  scan per scope gives every slice (`slice_by`) at once, and only the failing rows' keys come
  back. This is how the shipped suites run: at 1,000,000 records it replaced reading ~15
  columns per source into pandas and GE's metric graph (int_customer_records 14.3 s -> 5.8 s
  in bench/bench_gates.py, 14.7 s -> 2.3 s as a step of the daily pipeline).
- Great Expectations over pandas batches (its SQL path over duckdb-engine returns no metrics,
  ARCHITECTURE.md) takes whatever DuckDB does not answer, reading only the columns those
  expectations use, one slice at a time; structural expectations (which columns exist) run
  against an empty frame of the table's columns.

Raw tables hold every column as source text under the source's own names, so a raw batch is
the source's mapping from governance.yaml applied: `"电子邮箱" as email`. One raw suite shape
then fits every source, and masking knows each field's sensitivity class.

Everything that leaves this module (outcomes, Data Docs pages, gate_results rows) carries
failing values masked by `masking.mask_evidence`, never the values themselves.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from dagster_project.config import GovernanceConfig, SourceConfig
from dagster_project.lib.ingest import loader
from dagster_project.lib.privacy.masking import mask_evidence
from dagster_project.lib.quality import sql_engine
from dagster_project.lib.quality.sql_engine import SqlVerdict, literal
from dagster_project.lib.quality.suites import (
    GateSuite,
    SuiteError,
    SuiteExpectation,
)

logger = logging.getLogger(__name__)

# Lineage and load facts the platform writes itself: line numbers, dates, paths and counts,
# never a customer's value, so evidence shows them as they are.
LINEAGE_COLUMNS = frozenset(loader.LINEAGE_COLUMNS)
LOAD_FACT_COLUMNS = frozenset(
    {"_load_status", "_rows_read", "_rows_loaded", "_rows_quarantined", "_quarantine_share"}
)
RAW_LOADED_STATUSES = ("loaded", "empty")
_REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{2,39}$")

SAMPLE_SIZE = 5
_THRESHOLD_EXCLUDED = {"column", "column_list", "column_A", "column_B", "batch_id"}
_COUNT_FIELDS = (
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
)
# pandas holds datetimes in nanoseconds from 1677-09-22 to 2262-04-11; a typo'd birth year
# (0201) must still reach the range check, so values are clamped into that span in SQL and the
# evidence shows the real value (looked up by key).
_TS_FLOOR, _TS_CEILING = "1677-09-22", "2262-04-10"


class GateError(RuntimeError):
    """A gate cannot run (its table is missing, its source is unknown)."""


@dataclass
class ExpectationOutcome:
    """One expectation's verdict on one slice of one batch."""

    expectation: SuiteExpectation
    slice_name: str
    success: bool
    observed_value: Any = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    threshold: dict[str, Any] = field(default_factory=dict)
    sample_masked: list[Any] = field(default_factory=list)
    exception: str | None = None
    data_docs_page: Path | None = None
    # Keys of failing rows, to look evidence up; never shown.
    failing_keys: list[Any] = field(default_factory=list, repr=False)

    @property
    def check_name(self) -> str:
        return self.expectation.check_name

    @property
    def expectation_type(self) -> str:
        return self.expectation.type

    @property
    def column(self) -> str | None:
        return self.expectation.column

    @property
    def severity(self) -> str:
        return self.expectation.severity


@dataclass(frozen=True)
class NotJudged:
    check_name: str
    slice_name: str
    reason: str


@dataclass
class GateOutcome:
    """A suite's validation: every expectation's outcome per slice."""

    suite: GateSuite
    outcomes: list[ExpectationOutcome]
    partition: tuple[str, str] | None = None
    not_judged: list[NotJudged] = field(default_factory=list)
    skipped_reason: str | None = None
    rows_validated: int = 0
    seconds: float = 0.0
    data_docs_pages: list[Path] = field(default_factory=list)

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def partition_label(self) -> str | None:
        if self.partition is None:
            return None
        start, end = self.partition
        return start if start == end else f"{start}..{end}"

    def for_check(self, check_name: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.check_name == check_name]


# --- Great Expectations ----------------------------------------------------------------------


@cache
def _gx_batch_definition():
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
    gx, _ = _gx_batch_definition()
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
    gx, batch_definition = _gx_batch_definition()
    built = [build_gx_expectation(suite, expectation) for expectation in expectations]
    gx_suite = gx.ExpectationSuite(name=suite.name, expectations=built)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(
        gx_suite,
        result_format=RESULT_FORMAT,
        expectation_parameters=parameters,
    )


# --- masking ---------------------------------------------------------------------------------


def mask_for_evidence(column: str | None, value: Any) -> Any:
    """A value safe to show: lineage and load facts as they are, everything else masked by the
    column's sensitivity class (unknown columns are treated as personal data)."""
    value = _plain(value)
    if value is None:
        return None
    if column in LINEAGE_COLUMNS or column in LOAD_FACT_COLUMNS:
        return value
    if column and column.endswith("_invalid_reason") and _is_reason_code(value):
        return value
    if isinstance(value, list):
        return [mask_for_evidence(column, item) for item in value]
    if isinstance(value, dict):
        return {key: mask_for_evidence(column, item) for key, item in value.items()}
    return mask_evidence(column or "", value) if column else value


def _is_reason_code(value: Any) -> bool:
    # `<field>_invalid_reason` holds the standardiser's codes (no_domain, bad_check_digit,
    # before_1900; declared `pii: none` in dbt), which say why without saying what. Anything
    # that does not look like such a code is masked like the field itself would be.
    return isinstance(value, str) and bool(_REASON_CODE.match(value))


def _mask_observed(column: str | None, value: Any) -> Any:
    # Table-level observations are counts and column names; a column aggregate (its minimum,
    # its most common value) can be a customer's value and is masked like one. Numbers and
    # flags pass: a count or a share says nothing about a person.
    value = _plain(value)
    if column is None or value is None or isinstance(value, bool | int | float):
        return value
    return mask_for_evidence(column, value)


def _plain(value: Any) -> Any:
    """JSON-ready Python values: evidence goes into Dagster metadata, which must serialise."""
    if value is None:
        return None
    # Exact Python types: numpy's float64 is a float, yet GE's renderers and JSON encoders
    # that check types reject it.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return str(value)


def _mask_for(expectation: SuiteExpectation, value: Any) -> Any:
    """Mask a value GE reports for an expectation: by its column; a multi-column expectation's
    rows ({column: value}) column by column; anything else it reads as personal data."""
    if isinstance(value, dict) and expectation.column is None:
        return {str(k): mask_for_evidence(str(k), v) for k, v in value.items()}
    if expectation.column is not None:
        return mask_for_evidence(expectation.column, value)
    if expectation.columns:
        return _plain(value) if value is None else mask_evidence("", _plain(value))
    return _plain(value)  # table-level: counts and column names


def _sanitise_result(expectation: SuiteExpectation, result: dict[str, Any]) -> dict[str, Any]:
    """GE's result dict with every customer value masked, for metadata and Data Docs alike."""
    clean: dict[str, Any] = {}
    for key, value in result.items():
        if key in _COUNT_FIELDS:
            clean[key] = _plain(value)
        elif key == "observed_value":
            clean[key] = _mask_observed(expectation.column, value)
        elif key == "partial_unexpected_list":
            clean[key] = [_mask_for(expectation, v) for v in value or []]
        elif key == "partial_unexpected_counts":
            clean[key] = [
                {"value": _mask_for(expectation, item.get("value")), "count": item.get("count")}
                for item in value or []
            ]
        elif key in ("partial_unexpected_index_list", "unexpected_index_column_names"):
            clean[key] = _plain(value)  # row labels of the pandas batch, not values
        elif key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            continue  # full lists are never requested; drop them if GE adds them anyway
        elif key == "details" and expectation.column is None and not expectation.columns:
            clean[key] = _plain(value)  # table shape: which columns are missing
        else:
            # `details` and anything GE adds later: value counts can hold customers' values.
            clean[key] = _mask_nested(expectation, value)
    return clean


def _mask_nested(expectation: SuiteExpectation, value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, dict):
        return {k: _mask_nested(expectation, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_nested(expectation, v) for v in value]
    if isinstance(value, str):
        return _mask_for(expectation, value)
    return value


# --- reading batches out of DuckDB ------------------------------------------------------------


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """The table's columns and DuckDB types, in table order; empty when it does not exist."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return dict(rows)


def raw_source(config: GovernanceConfig | None, suite: GateSuite) -> SourceConfig:
    if config is None:
        raise GateError(f"{suite.path}: a raw suite needs governance.yaml to map its columns")
    source_name = suite.table.removesuffix("__customers")
    names = [source.name for source in config.sources]
    if source_name not in names or not suite.table.endswith("__customers"):
        raise GateError(
            f"{suite.path}: raw.{suite.table} is not a configured source's table; sources: {names}"
        )
    return config.source(source_name)


def _projection(
    suite: GateSuite, physical: dict[str, str], source: SourceConfig | None
) -> dict[str, tuple[str, str]]:
    """Output column -> (SQL expression, DuckDB type) for every column a batch may read."""
    projection: dict[str, tuple[str, str]] = {}
    if source is not None:
        # Raw: canonical field names over the source's columns, exactly as staging maps them.
        for field_name, mapped in source.mapping.items():
            if isinstance(mapped, str):
                if mapped in physical:
                    projection[field_name] = (quote(mapped), physical[mapped])
            else:
                projection[field_name] = (f"({mapped.expr})", "VARCHAR")
        for column in LINEAGE_COLUMNS & set(physical):
            projection[column] = (quote(column), physical[column])
    else:
        projection = {column: (quote(column), kind) for column, kind in physical.items()}
    for name, expression in suite.derived_columns.items():
        projection[name] = (f"({expression})", "DERIVED")
    return projection


def _select_sql(column: str, expression: str, kind: str) -> str:
    if kind.startswith(("DATE", "TIMESTAMP")):
        # greatest() skips NULLs (it would turn a missing date into 1677): hence the case.
        clamped = (
            f"case when {expression} is not null then greatest(least({expression}::timestamp, "
            f"timestamp '{_TS_CEILING}'), timestamp '{_TS_FLOOR}') end"
        )
        return f"{clamped} as {quote(column)}"
    return f"{expression} as {quote(column)}"


def _partition_filter(suite: GateSuite, partition: tuple[str, str] | None, physical: dict):
    column = suite.partition_column
    if partition is None or column is None:
        return "", []
    if column not in physical:
        raise GateError(
            f"{suite.path}: partition_column {column!r} is not a column of {suite.qualified_table}"
        )
    return f" where {quote(column)}::date between ?::date and ?::date", list(partition)


def _read_frame(
    con: duckdb.DuckDBPyConnection,
    suite: GateSuite,
    columns: Iterable[str],
    projection: dict[str, tuple[str, str]],
    where: str,
    params: list[Any],
) -> pd.DataFrame:
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


def _load_facts(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, partition: tuple[str, str] | None
) -> dict[str, Any] | None:
    """What the loader recorded for the partition(s): status and row counts from ops.load_log."""
    if partition is None:
        return None
    has_log = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'ops' and table_name = 'load_log'"
    ).fetchone()[0]
    if not has_log:
        return {"_load_status": "not_loaded"}
    rows = con.execute(
        """
        select status, rows_read, rows_loaded, rows_quarantined
        from ops.load_log
        where source_name = ? and partition_date between ?::date and ?::date
        qualify row_number() over (partition by partition_date order by finished_at desc) = 1
        """,
        [source.name, *partition],
    ).fetchall()
    if not rows:
        return {"_load_status": "not_loaded"}
    statuses = sorted({row[0] for row in rows})
    rows_read = sum(row[1] for row in rows)
    quarantined = sum(row[3] for row in rows)
    return {
        "_load_status": ",".join(statuses),
        "_rows_read": rows_read,
        "_rows_loaded": sum(row[2] for row in rows),
        "_rows_quarantined": quarantined,
        "_quarantine_share": quarantined / rows_read if rows_read else 0.0,
    }


def suite_parameters(
    suite: GateSuite,
    config: GovernanceConfig | None,
    partition: tuple[str, str] | None,
    today: date | None = None,
) -> dict[str, Any]:
    """Values for the suite's `{"$PARAMETER": name}` thresholds (see SUITE_PARAMETERS)."""
    today = today or datetime.now(UTC).date()
    start = date.fromisoformat(partition[0]) if partition else today
    end = date.fromisoformat(partition[1]) if partition else today
    parameters: dict[str, Any] = {
        "partition_date": datetime.combine(start, datetime.min.time()),
        # Records delivered for day D were changed by the end of D in the source's time zone;
        # two days' margin covers time zones and late-evening extracts.
        "latest_plausible_time": datetime.combine(end + timedelta(days=2), datetime.min.time()),
    }
    if config is not None:
        parameters["source_names"] = [source.name for source in config.sources]
    if suite.is_raw and config is not None:
        source = raw_source(config, suite)
        parameters["mapped_columns"] = sorted(source.mapped_columns())
        parameters["max_quarantine_share"] = source.max_quarantine_share
    missing = suite.parameters - set(parameters)
    if missing:
        raise GateError(
            f"{suite.path}: suite parameter(s) {sorted(missing)} have no value here "
            "(raw-suite parameters need governance.yaml)"
        )
    return parameters


# --- slices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    """Rows of the batch judged together: one value of `slice_by`, or small ones pooled."""

    name: str
    filter_sql: str = ""
    params: tuple[Any, ...] = ()
    rows: int = 0
    # The same condition with its values inlined: a CASE branch naming the slice in one scan.
    condition: str = ""


def plan_slices(
    con: duckdb.DuckDBPyConnection,
    suite: GateSuite,
    projection: dict[str, tuple[str, str]],
    where: str,
    params: list[Any],
) -> list[Slice]:
    """The batch split by `slice_by`, counted in DuckDB; slices under `min_slice_rows` pooled.

    Each slice is then read on its own, so memory holds one source's day, not the whole day.
    """
    column = suite.slice_by
    if not column or column not in projection:
        return [Slice("all rows")]
    expression = projection[column][0]
    counts = con.execute(
        f"select {expression}::varchar as value, count(*) from "
        f"{quote(suite.schema)}.{quote(suite.table)}{where} group by all order by 1 nulls last",
        params,
    ).fetchall()
    if not counts:
        return [Slice("all rows")]

    def label(value: Any) -> str:
        return "NULL" if value is None else str(value)

    def rows_with(values: list[Any]) -> tuple[str, tuple[Any, ...], str]:
        given = [v for v in values if v is not None]
        parts = [f"{expression}::varchar in ({', '.join('?' for _ in given)})"] if given else []
        inlined = (
            [f"{expression}::varchar in ({', '.join(literal(v) for v in given)})"] if given else []
        )
        if len(given) < len(values):
            parts.append(f"{expression} is null")
            inlined.append(f"{expression} is null")
        return "(" + " or ".join(parts) + ")", tuple(given), "(" + " or ".join(inlined) + ")"

    def make(name: str, values: list[Any], rows: int) -> Slice:
        filter_sql, params, condition = rows_with(values)
        return Slice(name, filter_sql, params, rows, condition)

    large = [(v, n) for v, n in counts if n >= suite.min_slice_rows]
    small = [(v, n) for v, n in counts if n < suite.min_slice_rows]
    planned = [make(f"{column}={label(v)}", [v], n) for v, n in large]
    if len(small) == 1:
        ((value, rows),) = small
        planned.append(make(f"{column}={label(value)}", [value], rows))
    elif small:
        names = ", ".join(label(v) for v, _ in small)
        planned.append(
            make(f"{column} in ({names})", [v for v, _ in small], sum(n for _, n in small))
        )
    return planned


def _too_few_in_verdict(suite: GateSuite, verdict: SqlVerdict) -> str | None:
    """`_too_few_values` from a SQL verdict's counts."""
    expectation = verdict.expectation
    minimum = suite.min_values_for_rates
    if not minimum or not expectation.is_rate:
        return None
    element_count = verdict.result.get("element_count") or 0
    if expectation.type == "expect_column_values_to_not_be_null":
        count = element_count
    else:
        count = element_count - (verdict.result.get("missing_count") or 0)
    if count >= minimum:
        return None
    return f"{count} value(s) of {expectation.column}, fewer than {minimum}: a share is noise"


def _too_few_values(
    suite: GateSuite, expectation: SuiteExpectation, frame: pd.DataFrame
) -> str | None:
    minimum = suite.min_values_for_rates
    if not minimum or not expectation.is_rate or expectation.column not in frame.columns:
        return None
    if expectation.type == "expect_column_values_to_not_be_null":
        count = len(frame)
    else:
        count = int(frame[expectation.column].notna().sum())
    if count >= minimum:
        return None
    return f"{count} value(s) of {expectation.column}, fewer than {minimum}: a share is noise"


# --- outcomes --------------------------------------------------------------------------------


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


def _observed(details: dict[str, Any]) -> Any:
    """GE's observed value; per-row expectations have none, so the share of non-missing values
    that met the expectation stands in (comparable with `mostly`)."""
    if "observed_value" in details:
        return details["observed_value"]
    percent = details.get("unexpected_percent")
    if percent is None:
        return None
    return round(1 - percent / 100, 6)


def _threshold(kwargs: dict[str, Any]) -> dict[str, Any]:
    threshold = {}
    for key, value in kwargs.items():
        if key in _THRESHOLD_EXCLUDED or value is None:
            continue
        value = _plain(value)
        if isinstance(value, list) and len(value) > 20:
            value = [*value[:20], f"... {len(value) - 20} more"]
        threshold[key] = value
    return threshold


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
        # The keys of failing rows stay inside this module: they look up evidence.
        labels = [
            label
            for label in raw.get("partial_unexpected_index_list") or []
            if label in frame.index
        ]
        failing_keys = (
            [_plain(v) for v in frame.loc[labels, key].tolist()]
            if key and key in frame.columns and labels
            else []
        )
        item.result = _sanitise_result(expectation, raw)
        outcomes.append(
            _outcome(
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


def _outcome(
    expectation: SuiteExpectation,
    slice_name: str,
    success: bool,
    details: dict[str, Any],
    kwargs: dict[str, Any],
    failing_keys: list[Any],
    exception: str | None = None,
) -> ExpectationOutcome:
    """An outcome from a GE-format result (already masked), however it was computed."""
    sample = list(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
    if not success and not sample and details.get("details"):
        # Aggregates and table shapes have no failing rows; GE's details say what was off
        # (the columns missing from a table), already masked.
        sample = [details["details"]]
    return ExpectationOutcome(
        expectation=expectation,
        slice_name=slice_name,
        success=success,
        observed_value=_observed(details),
        unexpected_percent=_plain(details.get("unexpected_percent")),
        element_count=_plain(details.get("element_count")),
        threshold=_threshold(kwargs),
        sample_masked=sample,
        exception=exception,
        failing_keys=failing_keys,
    )


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


def _evidence(
    con: duckdb.DuckDBPyConnection,
    suite: GateSuite,
    outcome: ExpectationOutcome,
    projection: dict[str, tuple[str, str]],
    where: str,
    params: list[Any],
) -> list[dict[str, Any]]:
    """The failing rows' key, the expectation's column and its evidence columns, masked."""
    key = suite.key_column
    keys = [k for k in outcome.failing_keys if k is not None][:SAMPLE_SIZE]
    if not key or not keys or key not in projection:
        return []
    wanted = [key, *outcome.expectation.columns, *outcome.expectation.evidence_columns]
    columns = [c for c in dict.fromkeys(wanted) if c in projection]
    selects = ", ".join(f"{projection[c][0]} as {quote(c)}" for c in columns)
    key_filter = f"{projection[key][0]} in ({', '.join('?' for _ in keys)})"
    clause = f"{where} and {key_filter}" if where else f" where {key_filter}"
    rows = con.execute(
        f"select {selects} from {quote(suite.schema)}.{quote(suite.table)}{clause} "
        f"limit {SAMPLE_SIZE}",
        [*params, *keys],
    ).fetchall()
    return [
        {
            column: mask_for_evidence(column, value)
            for column, value in zip(columns, row, strict=True)
        }
        for row in rows
    ]


def validate_table(
    con: duckdb.DuckDBPyConnection,
    suite: GateSuite,
    *,
    partition: tuple[str, str] | None = None,
    config: GovernanceConfig | None = None,
    run_id: str = "adhoc",
    data_docs_dir: Path | None = None,
    today: date | None = None,
) -> GateOutcome:
    """Validate the suite's table (the partition's rows, for partition-scoped expectations).

    Raises:
        GateError: the table does not exist, or a raw suite names no configured source.
        SuiteError: an expectation type or argument is unknown to Great Expectations.
    """
    from dagster_project.lib.quality import data_docs

    clock = datetime.now(UTC)
    started = time.perf_counter()
    source = raw_source(config, suite) if suite.is_raw else None
    partition = partition if suite.partition_column else None
    parameters = suite_parameters(suite, config, partition, today)
    outcome = GateOutcome(suite, [], partition=partition)

    # A day a source sent nothing for (before its start_date, a skipped re-sent file, a
    # tolerated missing file) has nothing to judge, and its table may not even exist yet.
    facts = _load_facts(con, source, partition) if source is not None else None
    if facts is not None and not set(facts["_load_status"].split(",")) & set(RAW_LOADED_STATUSES):
        outcome.skipped_reason = (
            f"no rows were loaded for {outcome.partition_label} "
            f"(load status: {facts['_load_status']}); nothing to validate"
        )
        outcome.seconds = time.perf_counter() - started
        return outcome
    physical = table_columns(con, suite.schema, suite.table)
    if not physical:
        raise GateError(
            f"{suite.path}: table {suite.qualified_table} does not exist; the gate runs after "
            "its asset materialises"
        )

    if data_docs_dir is not None:
        # GE is imported for the pages anyway (and preloaded in the forkserver): let it reject
        # a kwarg it would not run (~1 ms an expectation), as when it evaluated every rule.
        for expectation in suite.expectations:
            build_gx_expectation(suite, expectation)
    projection = _projection(suite, physical, source)
    for column, value in (facts or {}).items():
        # The load log's facts are constants of the batch (a quarantine share of 0.05).
        projection[column] = (literal(value), "VARCHAR" if isinstance(value, str) else "DOUBLE")
    # Per validated batch: its label, the SQL verdicts (masked) and GE's result, if GE ran.
    validations: list[tuple[str, list[tuple[SqlVerdict, dict[str, Any]]], Any]] = []

    structural = [e for e in suite.expectations if e.is_structural]
    if structural:
        empty = pd.DataFrame(columns=list(physical))
        outcomes, result = validate_frame(
            suite, empty, parameters, expectations=structural, slice_name="table columns"
        )
        outcome.outcomes += outcomes
        validations.append(("table columns", [], result))

    table_sql = f"{quote(suite.schema)}.{quote(suite.table)}"
    key_sql = projection[suite.key_column][0] if suite.key_column in projection else None
    kinds: dict[str, str] | None = None
    rows_by_scope: dict[str, int] = {}
    for scope in ("table", "partition"):
        expectations = suite.expectations_in(scope)
        if not expectations:
            continue
        where, params = (
            _partition_filter(suite, partition, physical) if scope == "partition" else ("", [])
        )
        parts = (
            plan_slices(con, suite, projection, where, params)
            if scope == "partition"
            else [Slice("whole table")]
        )
        if kinds is None:
            kinds = sql_engine.column_kinds(con, table_sql, projection)
        planned = [sql_engine.plan_sql(e, parameters, projection, kinds) for e in expectations]
        by_sql = [item for item in planned if item is not None]
        verdicts: dict[str, list[SqlVerdict]] = {}
        slice_rows: dict[str, int] = {}
        if by_sql:
            try:
                verdicts, slice_rows = sql_engine.evaluate(
                    con,
                    by_sql,
                    table_sql,
                    where,
                    params,
                    [(part.name, part.condition) for part in parts],
                    key_sql,
                    projection,
                )
            except duckdb.Error as exc:
                # GE decides what DuckDB could not (a regex RE2 refuses): slower, right. Only
                # the error's kind is logged: DuckDB's cast errors quote the value.
                logger.warning(
                    "%s: %s scope evaluated by GE instead of DuckDB (%s)",
                    suite.path,
                    scope,
                    type(exc).__name__,
                )
                by_sql, verdicts = [], {}
        in_sql = {item.expectation.check_name for item in by_sql}
        by_gx = [e for e in expectations if e.check_name not in in_sql]

        for part in parts:
            if part.filter_sql:
                joiner = " and " if where else " where "
                slice_where, slice_params = (
                    where + joiner + part.filter_sql,
                    [*params, *part.params],
                )
            else:
                slice_where, slice_params = where, params
            if part.name in slice_rows:
                rows_by_scope[scope] = rows_by_scope.get(scope, 0) + slice_rows[part.name]
            outcomes: list[ExpectationOutcome] = []
            masked: list[tuple[SqlVerdict, dict[str, Any]]] = []
            for verdict in verdicts.get(part.name, []):
                reason = _too_few_in_verdict(suite, verdict)
                if reason:
                    outcome.not_judged.append(
                        NotJudged(verdict.expectation.check_name, part.name, reason)
                    )
                    continue
                details = _sanitise_result(verdict.expectation, verdict.result)
                masked.append((verdict, details))
                outcomes.append(
                    _outcome(
                        verdict.expectation,
                        part.name,
                        verdict.success,
                        details,
                        verdict.kwargs,
                        [_plain(key) for key in verdict.failing_keys],
                    )
                )
            result = None
            if by_gx:
                needed = [c for e in by_gx for c in e.columns]
                if suite.key_column:
                    needed.append(suite.key_column)
                rows = _read_frame(con, suite, needed, projection, slice_where, slice_params)
                if part.name not in slice_rows:
                    rows_by_scope[scope] = rows_by_scope.get(scope, 0) + len(rows)
                judged = []
                for expectation in by_gx:
                    reason = _too_few_values(suite, expectation, rows)
                    if reason:
                        outcome.not_judged.append(
                            NotJudged(expectation.check_name, part.name, reason)
                        )
                    else:
                        judged.append(expectation)
                gx_outcomes, result = validate_frame(
                    suite, rows, parameters, expectations=judged, slice_name=part.name
                )
                outcomes += gx_outcomes
                del rows  # one slice in memory at a time
            order = {e.check_name: i for i, e in enumerate(expectations)}
            outcomes.sort(key=lambda o: order[o.check_name])
            for item in outcomes:
                if not item.success:
                    item.sample_masked = (
                        _evidence(con, suite, item, projection, slice_where, slice_params)
                        or item.sample_masked
                    )
            outcome.outcomes += outcomes
            if masked or result is not None:
                validations.append((part.name, masked, result))
    # Rows judged: the day's (all slices), or the whole table's when that is all it judged.
    outcome.rows_validated = max(rows_by_scope.values(), default=0)

    if data_docs_dir is not None:
        for label, masked, result in validations:
            page = data_docs.write_validation_page(
                data_docs_dir,
                data_docs.combined_result(suite, masked, result),
                suite=suite,
                batch_label=label,
                run_id=run_id,
                validated_at=clock,
                partition=outcome.partition_label,
            )
            outcome.data_docs_pages.append(page)
            for item in outcome.outcomes:
                if item.slice_name == label:
                    item.data_docs_page = page
        data_docs.write_index(data_docs_dir)
    outcome.seconds = time.perf_counter() - started
    return outcome
