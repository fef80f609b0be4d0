"""Gate suites: the Great Expectations suite files under `expectations/`, read and checked.

A suite's path names the asset it gates: `expectations/<schema>/<table>.json` gates the asset
`[schema, table]`, which materialises the table `<schema>.<table>`. Adding a gate is adding a
file. One file is a pattern: `expectations/raw/{source}__customers.json` gates the raw table of
every source in governance.yaml, so a source needs no suite of its own (a file
`raw/<source>__customers.json` replaces the pattern for that one source). Thresholds that fit
one company's data are set in governance.yaml, not here (`overrides.py`).

The file is an ExpectationSuite as Great Expectations 1.x writes it (`name`,
`expectations` with `type`, `kwargs`, `severity`, `description`, `meta`), so GE itself can load
it; what the platform adds lives under GE's free-form `meta`:

suite `meta.custodian` (all optional):
    partition_column   the table's column holding the delivery date. In a partitioned run the
                       gate validates only rows whose column equals the run's partition (the day
                       being loaded); a check run by hand validates the whole table.
    slice_by           validate each value's rows on their own (e.g. `source_name`), so one bad
                       source cannot hide among good ones: 30% invalid e-mails in one of four
                       sources is ~8% overall, under any sensible threshold.
    min_slice_rows     slices smaller than this are pooled into one slice: a rate over a
                       48-record delta is noise.
    min_values_for_rates
                       an expectation with `mostly` < 1 is not judged on a slice with fewer
                       non-missing values than this (1 bad e-mail of 4 is 25%).
    key_column         a column identifying a row; failing samples are looked up by it so the
                       evidence can show other columns (`evidence_columns`) of the failing rows.
    derived_columns    {name: DuckDB SQL expression} computed in the warehouse before validation,
                       e.g. whether an xref row's golden_customer_id exists in golden_customers.

expectation `meta` (all optional):
    check_name         the Dagster check's name; by default `gx_<column>__<kind>` (see
                       `default_check_name`), suffixed with the severity when a suite holds the
                       same kind of expectation twice (a critical and a warning threshold).
    scope              `partition` (default when the suite has a partition column) or `table`:
                       the whole table, unsliced (uniqueness of a key holds across all days).
    evidence_columns   further columns to show, masked, for failing rows (needs key_column).

Severity is GE's own field: `critical` makes a blocking Dagster check, `warning` and `info`
report without blocking. Thresholds may come from the run or governance.yaml through GE's
`{"$PARAMETER": name}` syntax; `SUITE_PARAMETERS` lists the names the gate supplies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("critical", "warning", "info")
SCOPES = ("partition", "table")

SUITE_PARAMETERS = {
    "source_names": "names of the sources in governance.yaml",
    "mapped_columns": "raw suites: the source columns governance.yaml maps by name",
    "max_quarantine_share": "raw suites: the source's max_quarantine_share",
    "partition_date": "the run's partition date (today when none), as a timestamp",
    "latest_plausible_time": "partition date (or today) + 2 days: nothing can be updated later",
}

# Expectations answered by the table's column list alone: validated against an empty frame
# holding the table's physical columns, so no data is read for them.
STRUCTURE_EXPECTATIONS = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
    }
)

_CHECK_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list",)


class SuiteError(ValueError):
    """A suite file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SuiteExpectation:
    """One expectation of a suite, with what the gate needs to run and report it."""

    index: int
    type: str
    kwargs: dict[str, Any]
    severity: str
    check_name: str
    scope: str
    description: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    evidence_columns: tuple[str, ...] = ()
    # Why the expectation is not evaluated (switched off in governance.yaml), or None.
    disabled: str | None = None

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def columns(self) -> list[str]:
        """Every column the expectation reads."""
        named = [self.kwargs.get(key) for key in _COLUMN_KWARGS]
        for key in _COLUMN_LIST_KWARGS:
            named.extend(self.kwargs.get(key) or [])
        return [column for column in named if isinstance(column, str)]

    @property
    def is_blocking(self) -> bool:
        return self.severity == "critical"

    @property
    def is_structural(self) -> bool:
        return self.type in STRUCTURE_EXPECTATIONS

    @property
    def is_rate(self) -> bool:
        """A share of rows (`mostly` < 1): judged only over enough values to be more than noise."""
        mostly = self.kwargs.get("mostly")
        return mostly is not None and not (isinstance(mostly, int | float) and mostly >= 1)

    @property
    def parameters(self) -> set[str]:
        return {
            value["$PARAMETER"]
            for value in self.kwargs.values()
            if isinstance(value, dict) and "$PARAMETER" in value
        }


