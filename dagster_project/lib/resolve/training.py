"""Refit the match model and write what a data engineer needs to judge it.

The model is trained from the warehouse's standardised records (and steward labels), saved as
Splink JSON at matching.model_path (versioned in the repository), and explained with Splink's
own charts written as offline HTML (the JavaScript is embedded, nothing loads from the internet):
  match_weights.html      every comparison level's weight
  m_u_parameters.html     m and u per level
  blocking_rules.html     comparisons each blocking rule adds (Splink's blocking analysis)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.lib.resolve.splink_model import (
    DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    match_input_sql,
    save_model,
    splink_linker,
    train_model,
)

CHARTS = ("match_weights", "m_u_parameters", "blocking_rules")


@dataclass
class TrainingOutcome:
    model_path: Path
    charts: dict[str, Path]
    records: int
    em_blocks: list[str]
    skipped_em_blocks: list[str]
    positive_labels: int
    m_from_labels: bool
    comparisons_by_rule: dict[str, int]
    seconds: float

    def metadata(self) -> dict:
        import dagster as dg  # metadata values only; lib/ stays importable without Dagster

        return {
            "model": dg.MetadataValue.path(str(self.model_path)),
            "records": self.records,
            "em_blocks": ", ".join(self.em_blocks),
            "skipped_em_blocks": ", ".join(self.skipped_em_blocks) or "none",
            "positive_steward_labels": self.positive_labels,
            "m_from_steward_labels": self.m_from_labels,
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
) -> TrainingOutcome:
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
    save_model(report.model, model_path)
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
        comparisons_by_rule=comparisons_by_rule,
        seconds=time.perf_counter() - started,
    )
