"""Gates that fit the data: governance.yaml's overrides of the shipped suites, validated and
applied, and the raw suite pattern applied to every configured source (none of the demo's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.config import ConfigError, GovernanceConfig
from dagster_project.lib.quality.overrides import (
    apply_gate_overrides,
    expectations_for_slice,
    gate_config_problems,
    validate_gate_config,
)
from dagster_project.lib.quality.suites import SuiteError, discover_suites
from dagster_project.settings import PROJECT_ROOT

EXPECTATIONS = PROJECT_ROOT / "expectations"


def _config(quality: dict | None = None, **source_gates: dict) -> GovernanceConfig:
    """Two sources of a company's own (none of the demo's), with optional gate settings."""
    sources = [
        {
            "name": "registry",
            "system": "other",
            "path": "registry/{date:%Y%m%d}.csv",
            "format": "csv",
            "start_date": "2026-11-01",
            "trust_rank": 1,
            "mapping": {"source_record_id": "id", "full_name": "name", "mobile_phone": "tel"},
        },
        {
            "name": "newsletter",
            "system": "marketing",
            "path": "newsletter/{date:%Y%m%d}.jsonl",
            "format": "jsonl",
            "start_date": "2026-11-01",
            "trust_rank": 2,
            "mapping": {"source_record_id": "uid", "email": "mail"},
        },
    ]
    for source in sources:
        if source["name"] in source_gates:
            source["gates"] = source_gates[source["name"]]
    return GovernanceConfig.model_validate(
        {"landing_root": "/tmp/landing", "sources": sources, "quality": quality or {}}
    )


def _suites(config: GovernanceConfig):
    return discover_suites(EXPECTATIONS, [source.name for source in config.sources])


def test_the_raw_pattern_gates_every_configured_source_and_no_other() -> None:
    config = _config()
    raw = sorted(suite.table for suite in _suites(config) if suite.is_raw)
    assert raw == ["newsletter__customers", "registry__customers"]
    # None of the demo's sources is gated (or expected) when the config does not hold them.
    assert not [s for s in _suites(config) if s.table.startswith(("crm", "erp", "web", "call"))]


def test_a_raw_suite_file_for_a_source_the_config_lacks_names_the_file(tmp_path: Path) -> None:
    shutil.copytree(EXPECTATIONS, tmp_path / "expectations")
    pattern = tmp_path / "expectations" / "raw" / "{source}__customers.json"
    shutil.copy(pattern, pattern.with_name("regsitry__customers.json"))  # a typo
    with pytest.raises(SuiteError) as caught:
        discover_suites(tmp_path / "expectations", ["registry", "newsletter"])
    message = str(caught.value)
    assert "regsitry__customers.json" in message
    assert "no source 'regsitry'" in message


def test_a_raw_suite_file_of_its_own_replaces_the_pattern_for_that_source(tmp_path: Path) -> None:
    shutil.copytree(EXPECTATIONS, tmp_path / "expectations")
    pattern = tmp_path / "expectations" / "raw" / "{source}__customers.json"
    own = json.loads(pattern.read_text(encoding="utf-8"))
    own["expectations"] = own["expectations"][:1]
    (pattern.parent / "registry__customers.json").write_text(json.dumps(own), encoding="utf-8")
    suites = {s.table: s for s in discover_suites(tmp_path / "expectations", ["registry", "x"])}
    assert len(suites["registry__customers"].expectations) == 1
    assert len(suites["x__customers"].expectations) > 1


@pytest.mark.parametrize(
    ("quality", "source_gates", "problem"),
    [
        (
            {"gates": {"candidate.golden_customer": {"gx_x": {"mostly": 0.5}}}},
            {},
            "quality.gates.candidate.golden_customer: no such suite",
        ),
        (
            {
                "gates": {
                    "candidate.golden_customers": {"gx_sorce_count__between": {"max_value": 3}}
                }
            },
            {},
            "quality.gates.candidate.golden_customers.gx_sorce_count__between: no such check in",
        ),
        (
            {"gates": {"raw": {"gx_table_row_count_between": {"mostly": 0.5}}}},
            {},
            "quality.gates.raw.gx_table_row_count_between.mostly: "
            "expect_table_row_count_to_be_between takes no mostly",
        ),
        (
            {},
            {
                "registry": {
                    "intermediate.int_customer_records": {
                        "gx_mobile_phone_is_valid__in_set__critical": {"severity": "warning"}
                    }
                }
            },
            "sources[0].gates.intermediate.int_customer_records."
            "gx_mobile_phone_is_valid__in_set__critical.severity: one check has one severity",
        ),
        (
            {},
            {"newsletter": {"candidate.golden_customers": {"gx_email__not_null": {"mostly": 0.1}}}},
            "sources[1].gates.candidate.golden_customers: a source's gates apply to",
        ),
    ],
)
def test_gate_settings_that_match_nothing_are_named_with_their_key_path(
    quality: dict, source_gates: dict, problem: str
) -> None:
    config = _config(quality, **source_gates)
    problems = gate_config_problems(config, _suites(config))
    assert any(problem in line for line in problems), problems
    with pytest.raises(ConfigError, match="invalid gate settings"):
        validate_gate_config(config, _suites(config), "governance.yaml")


def test_the_shipped_config_has_no_gate_problems() -> None:
    from dagster_project.config import load_config

    config = load_config(PROJECT_ROOT / "governance.yaml")
    assert gate_config_problems(config, _suites(config)) == []


def test_table_overrides_change_bounds_severity_and_can_switch_a_check_off() -> None:
    config = _config(
        {
            "gates": {
                "candidate.golden_customers": {
                    "gx_source_record_count__between__critical": {"max_value": 120},
                    "gx_email__not_null": {"severity": "critical", "mostly": 0.5},
                    "gx_date_of_birth__not_null": {"enabled": False},
                }
            }
        }
    )
    (golden,) = [
        s for s in apply_gate_overrides(config, _suites(config)) if s.table == "golden_customers"
    ]
    checks = golden.by_check_name()
    bound = checks["gx_source_record_count__between__critical"]
    assert bound.kwargs == {"column": "source_record_count", "min_value": 1, "max_value": 120}
    assert checks["gx_email__not_null"].is_blocking
    assert checks["gx_email__not_null"].kwargs["mostly"] == 0.5
    assert "switched off in governance.yaml" in checks["gx_date_of_birth__not_null"].disabled
    # Checks nobody overrode keep the suite's values.
    assert checks["gx_full_name__not_null__critical"].kwargs["mostly"] == 0.8


def test_a_source_override_applies_to_its_own_raw_gate_only() -> None:
    config = _config(registry={"raw": {"gx_quarantine_share": {"max_value": 0.2}}})
    raw = {s.table: s for s in apply_gate_overrides(config, _suites(config)) if s.is_raw}
    share = "gx_quarantine_share"
    assert raw["registry__customers"].by_check_name()[share].kwargs["max_value"] == 0.2
    assert raw["newsletter__customers"].by_check_name()[share].kwargs["max_value"] == 0.01


def _records_suite(config: GovernanceConfig):
    (suite,) = [s for s in _suites(config) if s.table == "int_customer_records"]
    return suite, suite.expectations_in("partition")


def test_a_source_slice_is_judged_by_its_own_threshold_and_others_by_the_suites() -> None:
    check = "gx_mobile_phone_is_valid__in_set__critical"
    config = _config(
        registry={"intermediate.int_customer_records": {check: {"mostly": 0.7}}},
    )
    suite, expectations = _records_suite(config)
    judged, _ = expectations_for_slice(suite, expectations, config, ["registry"])
    assert {e.check_name: e for e in judged}[check].kwargs["mostly"] == 0.7


def test_a_field_a_source_does_not_map_is_not_judged_for_it() -> None:
    config = _config()
    suite, expectations = _records_suite(config)
    judged, not_judged = expectations_for_slice(suite, expectations, config, ["newsletter"])
    names = {e.check_name for e in judged}
    # newsletter maps an e-mail but no phone and no name.
    assert "gx_email_is_valid__in_set__critical" in names
    assert "gx_mobile_phone_is_valid__in_set__critical" not in names
    reason = not_judged["gx_mobile_phone_is_valid__in_set__critical"]
    assert reason == "newsletter does not map mobile_phone (governance.yaml): nothing to judge"
    assert "gx_name_is_valid__in_set" in not_judged
    # Keys and scores every record has are always judged.
    assert "gx_completeness_score__between" in names


def test_the_golden_table_is_judged_on_a_field_when_any_source_maps_it() -> None:
    config = _config()
    (golden,) = [s for s in _suites(config) if s.table == "golden_customers"]
    judged, not_judged = expectations_for_slice(golden, list(golden.expectations), config, None)
    names = {e.check_name for e in judged}
    assert "gx_email__not_null" in names  # newsletter maps it
    assert "gx_mobile_phone_e164__not_null" in names  # registry maps it
    assert "gx_date_of_birth__not_null" in not_judged  # nobody does


def test_a_bad_gate_setting_stops_the_command_with_exit_2_and_its_key_path(
    isolated_env: Path,
) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "governance.yaml").read_text(encoding="utf-8"))
    config["quality"] = {"gates": {"candidate.golden_customers": {"gx_nope": {"max_value": 3}}}}
    path = isolated_env / "governance.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--through", "2026-11-03"])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert f"{path}: invalid gate settings" in output
    assert "quality.gates.candidate.golden_customers.gx_nope: no such check" in output
    assert "Traceback" not in result.output