@dataclass(frozen=True)
class GateSuite:
    """A suite file: the asset it gates, its expectations and its batch settings."""

    path: Path
    schema: str
    table: str
    definition: dict[str, Any]
    expectations: tuple[SuiteExpectation, ...] = ()

    @property
    def name(self) -> str:
        return self.definition.get("name") or self.table

    @property
    def asset_key(self) -> list[str]:
        return [self.schema, self.table]

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def settings(self) -> dict[str, Any]:
        return (self.definition.get("meta") or {}).get("custodian") or {}

    @property
    def partition_column(self) -> str | None:
        return self.settings.get("partition_column")

    @property
    def slice_by(self) -> str | None:
        return self.settings.get("slice_by")

    @property
    def min_slice_rows(self) -> int:
        return int(self.settings.get("min_slice_rows", 0))

    @property
    def min_values_for_rates(self) -> int:
        return int(self.settings.get("min_values_for_rates", 0))

    @property
    def key_column(self) -> str | None:
        return self.settings.get("key_column")

    @property
    def derived_columns(self) -> dict[str, str]:
        return dict(self.settings.get("derived_columns") or {})

    @property
    def is_raw(self) -> bool:
        return self.schema == "raw"

    @property
    def is_blocking(self) -> bool:
        return any(expectation.is_blocking for expectation in self.expectations)

    @property
    def columns(self) -> list[str]:
        """Every column the suite's expectations read (in first-use order)."""
        used: list[str] = []
        for expectation in self.expectations:
            for column in expectation.columns:
                if column not in used:
                    used.append(column)
        return used

    @property
    def parameters(self) -> set[str]:
        return (
            set().union(*(e.parameters for e in self.expectations)) if self.expectations else set()
        )

    def expectations_in(self, scope: str) -> list[SuiteExpectation]:
        return [e for e in self.expectations if e.scope == scope and not e.is_structural]

    def by_check_name(self) -> dict[str, SuiteExpectation]:
        return {expectation.check_name: expectation for expectation in self.expectations}


def default_check_name(expectation_type: str, kwargs: dict[str, Any]) -> str:
    """`gx_<column>__<kind>`, the kind being the type without GE's wording:

    expect_column_values_to_be_in_set(email_is_valid) -> gx_email_is_valid__in_set,
    expect_table_row_count_to_be_between -> gx_table_row_count_between.
    """
    kind = expectation_type.removeprefix("expect_")
    kind = kind.removeprefix("column_values_to_").removeprefix("column_")
    kind = kind.replace("to_be_", "").replace("to_", "").replace("be_", "")
    columns = [kwargs.get(key) for key in _COLUMN_KWARGS] + list(kwargs.get("column_list") or [])
    named = [column for column in columns if isinstance(column, str)]
    if not named:
        return f"gx_{kind}"
    subject = re.sub(r"[^A-Za-z0-9_]", "_", "__".join(named))
    return f"gx_{subject}__{kind}"


def _fail(path: Path, message: str) -> SuiteError:
    return SuiteError(f"{path}: {message}")


def _check_settings(path: Path, settings: Any) -> None:
    if not isinstance(settings, dict):
        raise _fail(path, "meta.custodian must be an object")
    known = {
        "partition_column",
        "slice_by",
        "min_slice_rows",
        "min_values_for_rates",
        "key_column",
        "derived_columns",
    }
    unknown = sorted(set(settings) - known)
    if unknown:
        raise _fail(
            path, f"meta.custodian has unknown setting(s) {unknown}; known: {sorted(known)}"
        )
    for name in ("min_slice_rows", "min_values_for_rates"):
        value = settings.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _fail(path, f"meta.custodian.{name} must be a whole number >= 0")
    derived = settings.get("derived_columns", {})
    if not isinstance(derived, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in derived.items()
    ):
        raise _fail(path, "meta.custodian.derived_columns must map column names to SQL text")


