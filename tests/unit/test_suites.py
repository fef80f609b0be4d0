"""The shipped suites in `expectations/`: each loads, runs in Great Expectations and gates an asset
of the real Definitions, so a typo (in a file name, a type, a column) cannot disable a gate.

Great Expectations is imported for real (~10 s once per process); Definitions are built once
per module (dbt parse when the manifest is stale).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.canonical import CANONICAL_FIELDS
from dagster_project.config import load_config
from dagster_project.lib.monitoring.events import ensure_monitoring_tables
from dagster_project.lib.quality.evidence import LINEAGE_COLUMNS, LOAD_FACT_COLUMNS
from dagster_project.lib.quality.gx_engine import build_gx_expectation
from dagster_project.lib.quality.suites import (
    SEVERITIES,
    GateSuite,
    SuiteError,
    default_check_name,
    discover_suites,
    parse_suite,
)
from dagster_project.lib.warehouse import table_columns
from dagster_project.settings import PROJECT_ROOT

EXPECTATIONS = PROJECT_ROOT / "expectations"
DBT_MODELS = PROJECT_ROOT / "dbt" / "models"
CONFIG = load_config(PROJECT_ROOT / "governance.yaml")
SUITES = discover_suites(EXPECTATIONS, [source.name for source in CONFIG.sources])


def _suite_id(suite: GateSuite) -> str:
    return "/".join(suite.asset_key)


@pytest.fixture(scope="module")
def definitions():
    # dagster-dbt looks `dbt` up on PATH; under a bare `.venv/bin/pytest` the venv is not on it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        from dagster_project.definitions import build_definitions

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            built = build_definitions(PROJECT_ROOT / "governance.yaml")
            graph = built.resolve_asset_graph()
        yield built, graph, caught


def test_the_project_gates_every_layer() -> None:
    keys = {_suite_id(suite) for suite in SUITES}
    assert {
        "raw/crm__customers",
        "raw/erp_billing__customers",
        "raw/web_signup__customers",
        "raw/call_center__customers",
        "intermediate/int_customer_records",
        "candidate/golden_customers",
        "candidate/customer_source_xref",
    } <= keys


def test_no_file_in_expectations_is_left_out_of_discovery() -> None:
    # A suite one folder too deep, or saved as .JSON/.yaml, would gate nothing, silently.
    discovered = {suite.path for suite in SUITES}
    on_disk = {
        path
        for path in EXPECTATIONS.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() != ".md"
    }
    assert on_disk - discovered == set()


@pytest.mark.parametrize("suite", SUITES, ids=_suite_id)
def test_every_expectation_exists_in_great_expectations(suite: GateSuite) -> None:
    assert suite.expectations, f"{suite.path} has no expectations"
    for expectation in suite.expectations:
        built = build_gx_expectation(suite, expectation)
        assert built.expectation_type == expectation.type


@pytest.mark.parametrize("suite", SUITES, ids=_suite_id)
def test_every_expectation_states_a_valid_severity(suite: GateSuite) -> None:
    # GE defaults a missing severity to critical; a shipped gate says what it means.
    entries = json.loads(suite.path.read_text(encoding="utf-8"))["expectations"]
    for index, entry in enumerate(entries):
        assert entry.get("severity") in SEVERITIES, f"{suite.path}: expectations[{index}]"
        assert entry.get("description"), f"{suite.path}: expectations[{index}] needs a description"
    assert suite.is_blocking, f"{suite.path}: a gate with no critical expectation blocks nothing"


# Schemas whose tables Python builds (not dbt): their columns come from the code's own DDL.
PYTHON_BUILT_SCHEMAS = {"monitoring"}


def _python_built_columns(qualified_name: str) -> set[str]:
    con = duckdb.connect()
    try:
        ensure_monitoring_tables(con)
        return set(table_columns(con, qualified_name))
    finally:
        con.close()


def _dbt_model_columns(table: str) -> set[str]:
    """The columns a dbt model declares in its folder's yml: its enforced contract, so dbt fails
    the build when the model produces other columns (test_every_suited_model_enforces_its_
    contract keeps that true)."""
    (model,) = DBT_MODELS.rglob(f"{table}.sql")
    declared: set[str] = set()
    for path in model.parent.glob("*.yml"):
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            if entry.get("name") == table:
                declared |= {column["name"] for column in entry.get("columns", [])}
    return declared


@pytest.mark.parametrize("suite", SUITES, ids=_suite_id)
def test_every_column_a_suite_reads_is_one_its_table_has(suite: GateSuite) -> None:
    if suite.is_raw:
        # Raw batches name the source's mapped columns by canonical field (gates.py).
        available = set(CANONICAL_FIELDS) | LINEAGE_COLUMNS | LOAD_FACT_COLUMNS
    elif suite.schema in PYTHON_BUILT_SCHEMAS:
        available = _python_built_columns(suite.qualified_table) | set(suite.derived_columns)
    else:
        available = _dbt_model_columns(suite.table) | set(suite.derived_columns)
    read = set(suite.columns) | {c for e in suite.expectations for c in e.evidence_columns}
    read |= {c for c in (suite.partition_column, suite.slice_by, suite.key_column) if c}
    assert read - available == set(), f"{suite.path} reads columns its table does not have"


@pytest.mark.parametrize("suite", SUITES, ids=_suite_id)
def test_every_suite_gates_an_asset_of_the_definitions(definitions, suite: GateSuite) -> None:
    _, graph, _ = definitions
    import dagster as dg

    key = dg.AssetKey(suite.asset_key)
    assert key in graph.get_all_asset_keys(), f"{suite.path} names no asset"
    node = graph.get(key)
    for expectation in suite.expectations:
        check_key = dg.AssetCheckKey(key, expectation.check_name)
        assert check_key in graph.asset_check_keys, f"{suite.path}: {expectation.check_name}"
        spec = graph.get_check_spec(check_key)
        assert spec.blocking == (expectation.severity == "critical")
        # A daily asset's checks record each day's verdict against that day.
        assert spec.partitions_def == node.partitions_def


def test_every_source_table_has_a_raw_suite(definitions) -> None:
    # Every configured source is gated by the raw pattern without a file of its own.
    _, graph, _ = definitions
    raw_assets = {k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == "raw"}
    assert raw_assets <= {_suite_id(suite) for suite in SUITES}


def test_building_the_gate_checks_warns_about_nothing(definitions) -> None:
    _, _, caught = definitions
    ours = [w for w in caught if "dagster_project" in str(w.filename) or "Preview" in str(w)]
    assert not ours, [str(w.message) for w in ours]


def test_a_suite_whose_file_name_names_no_asset_fails_the_definitions(tmp_path: Path) -> None:
    import dagster as dg

    from dagster_project.defs.quality.checks import build_gate_checks

    @dg.asset(key=["candidate", "golden_customers"])
    def golden_customers() -> None: ...

    folder = tmp_path / "expectations" / "candidate"
    folder.mkdir(parents=True)
    shipped = (EXPECTATIONS / "candidate" / "golden_customers.json").read_text(encoding="utf-8")
    (folder / "golden_customer.json").write_text(shipped, encoding="utf-8")  # the typo

    with pytest.raises(SuiteError) as caught:
        build_gate_checks([golden_customers], CONFIG, None, tmp_path / "expectations")

    assert (
        "golden_customer.json gates candidate/golden_customer, which no asset materialises"
        in str(caught.value)
    )


# --- suite files that cannot be used ------------------------------------------------------------


def _parse(definition) -> GateSuite:
    return parse_suite(Path("expectations/main/golden_customers.json"), definition, "main", "t")


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        ({"name": "x"}, "needs an 'expectations' list"),
        ([], "needs an 'expectations' list"),
        ({"expectations": [{"kwargs": {"column": "x"}}]}, "expectations[0] needs a 'type'"),
        (
            {"expectations": [{"type": "expect_column_values_to_be_unique", "severity": "fatal"}]},
            "expectations[0].severity must be critical, warning or info",
        ),
        (
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_unique",
                        "kwargs": {"column": "x"},
                        "meta": {"scope": "partition"},
                    }
                ]
            },
            "scope partition needs meta.custodian.partition_column",
        ),
        (
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": "x", "value_set": {"$PARAMETER": "sources"}},
                    }
                ]
            },
            "unknown suite parameter(s) ['sources']",
        ),
        (
            {"meta": {"custodian": {"partition_colum": "d"}}, "expectations": []},
            "unknown setting(s) ['partition_colum']",
        ),
        (
            {
                "expectations": [
                    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "x"}},
                    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "x"}},
                ]
            },
            "would be the same Dagster check ['gx_x__unique__critical']",
        ),
    ],
)
def test_unusable_suite_raises_suite_error_naming_the_file(definition, problem: str) -> None:
    with pytest.raises(SuiteError) as caught:
        _parse(definition)
    assert "expectations/main/golden_customers.json" in str(caught.value)
    assert problem in str(caught.value)


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "main" / "golden_customers.json"
    path.parent.mkdir()
    path.write_text('{"expectations": [', encoding="utf-8")
    with pytest.raises(SuiteError, match="not valid JSON") as caught:
        discover_suites(tmp_path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            {"type": "expect_column_values_to_be_uniqe", "kwargs": {"column": "x"}},
            "unknown expectation type 'expect_column_values_to_be_uniqe'",
        ),
        ({"type": "expect_column_values_to_be_unique", "kwargs": {"colum": "x"}}, "invalid kwargs"),
    ],
)
def test_a_misspelt_expectation_names_the_file(entry: dict, problem: str) -> None:
    suite = _parse({"expectations": [entry]})
    with pytest.raises(SuiteError) as caught:
        build_gx_expectation(suite, suite.expectations[0])
    assert "expectations/main/golden_customers.json" in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("expectation_type", "kwargs", "name"),
    [
        (
            "expect_column_values_to_be_in_set",
            {"column": "email_is_valid"},
            "gx_email_is_valid__in_set",
        ),
        ("expect_column_values_to_not_be_null", {"column": "full_name"}, "gx_full_name__not_null"),
        ("expect_column_values_to_be_unique", {"column": "record_key"}, "gx_record_key__unique"),
        ("expect_table_row_count_to_be_between", {}, "gx_table_row_count_between"),
        ("expect_column_max_to_be_between", {"column": "n"}, "gx_n__max_between"),
        (
            "expect_compound_columns_to_be_unique",
            {"column_list": ["a", "b"]},
            "gx_a__b__compound_columns_unique",
        ),
    ],
)
def test_check_names_read_like_the_rule(expectation_type: str, kwargs: dict, name: str) -> None:
    assert default_check_name(expectation_type, kwargs) == name


def test_a_critical_and_a_warning_threshold_on_one_rule_get_their_severity_as_suffix() -> None:
    rule = {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "email_is_valid"}}
    suite = _parse(
        {"expectations": [{**rule, "severity": "critical"}, {**rule, "severity": "warning"}]}
    )
    assert [e.check_name for e in suite.expectations] == [
        "gx_email_is_valid__in_set__critical",
        "gx_email_is_valid__in_set__warning",
    ]


@pytest.mark.parametrize(
    "suite",
    [s for s in SUITES if not s.is_raw and s.schema not in PYTHON_BUILT_SCHEMAS],
    ids=_suite_id,
)
def test_every_suited_model_enforces_its_contract(suite: GateSuite) -> None:
    (model,) = DBT_MODELS.rglob(f"{suite.table}.sql")
    entries = [
        entry
        for path in model.parent.glob("*.yml")
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", [])
        if entry.get("name") == suite.table
    ]
    assert entries, f"{suite.table} has no yml entry"
    assert ((entries[0].get("config") or {}).get("contract") or {}).get("enforced") is True, (
        f"{suite.table}: declare `config: contract: enforced: true`, or the columns its suite "
        "reads are checked against a list the model need not produce"
    )
