"""What a match model must pass before a run uses it, and which model a run uses.

Replace only after validating: a retrained model is written beside the working one, read back,
checked, and only then swapped in (`os.replace`), so a failed training leaves the working model
byte for byte. The checks:
  - every non-null level has m and u in (0, 1], the prior is in (0, 1) (a prior of 0 is the
    "math domain error" of the next daily run);
  - a trial prediction on a seeded sample of the records (up to 20,000) links something when
    the deterministic rules find matches in that sample, and puts no more records into one
    customer than the golden_customers gate allows (a runaway cluster is strangers joined by a
    value the model weighs too much);
  - warned, not failed: the best achievable probability (the prior and the best level of every
    comparison this data fills) below auto_link_threshold, where nothing could ever auto-link.

A config that has not trained its own model yet (a new deployment) runs with the shipped demo
model, read-only, and says so (`model_for_run`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.lib.resolve.blocking import DEFAULT_MAX_RECORDS_PER_BLOCK_KEY, pairs_sharing
from dagster_project.lib.resolve.clustering import auto_linked_edges, cluster_records
from dagster_project.lib.resolve.splink_model import (
    ModelError,
    level_columns,
    load_model,
    model_parameter_problems,
    predict_pairs,
    save_model,
)
from dagster_project.lib.warehouse import scratch_connection

# The demo's model, committed with the code: the fallback for a config without its own.
SHIPPED_MODEL_PATH = Path(__file__).parent / "model" / "customer_model.json"
# Large enough to hold a few thousand true pairs, small enough to predict in seconds at 1M.
TRIAL_SAMPLE_RECORDS = 20_000
TRIAL_SEED = 42
# candidate.golden_customers' critical gate: no customer merges more than 50 source records.
DEFAULT_MAX_CLUSTER_SIZE = 50


class ModelValidationError(ModelError):
    """A newly trained model failed validation; the working model was left in place."""


@dataclass
class ModelValidation:
    """The outcome of validating one model; `problems` keep it from replacing the working one."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sample_records: int = 0
    auto_linked_pairs: int = 0
    # Share of the sampled records in a cluster of two or more at auto_link_threshold.
    linked_record_share: float = 0.0
    largest_cluster: int = 0
    # Pairs in the sample agreeing on a deterministic rule the prior was estimated from.
    deterministic_pairs: int = 0
    max_match_probability: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems

    def metadata(self) -> dict[str, Any]:
        return {
            "trial_sample_records": self.sample_records,
            "trial_auto_linked_pairs": self.auto_linked_pairs,
            "trial_linked_record_share": round(self.linked_record_share, 4),
            "trial_largest_cluster": self.largest_cluster,
            "trial_deterministic_pairs": self.deterministic_pairs,
            "max_match_probability": round(self.max_match_probability, 6),
        }


def validate_model(
    model: dict,
    records: pa.Table,
    *,
    auto_link_threshold: float,
    populated_columns: Iterable[str],
    deterministic_rules: Iterable[tuple[str, ...]] = (),
    max_cluster_size: int | None = DEFAULT_MAX_CLUSTER_SIZE,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    review_name_conflicts: bool = True,
    prediction_options: Mapping[str, Any] | None = None,
    sample_records: int = TRIAL_SAMPLE_RECORDS,
    seed: int = TRIAL_SEED,
) -> ModelValidation:
    """Check `model` on `records` (MATCH_COLUMNS) as the daily run would use it.

    `populated_columns`: the columns this data fills (TrainingReport.populated_columns).
    `deterministic_rules`: the rules the prior was estimated from; where they find pairs in the
    sample, a model that links none of them fails. `max_cluster_size`: the largest customer the
    trial may form (None: unbounded). `prediction_options`: further predict_pairs arguments
    (the daily run's blocking settings).
    """
    validation = ModelValidation(problems=model_parameter_problems(model, complete=True))
    if validation.problems:
        return validation
    populated = frozenset(populated_columns)
    validation.max_match_probability = max_match_probability(model, populated)
    if validation.max_match_probability < auto_link_threshold:
        validation.warnings.append(
            "no combination of agreeing fields can reach auto-link: the best achievable match "
            f"probability is {validation.max_match_probability:.4f}, below auto_link_threshold "
            f"{auto_link_threshold}; lower the threshold or add fields"
        )
    sample = _sample(records, sample_records, seed)
    validation.sample_records = sample.num_rows
    validation.deterministic_pairs = _deterministic_pairs(
        sample, list(deterministic_rules), max_records_per_block_key
    )
    try:
        pairs = predict_pairs(
            sample,
            model,
            review_threshold=auto_link_threshold,
            auto_link_threshold=auto_link_threshold,
            max_records_per_block_key=max_records_per_block_key,
            review_name_conflicts=review_name_conflicts,
            **(prediction_options or {}),
        )
    except Exception as exc:  # whatever stops prediction stops the model from being used
        validation.problems.append(f"the trial prediction failed: {type(exc).__name__}: {exc}")
        return validation
    linked = auto_linked_edges(pairs)
    validation.auto_linked_pairs = linked.num_rows
    sizes = _cluster_sizes(sample, linked, auto_link_threshold)
    validation.largest_cluster = max(sizes, default=0)
    validation.linked_record_share = sum(size for size in sizes if size > 1) / max(
        sample.num_rows, 1
    )
    where = f"the trial prediction on {sample.num_rows:,} sampled records"
    if not linked.num_rows and validation.deterministic_pairs:
        validation.problems.append(
            f"{where} linked nothing at auto_link_threshold {auto_link_threshold}, though "
            f"{validation.deterministic_pairs:,} pairs there agree on "
            f"{_rule_names(deterministic_rules)}: the model cannot tell matches apart"
        )
    elif not linked.num_rows:
        validation.warnings.append(
            f"{where} linked nothing at auto_link_threshold {auto_link_threshold} (no "
            "deterministic rule finds a pair there either)"
        )
    if max_cluster_size is not None and validation.largest_cluster > max_cluster_size:
        validation.problems.append(
            f"{where} put {validation.largest_cluster:,} records into one customer, more than "
            f"{max_cluster_size} (the golden_customers gate's bound): the model links strangers "
            "through a value it weighs too much"
        )
    return validation


