"""governance.yaml validation: the shipped file loads, and each kind of mistake is explained."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dagster_project.config import ConfigError, load_config
from dagster_project.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "governance.yaml"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "governance.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _error_for(tmp_path: Path, shipped: dict, mutate: Callable[[dict], None]) -> str:
    document = copy.deepcopy(shipped)
    mutate(document)
    path = _write(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path)), "the message names the file"
    assert "Traceback" not in message
    return message


def test_shipped_config_loads_with_four_sources() -> None:
    config = load_config(SHIPPED)
    assert [s.name for s in config.sources] == ["crm", "erp_billing", "web_signup", "call_center"]
    assert config.landing_root == PROJECT_ROOT / "data" / "landing"
    assert config.source("erp_billing").encoding == "zh_CN.gbk"
    assert (
        config.source("crm")
        .path_for(config.pipeline_start_date)
        .endswith("crm/2026-11-01/crm_customers_20261101.csv")
    )
    expression = config.source("call_center").mapping["date_of_birth"]
    assert "dob_year" in expression.expr


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["sources"][2]["mapping"].__setitem__("phone", "phone"),
            ["sources[2].mapping.phone:", "not a canonical customer field", "mobile_phone"],
        ),
        (
            lambda d: d["sources"][1].__setitem__("format", "xlsx"),
            ["sources[1].format:", "'csv', 'jsonl' or 'parquet'"],
        ),
        (
            lambda d: d["sources"][0].__setitem__("trust_rnak", 1),
            ["sources[0].trust_rnak: unknown key", "trust_rank"],
        ),
        (
            lambda d: d["sources"][0]["mapping"].__setitem__("email", 5),
            ["sources[0].mapping.email:", "column name", "expr"],
        ),
        (
            lambda d: d["sources"][3]["mapping"].__setitem__("date_of_birth", {"sql": "x"}),
            ["sources[3].mapping.date_of_birth:", "{expr:"],
        ),
        (
            lambda d: d["sources"][0].pop("start_date"),
            ["sources[0].start_date: required key is missing"],
        ),
        (
            lambda d: d["sources"][0].__setitem__("path", "crm/export.csv"),
            ["sources[0].path:", "{date:%Y-%m-%d}"],
        ),
        (
            lambda d: d["sources"][0].__setitem__("path", "../../etc/{date:%Y}.csv"),
            ["sources[0].path:", "inside"],
        ),
        (
            lambda d: d["sources"][0]["mapping"].pop("source_record_id"),
            ["sources[0].mapping:", "source_record_id"],
        ),
        (
            lambda d: d["sources"][1].__setitem__("name", "crm"),
            ["sources:", "unique", "crm"],
        ),
        (
            lambda d: d["matching"].__setitem__("review_threshold", 0.99),
            ["matching:", "must not exceed auto_link_threshold"],
        ),
        (
            lambda d: d["survivorship"]["fields"].__setitem__("email", "loudest"),
            ["survivorship.fields.email:", "'trust_rank'"],
        ),
        (
            lambda d: d["retention"]["policies"][0].__setitem__("keep_days", 0),
            ["retention.policies[0].keep_days:", "greater than or equal to 1"],
        ),
        (
            lambda d: d["retention"]["policies"][0].__setitem__("action", "purge"),
            ["retention.policies[0]:", "inactive_customers can only be archived, not purged"],
        ),
        (
            lambda d: d["retention"]["policies"][1].__setitem__("name", "inactive_customers"),
            ["retention.policies:", "unique", "inactive_customers"],
        ),
        (
            lambda d: d.__setitem__("sourcez", []),
            ["sourcez: unknown key", "sources"],
        ),
        (
            lambda d: d["sources"][0].__setitem__("extract", {"kind": "snapshot"}),
            ["sources[0].extract.kind:", "'full' or 'delta'"],
        ),
        (
            lambda d: d["sources"][0].__setitem__(
                "extract", {"kind": "delta", "deleted_when": {"column": "op", "values": [" "]}}
            ),
            ["sources[0].extract.deleted_when.values:", "must not be blank"],
        ),
        (
            lambda d: d["sources"][0].__setitem__("extract", {"max_deleted_share": 1.5}),
            ["sources[0].extract.max_deleted_share:", "less than or equal to 1"],
        ),
    ],
    ids=[
        "unknown-canonical-field",
        "bad-format",
        "typo-key",
        "mapping-not-text",
        "mapping-wrong-dict",
        "missing-start-date",
        "path-without-date",
        "path-escapes-root",
        "no-record-id",
        "duplicate-source",
        "thresholds-inverted",
        "unknown-survivorship-rule",
        "retention-zero-days",
        "retention-action-unfit-for-layer",
        "retention-duplicate-policy",
        "top-level-typo",
        "unknown-extract-kind",
        "blank-deletion-marker",
        "deleted-share-above-one",
    ],
)
def test_invalid_config_names_key_path_and_allowed_values(
    tmp_path: Path, shipped: dict, mutate: Callable[[dict], None], expected: list[str]
) -> None:
    message = _error_for(tmp_path, shipped, mutate)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_every_problem_is_reported_at_once(tmp_path: Path, shipped: dict) -> None:
    def two_mistakes(document: dict) -> None:
        document["sources"][0]["format"] = "xml"
        document["sources"][1]["trust_rank"] = 0

    message = _error_for(tmp_path, shipped, two_mistakes)
    assert "2 problem(s)" in message
    assert "sources[0].format" in message
    assert "sources[1].trust_rank" in message


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text("landing_root: data\nsources:\n  - name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(path)


def test_missing_file_says_how_to_point_elsewhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CUSTODIAN_CONFIG"):
        load_config(tmp_path / "absent.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


def test_new_source_is_one_block(tmp_path: Path, shipped: dict) -> None:
    document = copy.deepcopy(shipped)
    document["sources"].append(
        {
            "name": "marketing_consent",
            "system": "marketing",
            "path": "consent/{date:%Y-%m-%d}/consent.csv",
            "format": "csv",
            "start_date": "2026-11-05",
            "trust_rank": 5,
            "mapping": {"source_record_id": "id", "email": "mail", "consent_marketing": "opt_in"},
        }
    )
    config = load_config(_write(tmp_path, document))
    assert config.source("marketing_consent").start_date.isoformat() == "2026-11-05"
    assert config.landing_root == tmp_path / "data" / "landing"
