"""Quality gates: a suite (see `suites.py`) validated over a DuckDB table.

This module decides which rows a gate judges and by which engine: the batch (a partition, or
the whole table), its slices (`slice_by`), the suite's parameters, the rows the loader
recorded. Two engines give the same verdicts in GE's result format:

- DuckDB (`sql_engine.py`) answers every expectation made of counts and aggregates (row
  counts, not-null shares, value sets, ranges, regexes, uniqueness, mean/min/max): one grouped
  scan per scope gives every slice (`slice_by`) at once, and only the failing rows' keys come
  back. This is how the shipped suites run: at 1,000,000 records it replaced reading ~15
  columns per source into pandas and GE's metric graph (int_customer_records 14.3 s -> 5.8 s
  in bench/bench_gates.py, 14.7 s -> 2.3 s as a step of the daily pipeline).
- Great Expectations over pandas batches (`gx_engine.py`; its SQL path over duckdb-engine
  returns no metrics, ARCHITECTURE.md) takes whatever DuckDB does not answer, reading only the
  columns those expectations use, one slice at a time; structural expectations (which columns
  exist) run against an empty frame of the table's columns.

Raw tables hold every column as source text under the source's own names, so a raw batch is
the source's mapping from governance.yaml applied: `"电子邮箱" as email`. One raw suite shape
then fits every source, and masking knows each field's sensitivity class.

Everything that leaves this module (outcomes, Data Docs pages, gate_results rows) carries
failing values masked by `evidence.py`, never the values themselves.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from dagster_project.config import GovernanceConfig, SourceConfig
from dagster_project.lib.quality import data_docs, sql_engine
from dagster_project.lib.quality.evidence import (
    LINEAGE_COLUMNS,
    SAMPLE_SIZE,
    mask_for_evidence,
    plain,
    sanitise_result,
)
from dagster_project.lib.quality.gx_engine import build_gx_expectation, read_frame, validate_frame
from dagster_project.lib.quality.outcomes import (
    ExpectationOutcome,
    GateOutcome,
    NotJudged,
    outcome_from_result,
)
from dagster_project.lib.quality.overrides import (
    expectations_for_slice,
    is_per_source,
    sources_with_own_gates,
)
from dagster_project.lib.quality.sql_engine import SqlVerdict, literal, quote
from dagster_project.lib.quality.suites import GateSuite, SuiteExpectation

logger = logging.getLogger(__name__)

RAW_LOADED_STATUSES = ("loaded", "empty")


class GateError(RuntimeError):
    """A gate cannot run (its table is missing, its source is unknown)."""


# --- reading batches out of DuckDB ------------------------------------------------------------


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


def _partition_filter(suite: GateSuite, partition: tuple[str, str] | None, physical: dict):
    column = suite.partition_column
    if partition is None or column is None:
        return "", []
    if column not in physical:
        raise GateError(
            f"{suite.path}: partition_column {column!r} is not a column of {suite.qualified_table}"
        )
    return f" where {quote(column)}::date between ?::date and ?::date", list(partition)


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
    # The `slice_by` values the slice holds (several when small ones are pooled); empty when
    # the batch is not sliced.
    values: tuple[Any, ...] = ()


def plan_slices(
    con: duckdb.DuckDBPyConnection,
    suite: GateSuite,
    projection: dict[str, tuple[str, str]],
    where: str,
    params: list[Any],
    alone: frozenset[str] = frozenset(),
) -> list[Slice]:
    """The batch split by `slice_by`, counted in DuckDB; slices under `min_slice_rows` pooled,
    except values in `alone` (a source with thresholds of its own is judged by them alone).

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
        return Slice(name, filter_sql, params, rows, condition, tuple(values))

    large = [(v, n) for v, n in counts if n >= suite.min_slice_rows or v in alone]
    small = [(v, n) for v, n in counts if n < suite.min_slice_rows and v not in alone]
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

    structural = [e for e in suite.expectations if e.is_structural and not e.disabled]
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
    for expectation in suite.expectations:
        if expectation.disabled:
            outcome.not_judged.append(
                NotJudged(expectation.check_name, "every batch", expectation.disabled)
            )
    for scope in ("table", "partition"):
        expectations = [e for e in suite.expectations_in(scope) if not e.disabled]
        if not expectations:
            continue
        where, params = (
            _partition_filter(suite, partition, physical) if scope == "partition" else ("", [])
        )
        parts = (
            plan_slices(
                con,
                suite,
                projection,
                where,
                params,
                alone=frozenset(sources_with_own_gates(config, suite)) if config else frozenset(),
            )
            if scope == "partition"
            else [Slice("whole table")]
        )
        if kinds is None:
            kinds = sql_engine.column_kinds(con, table_sql, projection)
        # Slices judged by the same expectations (the same thresholds, the same fields mapped)
        # are evaluated together, in one scan.
        groups: dict[str, tuple[list[SuiteExpectation], list[Slice]]] = {}
        for part in parts:
            judged, skipped = expectations_for_slice(
                suite, expectations, config, _slice_sources(suite, part, source)
            )
            for check_name, reason in skipped.items():
                outcome.not_judged.append(NotJudged(check_name, part.name, reason))
            signature = repr([(e.check_name, e.kwargs, e.severity) for e in judged])
            groups.setdefault(signature, (judged, []))[1].append(part)
        for judged, group in groups.values():
            group_where = where
            if len(groups) > 1 and all(part.condition for part in group):
                joiner = " and " if where else " where "
                group_where = where + joiner + "(" + " or ".join(p.condition for p in group) + ")"
            rows_by_scope[scope] = rows_by_scope.get(scope, 0) + _validate_slices(
                con,
                suite,
                outcome,
                judged,
                group,
                parameters=parameters,
                projection=projection,
                kinds=kinds,
                table_sql=table_sql,
                key_sql=key_sql,
                where=(group_where, params),
                slice_where=(where, params),
                validations=validations,
            )
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


