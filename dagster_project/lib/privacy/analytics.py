"""The analyst database: the published marts with every column made safe at rest (R24, R27).

A separate DuckDB file, rebuilt by the daily job after the marts are published. What an analyst
can read is what is stored, so no SQL (an alias, `lower(email)`, a join, a cast) can show more:
- each column is treated by the class the data dictionary gives it (dbt/models/**/_*.yml,
  meta.pii): `none` is kept, direct identifiers and quasi-identifiers are masked as the
  `masking` section says (138****8000, z***@qq.com, 张*), `sensitive` is redacted, and a column
  the dictionary does not class is masked as a direct identifier (fail closed: a new mart column
  is safe before anyone classes it);
- join keys (`analytics.pseudonymise`) become keyed HMAC-SHA256 pseudonyms, equal across marts,
  so analysts can join the marts but not back to the warehouse;
- `analytics.generalise` coarsens quasi-identifiers that serve analysis: a birth date becomes its
  year, a city its province;
- a customer whose current marketing consent is withdrawn (`consent_marketing` false) has the
  columns `analytics.withhold_without_marketing_consent` names left empty (R28).

Built into `<file>.new`, checked (rows as published; no direct identifier or key of the warehouse
present verbatim in any column), then moved over the file in one rename: a failed build or check
keeps yesterday's analyst database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.config import AnalyticsConfig, MaskingConfig
from dagster_project.lib.monitoring.events import CUSTOMER_RISK
from dagster_project.lib.privacy.masking import (
    MaskingError,
    classified_masker,
    configure_masking,
    hmac_pads,
    model_column_classes,
    pseudonym_key,
)
from dagster_project.lib.publish import PUBLISHED_SCHEMA
from dagster_project.lib.warehouse import attach, encryption_key, table_exists
from dagster_project.lib.warehouse import quote_identifier as _quote

ATTACHED = "analytics"
# HMAC-SHA256 of the value under the key's pads (temp table _hmac_key), first 16 hex digits:
# masking.pseudonym() of the same value, checked equal by tests/unit/test_masking.py.
PSEUDONYM_SQL = (
    "left(sha256(_hmac_key.opad || unhex(sha256(_hmac_key.ipad || "
    "encode(cast({value} as varchar))))), 16)"
)
# The mart that carries each customer's monitoring risk (R18: the tier is a golden-customer
# attribute analysts can query): `risk_tier` and `risk_points` from monitoring.customer_risk,
# 'low' and 0 for a customer without open events. Neither is personal.
RISK_MART = "golden_customers"
RISK_COLUMNS = ("risk_tier", "risk_points")
# The golden column of the current marketing consent (R28): false withholds the columns
# analytics.withhold_without_marketing_consent names.
CONSENT_COLUMN = "consent_marketing"
# Classes whose values must never appear verbatim in the analyst database.
PERSONAL_CLASSES = (None, "direct identifier", "sensitive")


ROWS_CHECK = "analyst_rows_match_published_marts"
CLEAR_VALUES_CHECK = "no_personal_value_in_clear"
ANALYTICS_CHECKS = {
    ROWS_CHECK: "Every analyst table has as many rows as the published mart it comes from.",
    CLEAR_VALUES_CHECK: "No direct identifier, sensitive value or join key of the warehouse "
    "appears verbatim in any column of the analyst database.",
}


class AnalyticsError(RuntimeError):
    """The analyst database cannot be built as configured, or its build failed a check."""


@dataclass(frozen=True)
class ColumnTreatment:
    """How one mart column reaches the analyst table."""

    column: str
    output: str
    kind: str  # keep | pseudonym | mask | year | replace
    pii_class: str | None
    replaced_by: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalyticsBuild:
    path: Path
    tables: dict[str, int]  # table -> rows
    treatments: dict[str, list[ColumnTreatment]]
    checks: list[CheckOutcome]
    seconds: float
    # Where the time went: "<table>" for building each table, "checks" for the checks.
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def count_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for treatments in self.treatments.values():
            for treatment in treatments:
                counts[treatment.kind] = counts.get(treatment.kind, 0) + 1
        return counts


def column_classes(table: str) -> dict[str, str]:
    """Column -> PII class of one mart, as its data dictionary entry says."""
    return model_column_classes().get(table, {})


def plan_table(
    table: str, columns: dict[str, str], classes: dict[str, str], config: AnalyticsConfig
) -> list[ColumnTreatment]:
    """Each column's treatment, from its class and the analytics config.

    Args:
        table: the mart's name (for messages).
        columns: column -> DuckDB type, in the mart's order.
        classes: column -> PII class from the data dictionary.

    Raises:
        AnalyticsError: a generalisation names a column the mart lacks or does not fit its type.
    """
    treatments = []
    for column, data_type in columns.items():
        pii_class = classes.get(column.lower())
        rule = config.generalise.get(column)
        if column in config.pseudonymise:
            treatments.append(ColumnTreatment(column, column, "pseudonym", pii_class))
        elif rule == "year":
            if data_type not in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
                raise AnalyticsError(
                    f"analytics.generalise.{column}: `year` needs a date, but {table}.{column} "
                    f"is {data_type}; remove the entry or name a coarser column instead"
                )
            treatments.append(ColumnTreatment(column, f"{column}_year", "year", pii_class))
        elif rule is not None:
            if rule not in columns or rule == column:
                raise AnalyticsError(
                    f"analytics.generalise.{column}: {rule!r} is not another column of {table} "
                    f"(columns: {', '.join(columns)}); use `year` or one of them"
                )
            treatments.append(ColumnTreatment(column, column, "replace", pii_class, rule))
        elif pii_class == "none":
            treatments.append(ColumnTreatment(column, column, "keep", pii_class))
        else:
            treatments.append(ColumnTreatment(column, column, "mask", pii_class))
    return treatments


def _mapping_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    name: str,
    transform: Callable[[str], object],
) -> None:
    """A temporary table value -> safe value over the column's distinct values: each distinct
    value is masked or hashed once (a customer's ID repeats in every lineage row)."""
    values = [
        row[0]
        for row in con.execute(
            f"select distinct cast({_quote(column)} as varchar) from "
            f"{PUBLISHED_SCHEMA}.{_quote(table)} where {_quote(column)} is not null"
        ).fetchall()
    ]
    frame = pl.DataFrame(
        {"value": values, "safe": [transform(value) for value in values]},
        schema={"value": pl.String, "safe": pl.String},
    )
    con.register("_mapping_frame", frame)
    try:
        con.execute(f"create or replace temp table {name} as select * from _mapping_frame")
    finally:
        con.unregister("_mapping_frame")


def _build_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    treatments: list[ColumnTreatment],
    withheld: Sequence[str] = (),
) -> None:
    expressions: dict[str, str] = {}
    joins = []
    for index, treatment in enumerate(treatments):
        source = f"mart.{_quote(treatment.column)}"
        mapping = f"_safe_{index}"
        if treatment.kind == "pseudonym":
            # Hashed in SQL, in parallel, once per distinct key (a lineage table repeats each
            # key in every field's row): a million keys in about a second.
            con.execute(
                f"create or replace temp table {mapping} as "
                f"select value, {PSEUDONYM_SQL.format(value='value')} as safe from ("
                f"select distinct cast({_quote(treatment.column)} as varchar) as value "
                f"from {PUBLISHED_SCHEMA}.{_quote(table)} "
                f"where {_quote(treatment.column)} is not null) cross join _hmac_key"
            )
        elif treatment.kind == "mask":
            _mapping_table(
                con,
                table,
                treatment.column,
                mapping,
                classified_masker(treatment.column, treatment.pii_class),
            )
        if treatment.kind in ("pseudonym", "mask"):
            joins.append(f"left join {mapping} on {mapping}.value = cast({source} as varchar)")
            expressions[treatment.column] = f"{mapping}.safe"
        if treatment.kind == "year":
            expressions[treatment.column] = f"year({source})"
        elif treatment.kind == "keep":
            expressions[treatment.column] = source
    for treatment in treatments:
        if treatment.kind == "replace":
            # The coarser column as the analyst table holds it (itself masked if it is).
            expressions[treatment.column] = expressions[treatment.replaced_by]
    if any(t.column == CONSENT_COLUMN for t in treatments):
        # Withdrawn marketing consent: the contact fields are not there to be shown or exported.
        for column in withheld:
            if column in expressions:
                expressions[column] = (
                    f"case when mart.{CONSENT_COLUMN} is distinct from false "
                    f"then {expressions[column]} end"
                )
    select = ",\n    ".join(f"{expressions[t.column]} as {_quote(t.output)}" for t in treatments)
    if table == RISK_MART and table_exists(con, CUSTOMER_RISK):
        # Joined on the warehouse key before it is pseudonymised; one risk row per customer.
        select += (
            ",\n    coalesce(risk.risk_tier, 'low') as risk_tier,"
            "\n    coalesce(risk.risk_points, 0) as risk_points"
        )
        joins.append(
            f"left join {CUSTOMER_RISK} as risk "
            "on risk.golden_customer_id = mart.golden_customer_id"
        )
    con.execute(
        f"create table {ATTACHED}.main.{_quote(table)} as\nselect\n    {select}\n"
        f"from {PUBLISHED_SCHEMA}.{_quote(table)} as mart\n" + "\n".join(joins)
    )