def max_match_probability(model: dict, populated_columns: Iterable[str]) -> float:
    """The probability of a pair agreeing as well as this data allows: the prior plus, per
    comparison, its best level among those whose columns the data fills (0 when none: the
    null level). Term-frequency adjustments are left out (they favour rare values only)."""
    populated = frozenset(populated_columns)
    prior = model["probability_two_random_records_match"]
    weight = math.log2(prior / (1 - prior))
    for comparison in model["comparisons"]:
        weights = [
            math.log2(level["m_probability"] / level["u_probability"])
            for level in comparison["comparison_levels"]
            if not level.get("is_null_level")
            and level_columns(level) <= populated
            and level.get("m_probability")
            and level.get("u_probability")
        ]
        weight += max([0.0, *weights])
    # 2^w / (1 + 2^w), without overflowing for large w.
    return 1 / (1 + 2.0 ** min(-weight, 1000))


def install_model(
    model: dict, path: Path, validate: Callable[[dict], ModelValidation]
) -> ModelValidation:
    """Write `model` to a temporary file beside `path`, read it back as a run would, validate
    it, and only then replace `path` with it.

    Raises:
        ModelValidationError: the model failed; `path` is untouched and the message says why.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".{path.stem}.candidate-{os.getpid()}{path.suffix}")
    try:
        save_model(model, candidate)
        try:
            validation = validate(load_model(candidate))
        except ModelError as exc:
            validation = ModelValidation(problems=[str(exc)])
        if not validation.passed:
            kept = f"{path} is unchanged" if path.is_file() else f"nothing was written to {path}"
            raise ModelValidationError(
                f"the retrained match model failed validation; {kept}:\n"
                + "\n".join(f"  - {problem}" for problem in validation.problems)
            )
        os.replace(candidate, path)
    finally:
        candidate.unlink(missing_ok=True)
    return validation


def model_for_run(configured: Path) -> tuple[Path, str | None]:
    """The model a daily run loads, and a warning when it is not the configured one: a config
    that has not trained its own yet runs with the shipped demo model (read, never written)."""
    if configured.is_file() or not SHIPPED_MODEL_PATH.is_file():
        return configured, None
    return SHIPPED_MODEL_PATH, (
        f"no model trained for this config yet at {configured}: using the shipped demo model; "
        "run `custodian train`"
    )


def _sample(records: pa.Table, size: int, seed: int) -> pa.Table:
    if records.num_rows <= size:
        return records
    con = scratch_connection()
    try:
        con.register("records", records)
        return con.execute(
            f"select * from records using sample {int(size)} rows (reservoir, {int(seed)})"
        ).to_arrow_table()
    finally:
        con.close()


def _deterministic_pairs(
    sample: pa.Table, rules: list[tuple[str, ...]], max_records_per_block_key: int
) -> int:
    """Pairs agreeing on any rule, summed per rule (an upper bound: only > 0 matters)."""
    if not rules:
        return 0
    con = scratch_connection()
    try:
        con.register("sample", sample)
        return sum(
            pairs_sharing(con, "sample", tuple(rule), max_records_per_block_key) for rule in rules
        )
    finally:
        con.close()


def _cluster_sizes(sample: pa.Table, linked: pa.Table, threshold: float) -> list[int]:
    membership = cluster_records(
        sample.column("record_key"), linked, threshold=threshold
    ).membership
    counts = pc.value_counts(membership.column("cluster_id"))
    return counts.field("counts").to_pylist()


def _rule_names(rules: Iterable[tuple[str, ...]]) -> str:
    return ", ".join("+".join(rule) for rule in rules)