def parse_suite(path: Path, definition: Any, schema: str, table: str) -> GateSuite:
    """Check a suite's shape (not yet its expectation types: that needs Great Expectations,
    whose import costs ~10 s, so it happens on first validation and in the suite tests)."""
    if not isinstance(definition, dict) or not isinstance(definition.get("expectations"), list):
        raise _fail(path, "a suite needs an 'expectations' list")
    settings = (definition.get("meta") or {}).get("custodian", {})
    _check_settings(path, settings)
    partitioned = bool(settings.get("partition_column"))
    drafts = []
    for index, entry in enumerate(definition["expectations"]):
        where = f"expectations[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise _fail(path, f"{where} needs a 'type' (text)")
        kwargs = entry.get("kwargs", {})
        meta = entry.get("meta") or {}
        if not isinstance(kwargs, dict) or not isinstance(meta, dict):
            raise _fail(path, f"{where}: 'kwargs' and 'meta' must be objects")
        severity = entry.get("severity", "critical")
        if severity not in SEVERITIES:
            raise _fail(path, f"{where}.severity must be critical, warning or info")
        scope = meta.get("scope", "partition" if partitioned else "table")
        if scope not in SCOPES:
            raise _fail(path, f"{where}.meta.scope must be partition or table")
        if scope == "partition" and not partitioned:
            raise _fail(path, f"{where}: scope partition needs meta.custodian.partition_column")
        evidence = meta.get("evidence_columns", [])
        if not isinstance(evidence, list) or not all(isinstance(c, str) for c in evidence):
            raise _fail(path, f"{where}.meta.evidence_columns must be a list of column names")
        unknown = {
            value["$PARAMETER"]
            for value in kwargs.values()
            if isinstance(value, dict) and "$PARAMETER" in value
        } - set(SUITE_PARAMETERS)
        if unknown:
            raise _fail(
                path,
                f"{where} uses unknown suite parameter(s) {sorted(unknown)}; the gate supplies "
                f"{sorted(SUITE_PARAMETERS)}",
            )
        drafts.append((index, entry, kwargs, meta, severity, scope, tuple(evidence)))

    base_names = [
        meta.get("check_name") or default_check_name(entry["type"], kwargs)
        for _, entry, kwargs, meta, *_ in drafts
    ]
    expectations = []
    for (index, entry, kwargs, meta, severity, scope, evidence), base in zip(
        drafts, base_names, strict=True
    ):
        explicit = bool(meta.get("check_name"))
        name = base if explicit or base_names.count(base) == 1 else f"{base}__{severity}"
        if not _CHECK_NAME.match(name):
            raise _fail(
                path, f"expectations[{index}]: check name {name!r} must match [A-Za-z0-9_]+"
            )
        expectations.append(
            SuiteExpectation(
                index=index,
                type=entry["type"],
                kwargs=kwargs,
                severity=severity,
                check_name=name,
                scope=scope,
                description=entry.get("description"),
                meta=meta,
                evidence_columns=evidence,
            )
        )
    names = [expectation.check_name for expectation in expectations]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _fail(
            path,
            f"two expectations would be the same Dagster check {duplicates}; give one a "
            "meta.check_name",
        )
    return GateSuite(path, schema, table, definition, tuple(expectations))


RAW_SUITE_PATTERN = "{source}__customers.json"
"""expectations/raw/<this>: the gate of every configured source's raw table."""

RAW_TABLE_SUFFIX = "__customers"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON ({exc})") from None


def load_suite(path: Path, table: str | None = None) -> GateSuite:
    """One suite file; its parent folder is the schema, its stem the table (or `table`, for the
    raw pattern applied to one source)."""
    definition = _read(path)
    if table is not None and isinstance(definition, dict):
        definition = {**definition, "name": table}
    return parse_suite(path, definition, path.parent.name, table or path.stem)


def raw_source_name(suite: GateSuite) -> str | None:
    """The source a raw suite gates (`raw.crm__customers` -> crm), else None."""
    if not suite.is_raw or not suite.table.endswith(RAW_TABLE_SUFFIX):
        return None
    return suite.table.removesuffix(RAW_TABLE_SUFFIX)


def discover_suites(
    expectations_dir: Path, source_names: list[str] | None = None
) -> list[GateSuite]:
    """Every suite under the folder, parsed; the raw pattern once per source in `source_names`.

    Raises:
        SuiteError: a file cannot be used, or a raw suite names a source that is not configured
            (a misspelt file name must not silently disable a gate).
    """
    suites: list[GateSuite] = []
    pattern: Path | None = None
    specific: dict[str, GateSuite] = {}
    for path in sorted(expectations_dir.glob("*/*.json")):
        if path.parent.name == "raw" and path.name == RAW_SUITE_PATTERN:
            pattern = path
            continue
        suite = load_suite(path)
        source = raw_source_name(suite)
        if source is not None and source_names is not None:
            if source not in source_names:
                raise SuiteError(
                    f"{path} gates raw.{suite.table}, but governance.yaml has no source "
                    f"{source!r} (sources: {', '.join(source_names)}). Rename the file after a "
                    f"configured source, or delete it; every source's raw table is gated by "
                    f"raw/{RAW_SUITE_PATTERN} already."
                )
            specific[source] = suite
            continue
        suites.append(suite)
    if pattern is not None and source_names is not None:
        for source in source_names:
            if source not in specific:
                suites.append(load_suite(pattern, f"{source}{RAW_TABLE_SUFFIX}"))
    suites.extend(specific.values())
    return sorted(suites, key=lambda suite: (suite.schema, suite.table))
