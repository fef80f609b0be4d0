"""Refit the match model, validate it, and write what a data engineer needs to judge it.

The model is trained from the warehouse's standardised records (and steward labels), validated
(model_checks: usable parameters, a trial prediction that links a plausible share without a
runaway cluster), and only then swapped in at matching.model_path; a model that fails leaves
the working one in place and the error says why. Everything training worked around on this
data (a level EM drove out of float range, blocks without pairs, a prior no deterministic rule
could estimate) is listed in `warnings`. It is explained with Splink's own charts written as
offline HTML (the JavaScript is embedded, nothing loads from the internet):
  match_weights.html      every comparison level's weight
  m_u_parameters.html     m and u per level
  blocking_rules.html     comparisons each blocking rule adds (Splink's blocking analysis)
  comparison_viewer.html  Splink's comparison viewer over a sample of scored pairs, every
                          personal value masked by its class (the charts are read by many people)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI

from dagster_project.lib.privacy.masking import mask_evidence
from dagster_project.lib.resolve.blocking import DEFAULT_MAX_RECORDS_PER_BLOCK_KEY
from dagster_project.lib.resolve.estimation import train_model
from dagster_project.lib.resolve.model_checks import (
    DEFAULT_MAX_CLUSTER_SIZE,
    ModelValidation,
    ModelValidationError,
    install_model,
    validate_model,
)
from dagster_project.lib.resolve.splink_model import match_input_sql, splink_linker

CHARTS = ("match_weights", "m_u_parameters", "blocking_rules", "comparison_viewer")
# The comparison viewer embeds example pairs in the page: a sample keeps it a few MB.
VIEWER_SAMPLE_RECORDS = 20_000
VIEWER_MIN_PROBABILITY = 0.5
# Columns of scored pairs that identify records inside the platform, not people.
_UNMASKED_PAIR_COLUMNS = frozenset({"record_key", "source_dataset", "match_key"})


@dataclass
class TrainingOutcome:
    model_path: Path
    charts: dict[str, Path]
    records: int
    em_blocks: list[str]
    skipped_em_blocks: list[str]
    positive_labels: int
    m_from_labels: bool
    neutral_levels: list[str]
    comparisons_by_rule: dict[str, int]
    seconds: float
    prior: float = 0.0
    prior_source: str = ""
    # What training worked around and what validation noticed, one sentence each.
    warnings: list[str] = field(default_factory=list)
    validation: ModelValidation = field(default_factory=ModelValidation)

    def metadata(self) -> dict:
        import dagster as dg  # metadata values only; lib/ stays importable without Dagster

        return {
            "model": dg.MetadataValue.path(str(self.model_path)),
            "records": self.records,
            "em_blocks": ", ".join(self.em_blocks),
            "skipped_em_blocks": ", ".join(self.skipped_em_blocks) or "none",
            "positive_steward_labels": self.positive_labels,
            "m_from_steward_labels": self.m_from_labels,
            "levels_without_evidence": "; ".join(self.neutral_levels) or "none",
            "prior": self.prior,
            "prior_source": self.prior_source,
            **self.validation.metadata(),
            "training_warnings": "\n".join(self.warnings) or "none",
            "comparisons_by_blocking_rule": dg.MetadataValue.json(self.comparisons_by_rule),
            "training_seconds": round(self.seconds, 1),
            **{
                f"chart_{name}": dg.MetadataValue.url(path.resolve().as_uri())
                for name, path in self.charts.items()
            },
        }


def train_and_report(
    con: duckdb.DuckDBPyConnection,
    *,
    source_relation: str,
    labels: pa.Table | None,
    model_path: Path,
    charts_dir: Path,
    seed: int = 42,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    auto_link_threshold: float = 0.90,
    review_name_conflicts: bool = True,
    max_cluster_size: int | None = DEFAULT_MAX_CLUSTER_SIZE,
    prediction_options: Mapping[str, Any] | None = None,
) -> TrainingOutcome:
    """Train, validate and install the model at `model_path`, then write the charts.

    `auto_link_threshold`, `review_name_conflicts`, `max_cluster_size` (the golden_customers
    gate's bound) and `prediction_options` (further predict_pairs arguments) make the trial
    prediction the daily run's.

    Raises:
        ModelValidationError: the new model failed validation; `model_path` is unchanged and
            the message says why (with what training worked around).
    """
    started = time.perf_counter()
    records = con.execute(match_input_sql(source_relation)).to_arrow_table()
    if records.num_rows < 2:
        raise ValueError(
            f"{source_relation} holds {records.num_rows} record(s): load and standardise some "
            "days (`custodian run`) before training the match model"
        )
    report = train_model(
        records, labels=labels, seed=seed, max_records_per_block_key=max_records_per_block_key
    )
    try:
        validation = install_model(
            report.model,
            model_path,
            lambda model: validate_model(
                model,
                records,
                auto_link_threshold=auto_link_threshold,
                populated_columns=report.populated_columns,
                deterministic_rules=report.prior_rules,
                max_cluster_size=max_cluster_size,
                max_records_per_block_key=max_records_per_block_key,
                review_name_conflicts=review_name_conflicts,
                prediction_options=prediction_options,
            ),
        )
    except ModelValidationError as exc:
        noted = "".join(f"\n  - {warning}" for warning in report.warnings)
        message = str(exc) + (f"\ntraining noted:{noted}" if noted else "")
        raise ModelValidationError(message) from None
    charts_dir.mkdir(parents=True, exist_ok=True)
    charts = {name: charts_dir / f"{name}.html" for name in CHARTS}
    with splink_linker(records, report.model, max_records_per_block_key) as (linker, _):
        linker.visualisations.match_weights_chart().save_offline_chart(
            str(charts["match_weights"]), overwrite=True, print_msg=False
        )
        linker.visualisations.m_u_parameters_chart().save_offline_chart(
            str(charts["m_u_parameters"]), overwrite=True, print_msg=False
        )
        counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(
            record_sample_proportion=1.0
        )
        linker.blocking_analysis.chart_comparisons_from_blocking_rules(
            record_sample_proportion=1.0
        ).save_offline_chart(str(charts["blocking_rules"]), overwrite=True, print_msg=False)
    _comparison_viewer(
        con, source_relation, report.model, charts["comparison_viewer"], max_records_per_block_key
    )
    comparisons_by_rule = {
        str(record["blocking_rule"]): int(record["marginal_comparison_count"]) for record in counts
    }
    return TrainingOutcome(
        model_path=model_path,
        charts=charts,
        records=records.num_rows,
        em_blocks=report.em_blocks,
        skipped_em_blocks=report.skipped_em_blocks,
        positive_labels=report.positive_labels,
        m_from_labels=report.m_from_labels,
        neutral_levels=report.neutral_levels,
        comparisons_by_rule=comparisons_by_rule,
        seconds=time.perf_counter() - started,
        prior=report.model["probability_two_random_records_match"],
        prior_source=report.prior_source,
        warnings=report.warnings + validation.warnings,
        validation=validation,
    )


def _comparison_viewer(
    con: duckdb.DuckDBPyConnection,
    source_relation: str,
    model: dict,
    path: Path,
    max_records_per_block_key: int,
) -> None:
    """Splink's comparison viewer over a seeded sample, values masked before they reach the page."""
    sample = con.execute(
        f"select * from ({match_input_sql(source_relation)}) "
        f"using sample {VIEWER_SAMPLE_RECORDS} rows (reservoir, 42)"
    ).to_arrow_table()
    settings = {**model, "retain_matching_columns": True}
    with splink_linker(sample, settings, max_records_per_block_key) as (linker, splink_con):
        predictions = linker.inference.predict(threshold_match_probability=VIEWER_MIN_PROBABILITY)
        scored = splink_con.execute(f"select * from {predictions.physical_name}").to_arrow_table()
        splink_con.register("_masked_pairs", mask_pair_values(scored))
        # A table, not a view over Arrow: the viewer's SQL reads rowid. It reads the pairs
        # under Splink's own name for predictions.
        splink_con.execute("create table masked_predictions as select * from _masked_pairs")
        masked = linker.table_management.register_table_predict(
            DuckDBAPI(splink_con).register("masked_predictions")
        )
        linker.visualisations.comparison_viewer_dashboard(masked, str(path), overwrite=True)


def mask_pair_values(pairs: pa.Table) -> pa.Table:
    """Every `<column>_l` / `<column>_r` value of scored pairs masked by the column's class
    (unknown columns count as personal); weights, levels and record keys pass through."""
    columns = []
    for name in pairs.column_names:
        base = name.removesuffix("_l").removesuffix("_r")
        if base == name or base in _UNMASKED_PAIR_COLUMNS or name.startswith("tf_"):
            columns.append(pairs.column(name))
            continue
        columns.append(
            pa.array([_mask(base, value) for value in pairs.column(name).to_pylist()], pa.string())
        )
    return pa.table(columns, names=pairs.column_names)


def _mask(column: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(mask_evidence(column, item)) for item in value)
    return str(mask_evidence(column, value))