def _slice_sources(suite: GateSuite, part: Slice, source: SourceConfig | None) -> list[str] | None:
    """The sources whose rows a slice holds: a raw table's own source, the slice's values when
    the suite is sliced by source, else every source (None)."""
    if source is not None:
        return [source.name]
    if is_per_source(suite) and part.values:
        return [str(value) for value in part.values if value is not None]
    return None


def _validate_slices(
    con: duckdb.DuckDBPyConnection,
    suite: GateSuite,
    outcome: GateOutcome,
    expectations: list[SuiteExpectation],
    parts: list[Slice],
    *,
    parameters: dict[str, Any],
    projection: dict[str, tuple[str, str]],
    kinds: dict[str, str],
    table_sql: str,
    key_sql: str | None,
    where: tuple[str, list[Any]],
    slice_where: tuple[str, list[Any]],
    validations: list,
) -> int:
    """Judge `parts` by `expectations`: DuckDB where it can, GE for the rest; outcomes and Data
    Docs validations are appended. Returns the rows judged."""
    if not expectations:
        return sum(part.rows for part in parts)
    scan_where, params = where
    base_where, base_params = slice_where
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
                scan_where,
                params,
                [(part.name, part.condition) for part in parts],
                key_sql,
                projection,
            )
        except duckdb.Error as exc:
            # GE decides what DuckDB could not (a regex RE2 refuses): slower, right. Only the
            # error's kind is logged: DuckDB's cast errors quote the value.
            logger.warning(
                "%s: evaluated by GE instead of DuckDB (%s)", suite.path, type(exc).__name__
            )
            by_sql, verdicts = [], {}
    in_sql = {item.expectation.check_name for item in by_sql}
    by_gx = [e for e in expectations if e.check_name not in in_sql]
    order = {e.check_name: i for i, e in enumerate(expectations)}
    rows_judged = 0
    for part in parts:
        if part.filter_sql:
            joiner = " and " if base_where else " where "
            part_where = base_where + joiner + part.filter_sql
            part_params = [*base_params, *part.params]
        else:
            part_where, part_params = base_where, base_params
        if part.name in slice_rows:
            rows_judged += slice_rows[part.name]
        outcomes: list[ExpectationOutcome] = []
        masked: list[tuple[SqlVerdict, dict[str, Any]]] = []
        for verdict in verdicts.get(part.name, []):
            reason = _too_few_in_verdict(suite, verdict)
            if reason:
                outcome.not_judged.append(
                    NotJudged(verdict.expectation.check_name, part.name, reason)
                )
                continue
            details = sanitise_result(verdict.expectation, verdict.result)
            masked.append((verdict, details))
            outcomes.append(
                outcome_from_result(
                    verdict.expectation,
                    part.name,
                    verdict.success,
                    details,
                    verdict.kwargs,
                    [plain(key) for key in verdict.failing_keys],
                )
            )
        result = None
        if by_gx:
            needed = [c for e in by_gx for c in e.columns]
            if suite.key_column:
                needed.append(suite.key_column)
            rows = read_frame(con, suite, needed, projection, part_where, part_params)
            if part.name not in slice_rows:
                rows_judged += len(rows)
            judged = []
            for expectation in by_gx:
                reason = _too_few_values(suite, expectation, rows)
                if reason:
                    outcome.not_judged.append(NotJudged(expectation.check_name, part.name, reason))
                else:
                    judged.append(expectation)
            gx_outcomes, result = validate_frame(
                suite, rows, parameters, expectations=judged, slice_name=part.name
            )
            outcomes += gx_outcomes
            del rows  # one slice in memory at a time
        outcomes.sort(key=lambda o: order[o.check_name])
        for item in outcomes:
            if not item.success:
                item.sample_masked = (
                    _evidence(con, suite, item, projection, part_where, part_params)
                    or item.sample_masked
                )
        outcome.outcomes += outcomes
        if masked or result is not None:
            validations.append((part.name, masked, result))
    return rows_judged