def _mart_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [PUBLISHED_SCHEMA, table],
    ).fetchall()
    return dict(rows)


def _check_rows(con: duckdb.DuckDBPyConnection, tables: dict[str, int]) -> CheckOutcome:
    published = {
        table: con.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{_quote(table)}").fetchone()[0]
        for table in tables
    }
    differ = {t: (tables[t], published[t]) for t in tables if tables[t] != published[t]}
    return CheckOutcome(
        ROWS_CHECK,
        not differ,
        ANALYTICS_CHECKS[ROWS_CHECK],
        {"differ (analyst, published)": differ} if differ else {"tables": len(tables)},
    )


def _check_no_clear_values(
    con: duckdb.DuckDBPyConnection, treatments: dict[str, list[ColumnTreatment]]
) -> CheckOutcome:
    """No direct identifier, sensitive value or join key of the published marts appears
    verbatim in any text column of the analyst database.

    A value the marts also hold in a column classed `none` or quasi-identifying is not counted:
    an address line that is only "北京市" is also a province, and a placeholder such as "N/A"
    may also be a membership level; neither says who the person is.
    """
    personal, public = [], []
    for table, table_treatments in treatments.items():
        for treatment in table_treatments:
            select = (
                f"select cast({_quote(treatment.column)} as varchar) as value "
                f"from {PUBLISHED_SCHEMA}.{_quote(table)}"
            )
            if treatment.pii_class in PERSONAL_CLASSES and treatment.kind != "pseudonym":
                personal.append(select)
            elif treatment.pii_class in ("none", "quasi-identifier"):
                public.append(select)
    leaks: dict[str, int] = {}
    if personal:
        con.execute(
            "create or replace temp table _personal_values as select distinct value from ("
            + " union all ".join(personal)
            + ") where value is not null"
            + (" except select value from (" + " union all ".join(public) + ")" if public else "")
        )
    for table, table_treatments in treatments.items():
        analyst_table = f"{ATTACHED}.main.{_quote(table)}"
        for treatment in table_treatments:
            if treatment.kind == "year":
                continue
            output = f"cast({_quote(treatment.output)} as varchar)"
            # Over distinct values: a lineage table repeats each key in every field's row.
            distinct = f"(select distinct {output} as value from {analyst_table})"
            counts = []
            if personal:
                counts.append(
                    f"select count(*) from {distinct} "
                    "where value in (select value from _personal_values)"
                )
            if treatment.kind == "pseudonym":
                # A key left in clear would join straight back to the warehouse.
                counts.append(
                    f"select count(*) from {distinct} where value in (select distinct "
                    f"cast({_quote(treatment.column)} as varchar) from "
                    f"{PUBLISHED_SCHEMA}.{_quote(table)})"
                )
            found = sum(con.execute(query).fetchone()[0] for query in counts)
            if found:
                leaks[f"{table}.{treatment.output}"] = found
    return CheckOutcome(
        CLEAR_VALUES_CHECK,
        not leaks,
        ANALYTICS_CHECKS[CLEAR_VALUES_CHECK],
        {"distinct values in clear, by column": leaks}
        if leaks
        else {"columns checked": sum(len(t) for t in treatments.values())},
    )


