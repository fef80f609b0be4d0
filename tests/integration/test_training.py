"""`custodian train`'s work without Dagster: a model saved as Splink JSON and charts written as
offline HTML, the comparison viewer without a single raw personal value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa

from dagster_project.lib.resolve.splink_model import load_model, model_parameter_problems
from dagster_project.lib.resolve.training import CHARTS, mask_pair_values, train_and_report
from tests.integration.test_resolution import FILLER, RECORDS, write_records
from tests.support.database import open_database

RAW_VALUES = ("13800138000", "zhangsan@qq.com", "11010119900503123X", "长安街1号")


def test_training_saves_a_loadable_model_and_masked_offline_charts(tmp_path: Path) -> None:
    con = open_database(tmp_path / "w.duckdb")
    write_records(con, RECORDS + FILLER)
    model_path = tmp_path / "model" / "customer_model.json"
    outcome = train_and_report(
        con,
        source_relation="intermediate.int_customer_records",
        labels=None,
        model_path=model_path,
        charts_dir=tmp_path / "charts",
    )
    model = load_model(model_path)
    assert model["link_type"] == "link_and_dedupe"
    assert json.loads(model_path.read_text(encoding="utf-8")) == model
    assert outcome.records == len(RECORDS) + len(FILLER)
    assert sum(outcome.comparisons_by_rule.values()) > 0
    # Validated before it was written: every level stated, the prior from the rules that hold
    # here, and a trial prediction that links (Zhang San's three records) without a runaway.
    assert model_parameter_problems(model, complete=True) == []
    assert outcome.prior_source.startswith("deterministic rules")
    assert outcome.validation.passed
    assert outcome.validation.auto_linked_pairs > 0
    assert outcome.validation.largest_cluster < 10
    # 306 records leave levels unseen: each is listed and weighs nothing (m = u), instead of
    # a Splink default weight.
    assert "street_line: Same street, house number on one side only" in outcome.neutral_levels
    levels = {
        f"{comparison['output_column_name']}: {level['label_for_charts']}": level
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
    }
    for name in outcome.neutral_levels:
        assert isinstance(levels[name]["m_probability"], float), name
        assert levels[name]["m_probability"] == levels[name]["u_probability"], name
    for name in CHARTS:
        page = outcome.charts[name].read_text(encoding="utf-8")
        # Offline: the JavaScript is in the page, no script is fetched from the internet.
        assert not re.search(r"<script[^>]*\bsrc=[\"']?https?:", page), name
        for raw in RAW_VALUES:
            assert raw not in page, f"{raw} unmasked in {name}"
    # The viewer does show example pairs: Zhang San's, with her e-mail masked.
    assert "z***@qq.com" in outcome.charts["comparison_viewer"].read_text(encoding="utf-8")


def test_pair_values_are_masked_and_weights_pass_through() -> None:
    pairs = pa.table(
        {
            "record_key_l": ["crm:1"],
            "email_normalised_l": ["zhangsan@qq.com"],
            "phone_numbers_r": [["+8613800138000"]],
            "gamma_email_normalised": [4],
            "mw_email_normalised": [12.5],
        }
    )
    masked = mask_pair_values(pairs).to_pylist()[0]
    assert masked["record_key_l"] == "crm:1"
    assert masked["email_normalised_l"] == "z***@qq.com"
    assert "13800138000" not in masked["phone_numbers_r"]
    assert (masked["gamma_email_normalised"], masked["mw_email_normalised"]) == (4, 12.5)