def build_analytics_database(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    analytics: AnalyticsConfig,
    masking: MaskingConfig,
) -> AnalyticsBuild:
    """Build the analyst database from the published marts on `con` (the warehouse), check it,
    and move it over `target` only if every check passed.

    Raises:
        AnalyticsError: a mart is not published or the config does not fit it.
        MaskingError: pseudonyms need the key in `masking.hash_salt_env`, which is not set.
    """
    started = time.monotonic()
    configure_masking(masking)
    if not os.environ.get(masking.hash_salt_env):
        raise MaskingError(
            f"the analyst database pseudonymises join keys "
            f"({', '.join(analytics.pseudonymise)}) with a keyed hash, but the environment "
            f"variable {masking.hash_salt_env} that holds the key is not set: set it to a "
            "secret of your own (the same every day, or yesterday's pseudonyms stop matching)"
        )
    columns = {table: _mart_columns(con, table) for table in analytics.marts}
    missing = [table for table, table_columns in columns.items() if not table_columns]
    if missing:
        raise AnalyticsError(
            f"analytics.marts names {', '.join(missing)}, not published in the warehouse "
            f"({PUBLISHED_SCHEMA} schema): name published marts, or run the daily job first"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(target.name + ".new")
    for stale in (building, building.with_name(building.name + ".wal")):
        stale.unlink(missing_ok=True)
    treatments = {
        table: plan_table(table, columns[table], column_classes(table), analytics)
        for table in analytics.marts
    }
    for table in analytics.marts:
        unknown = [
            c for c in analytics.withhold_without_marketing_consent if c not in columns[table]
        ]
        if CONSENT_COLUMN in columns[table] and unknown:
            raise AnalyticsError(
                f"analytics.withhold_without_marketing_consent: {', '.join(unknown)} not a "
                f"column of {table} (columns: {', '.join(columns[table])})"
            )
    # The pads are bound as parameters into a temporary table, never written into SQL text
    # (an error quoting the statement would otherwise print the key).
    inner, outer = hmac_pads(pseudonym_key())
    con.execute(
        "create or replace temp table _hmac_key as select ?::blob as ipad, ?::blob as opad",
        [inner, outer],
    )
    # Encrypted like the warehouse, with the same key (R26).
    attach(con, building, ATTACHED, encryption_key())
    step_seconds: dict[str, float] = {}
    try:
        for table, table_treatments in treatments.items():
            step_started = time.monotonic()
            _build_table(con, table, table_treatments, analytics.withhold_without_marketing_consent)
            step_seconds[table] = round(time.monotonic() - step_started, 2)
        tables = {
            table: con.execute(f"select count(*) from {ATTACHED}.main.{_quote(table)}").fetchone()[
                0
            ]
            for table in treatments
        }
        step_started = time.monotonic()
        checks = [_check_rows(con, tables), _check_no_clear_values(con, treatments)]
        step_seconds["checks"] = round(time.monotonic() - step_started, 2)
    finally:
        con.execute(f"detach {ATTACHED}")
    build = AnalyticsBuild(
        target, tables, treatments, checks, time.monotonic() - started, step_seconds
    )
    if build.passed:
        os.replace(building, target)
    return build
