"""Estimating the model's parameters on the records at hand (train_model).

The prior from deterministic rules that hold on this data (or from EM when none finds a pair),
refined to the model's own fixed point; u by random sampling; m by EM over the blocks this
data's fields allow, then from steward labels when there are enough of them. What the data
lacks does not raise: a block without pairs is skipped, a level EM drives out of float range is
floored, a level training never showed is set to no evidence, an unestimated prior falls back,
each listed in the TrainingReport's warnings.

This module only estimates; training.py runs a training (this, then validation before the new
model replaces the working one, and the charts).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import traceback
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
from splink import Linker, block_on

from dagster_project.lib.resolve.blocking import DEFAULT_MAX_RECORDS_PER_BLOCK_KEY, pairs_sharing
from dagster_project.lib.resolve.comparisons import build_settings
from dagster_project.lib.resolve.splink_model import (
    MATCH_COLUMNS,
    comparison_columns,
    splink_linker,
)
from dagster_project.lib.warehouse import scratch_connection

# Fewer positive steward labels than this and m estimated from labels would be noisier than
# the EM estimate it replaces.
MIN_POSITIVE_LABELS_FOR_M = 100


@dataclass
class TrainingReport:
    """What training estimated, and everything it had to work around on this data."""

    model: dict
    em_blocks: list[str]
    skipped_em_blocks: list[str]
    positive_labels: int
    m_from_labels: bool
    # "comparison: level" for levels the data never showed, set to no evidence either way.
    neutral_levels: list[str]
    # One sentence per thing training worked around (a level EM drove below float range, a
    # block without pairs, deterministic rules that found nothing, a comparison no block could
    # estimate): printed by `custodian train` and in er/match_model's metadata, never silent.
    warnings: list[str] = field(default_factory=list)
    # How the prior (the probability that two random records match) was estimated.
    prior_source: str = ""
    # The deterministic rules whose pairs gave the prior; empty when none found a pair here.
    prior_rules: list[tuple[str, ...]] = field(default_factory=list)
    # Match columns holding a value on enough records to block or compare on.
    populated_columns: list[str] = field(default_factory=list)


# EM blocks: each leaves the comparisons not on its columns free to be estimated. These are
# used whenever the data fills their columns with enough pairs (FEBRL has no phones: skipped).
EM_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("name_sorted_key", "date_of_birth"),
    ("mobile_phone_e164",),
    ("national_id",),
    ("email_normalised",),
    ("date_of_birth", "postal_code"),
)
# Blocks for data the ones above leave short (no identifiers: names, birth dates and places),
# each added, in this order, only while a comparison whose columns hold values is estimated in
# no block yet. Names and birth dates only: the joined name estimates the birth date, the birth
# date alone the name.
FALLBACK_EM_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("name_sorted_key", "city_key"),
    ("name_sorted_key", "postal_code"),
    ("date_of_birth", "city_key"),
    ("company_name", "name_sorted_key"),
    ("name_joined_key",),
    ("date_of_birth",),
    # Names, places and employers only: every block above uses the name's columns, so only a
    # block without them (employer and place) leaves the name to be estimated.
    ("company_name", "city_key"),
    ("company_name",),
    ("city_key",),
)
MIN_EM_BLOCK_PAIRS = 200
# A larger block is trained on a sample of its pairs (Splink's max_pairs): the birth date alone
# gives ~14M pairs at 1M records.
EM_MAX_PAIRS = 5_000_000
# A column counts as populated when this share of the records (and at least two) has a value:
# a field on three records in a million neither blocks nor decides anything.
POPULATED_MIN_SHARE = 0.01

# Deterministic rules for the prior, in order of trust. The first set with a rule this data
# fills that finds pairs gives it: pairs found / PRIOR_RECALL / all pairs. Data with none of
# them starts EM at 1 / (records - 1) (about one duplicate per record) and takes the prior from
# the EM block expecting the most matches instead (_prior_from_em).
PRIOR_RULE_SETS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (
        ("national_id",),
        ("email_normalised",),
        ("mobile_phone_e164",),
        ("name_sorted_key", "date_of_birth"),
    ),
    (
        ("name_sorted_key", "postal_code"),
        ("name_sorted_key", "city_key"),
        ("name_sorted_key", "street_line"),
    ),
)
PRIOR_RECALL = 0.7
# Never 0 (every log-odds is -inf: "math domain error" in the next daily run) nor near 1 (every
# pair a match).
PRIOR_BOUNDS = (1e-12, 0.5)

# EM drives the m of a level that only non-matches show towards 0, on some data below what a
# float holds (Splink stops: "m_probability value 2.7e-318 is below the minimum allowed
# value"). Such a block is run again stopping one iteration earlier, and an m left below
# COLLAPSED_M (converged EM stays far above it: the demo's smallest is ~1e-21) is set to weight
# COLLAPSED_LEVEL_WEIGHT: strong evidence against, not a veto no other field can outweigh.
COLLAPSED_M = 1e-100
COLLAPSED_LEVEL_WEIGHT = -20
_UNDERFLOW_MESSAGE = "below the minimum allowed value"


def train_model(
    records: pa.Table,
    *,
    labels: pa.Table | None = None,
    seed: int = 42,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
) -> TrainingReport:
    """Estimate the prior from deterministic rules that hold on this data, u by random sampling
    (fixed seed), m by EM over the blocks this data's fields allow, then m from steward labels
    when there are enough of them.

    What the data lacks does not raise: a block without pairs is skipped, a level EM drives out
    of float range is floored, an unestimated prior falls back, each listed in `warnings`.
    Validate the result before it replaces a working model (model_checks.install_model).

    `labels`: (record_key_l, record_key_r, is_match) decisions by stewards.
    """
    warnings: list[str] = []
    populated, prior = _populated_columns_and_prior(records, warnings)
    settings = build_settings()
    settings.probability_two_random_records_match = prior.value
    with splink_linker(records, settings, max_records_per_block_key) as (linker, con):
        training = linker.training
        training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        used, skipped, expected_matches = _estimate_m_by_em(
            linker,
            con,
            populated,
            comparison_columns(linker.misc.save_model_to_json()),
            max_records_per_block_key,
            warnings,
        )
        if not used:
            warnings.append(
                "EM ran on no block (none had enough pairs on this data): m values are "
                "Splink's defaults or neutral, the model is barely trained"
            )
        prior_value, prior_source = prior.value, prior.source
        if not prior.rules:
            prior_value, prior_source = _prior_from_em(
                expected_matches, records.num_rows, prior, warnings
            )
        positives = 0
        from_labels = False
        if labels is not None and labels.num_rows:
            positives = _register_positive_labels(con, labels)
            if positives >= MIN_POSITIVE_LABELS_FOR_M:
                try:
                    training.estimate_m_from_pairwise_labels("steward_labels")
                    from_labels = True
                except (ValueError, ArithmeticError) as exc:
                    warnings.append(f"m from steward labels failed ({_first_line(exc)}); EM's kept")
        model = linker.misc.save_model_to_json()
    floored = _floor_collapsed_levels(model)
    warnings += [
        f"{name}: EM drove m below {COLLAPSED_M:g}; set to weight {COLLAPSED_LEVEL_WEIGHT}"
        for name in floored
    ]
    neutral = _neutralise_untrained_levels(model)
    warnings += [
        f"{name}: no EM block on this data leaves it free (each usable block uses its "
        "columns); saved with Splink's default m values, untrained"
        for name in _write_default_m_values(model, populated)
    ]
    warnings += [
        f"{name}: seen by EM but in none of the random pairs; u set to "
        f"{_NEUTRAL_PROBABILITY:g}, Splink's value for an unobserved level"
        for name in _write_unobserved_u_values(model)
    ]
    model["probability_two_random_records_match"] = _bounded_prior(prior_value, warnings)
    implied = _prior_implied_by_predictions(records, model, max_records_per_block_key)
    if implied is not None:
        model["probability_two_random_records_match"] = _bounded_prior(implied, warnings)
        # u from random pairs weighed by how unlikely each is to be a match, then the prior
        # again under the new u (each moves the other; one round settles all but the noise).
        if _u_among_likely_non_matches(records, model, seed, set(floored) | set(neutral)):
            again = _prior_implied_by_predictions(records, model, max_records_per_block_key)
            if again is not None:
                implied = again
                model["probability_two_random_records_match"] = _bounded_prior(implied, warnings)
        prior_source = (
            f"{prior_source}; refined to {implied:.3g}, the share of matches the model's own "
            "predictions imply over the candidate pairs"
        )
    return TrainingReport(
        model,
        used,
        skipped,
        positives,
        from_labels,
        neutral,
        warnings=warnings,
        prior_source=prior_source,
        prior_rules=list(prior.rules),
        populated_columns=sorted(populated),
    )


def prior_from_deterministic_rules(records: pa.Table) -> tuple[float, str] | None:
    """The prior these records' deterministic rules give (as training starts from) and how it
    was found, or None when no rule finds a pair on them.

    For a model trained on other data: its prior is a share of the pairs of its own training
    set (1 in 40,000 for the demo's 60,000 records), so on a deployment's first 300 records,
    where one pair in 300 matches, even a shared name and e-mail stayed below review.
    """
    warnings: list[str] = []
    _, prior = _populated_columns_and_prior(records, warnings)
    return (prior.value, prior.source) if prior.rules else None


@dataclass(frozen=True)
class _Prior:
    value: float
    rules: tuple[tuple[str, ...], ...]
    source: str


def _populated_columns_and_prior(
    records: pa.Table, warnings: list[str]
) -> tuple[frozenset[str], _Prior]:
    """The populated match columns, and the prior from the first deterministic rule set that
    finds pairs on them (counted exactly as Splink's estimate does, before the model exists:
    Splink sets a prior of 0 when its rules find nothing)."""
    con = scratch_connection()
    try:
        con.register("records", records.select(list(MATCH_COLUMNS)))
        count = records.num_rows
        filled = con.execute(
            "select " + ", ".join(f"count({column})" for column in MATCH_COLUMNS) + " from records"
        ).fetchone()
        values_by_column = dict(zip(MATCH_COLUMNS, filled, strict=True))
        populated = frozenset(
            column
            for column, values in values_by_column.items()
            if values >= max(2, POPULATED_MIN_SHARE * count)
        )
        # A rule counts whatever pairs it finds, however few records hold its columns.
        present = frozenset(column for column, values in values_by_column.items() if values >= 2)
        all_pairs = max(count * (count - 1) // 2, 1)
        for rule_set in PRIOR_RULE_SETS:
            rules = tuple(rule for rule in rule_set if set(rule) <= present)
            if not rules:
                continue
            names = ", ".join("+".join(rule) for rule in rules)
            found = _pairs_agreeing_on_any(con, rules)
            if not found:
                warnings.append(
                    f"prior: no two records agree on {names} (deterministic rules found no "
                    "matches); trying other rules"
                )
                continue
            return populated, _Prior(
                _bounded_prior(found / PRIOR_RECALL / all_pairs, warnings),
                rules,
                f"deterministic rules {names}: {found:,} of {all_pairs:,} pairs agree, "
                f"assumed recall {PRIOR_RECALL}",
            )
    finally:
        con.close()
    start = _bounded_prior(1 / max(count - 1, 1), warnings)
    warnings.append(
        "prior: no deterministic rule found a pair on this data; EM starts at "
        f"1 / (records - 1) = {start:.3g} and its estimate is used"
    )
    return populated, _Prior(start, (), f"no deterministic rule applies; EM started at {start:.3g}")


def _pairs_agreeing_on_any(
    con: duckdb.DuckDBPyConnection, rules: tuple[tuple[str, ...], ...]
) -> int:
    """Distinct pairs of records agreeing on at least one rule (all its columns non-null), by
    inclusion-exclusion over the rules' combinations: group counts, no pair is materialised."""
    total = 0
    for size in range(1, len(rules) + 1):
        for subset in itertools.combinations(rules, size):
            columns = tuple(sorted({column for rule in subset for column in rule}))
            total += (-1) ** (size + 1) * pairs_sharing(con, "records", columns)
    return total


def _estimate_m_by_em(
    linker: Linker,
    con: duckdb.DuckDBPyConnection,
    populated: frozenset[str],
    columns_by_comparison: dict[str, frozenset[str]],
    max_records_per_block_key: int,
    warnings: list[str],
) -> tuple[list[str], list[str], dict[str, float]]:
    """EM over EM_BLOCKS that have pairs here, then FALLBACK_EM_BLOCKS while a populated
    comparison is estimated in none. Returns the blocks used, the skipped ones, and per used
    block the matching pairs EM expects in it (its pairs x its final match share)."""
    to_estimate = {name for name, columns in columns_by_comparison.items() if columns & populated}

    def freed(block: tuple[str, ...]) -> set[str]:
        return {name for name in to_estimate if not columns_by_comparison[name] & set(block)}

    used: list[str] = []
    skipped: list[str] = []
    expected_matches: dict[str, float] = {}
    estimated: set[str] = set()
    candidates = [(block, False) for block in EM_BLOCKS]
    candidates += [(block, True) for block in FALLBACK_EM_BLOCKS]
    for block, is_fallback in candidates:
        label = "+".join(block)
        if is_fallback and (not freed(block) - estimated or not set(block) <= populated):
            continue
        pairs = _block_pair_count(con, block, max_records_per_block_key)
        if pairs < MIN_EM_BLOCK_PAIRS:
            skipped.append(f"{label} ({pairs} pairs)")
            continue
        match_share = _expectation_maximisation(linker, block, pairs, warnings)
        if match_share is None:
            skipped.append(f"{label} (EM failed)")
            continue
        used.append(label)
        estimated |= freed(block)
        expected_matches[label] = pairs * match_share
    return used, skipped, expected_matches


@dataclass(frozen=True)
class _Underflow:
    comparison: str | None
    level: str | None
    iteration: int | None


def _expectation_maximisation(
    linker: Linker, block: tuple[str, ...], pairs: int, warnings: list[str]
) -> float | None:
    """EM on one block: the share of its pairs EM ends up calling matches (NaN when Splink does
    not say), or None when the block was skipped. An m driven below float range is met by
    running the block again one iteration short; other failures skip the block."""
    from splink.internals.exceptions import EMTrainingException

    label = "+".join(block)

    def run() -> float:
        session = linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*block),
            estimate_without_term_frequencies=True,
            max_pairs=EM_MAX_PAIRS if pairs > EM_MAX_PAIRS else None,
        )
        share = getattr(
            getattr(session, "core_model_settings", None),
            "probability_two_random_records_match",
            None,
        )
        return float(share) if isinstance(share, float | int) else math.nan

    try:
        return run()
    except EMTrainingException:
        warnings.append(f"EM block {label}: no record pairs to train on; skipped")
        return None
    except (ValueError, ArithmeticError) as exc:
        if _UNDERFLOW_MESSAGE not in str(exc):
            warnings.append(f"EM block {label}: {_first_line(exc)}; skipped")
            return None
        underflow = _underflow_site(exc)
    where = f"{underflow.comparison}: {underflow.level}" if underflow.comparison else "a level"
    # Splink's EM reads its iteration limit (a frozen TrainingSettings) from here on each run.
    settings = getattr(linker, "_settings_obj", None)
    limits = getattr(settings, "training_settings", None)
    if not underflow.iteration or underflow.iteration < 2 or limits is None:
        warnings.append(
            f"EM block {label}: the m of {where} fell below 1e-300 (float underflow); block skipped"
        )
        return None
    settings.training_settings = dataclasses.replace(limits, max_iterations=underflow.iteration - 1)
    try:
        share = run()
    except (EMTrainingException, ValueError, ArithmeticError) as exc:
        warnings.append(
            f"EM block {label}: the m of {where} fell below 1e-300 (float underflow) and "
            f"a shorter run failed too ({_first_line(exc)}); block skipped"
        )
        return None
    finally:
        settings.training_settings = limits
    warnings.append(
        f"EM block {label}: the m of {where} fell below 1e-300 (float underflow) at "
        f"iteration {underflow.iteration}; this block's EM stopped after iteration "
        f"{underflow.iteration - 1}"
    )
    return share


def _underflow_site(exc: BaseException) -> _Underflow:
    """Which level underflowed, at which EM iteration: read from the frames Splink raised in
    (its message names neither); unknown when Splink's internals change."""
    comparison = level = iteration = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        local = frame.f_locals
        if frame.f_code.co_name == "expectation_maximisation":
            iteration = local.get("i") if isinstance(local.get("i"), int) else None
        elif frame.f_code.co_name == "populate_m_u_from_lookup":
            comparison = local.get("output_column_name")
            level = getattr(local.get("comparison_level"), "label_for_charts", None)
    return _Underflow(comparison, level, iteration)


def _prior_from_em(
    expected_matches: dict[str, float], records: int, start: _Prior, warnings: list[str]
) -> tuple[float, str]:
    """For data where no deterministic rule found a pair: the EM block expecting the most
    matching pairs stands in for the rules (its matches / PRIOR_RECALL / all pairs), EM's match
    share discounting the strangers a block holds. Splink's own derivation reverses each
    block's share by its blocking rule's levels, and leaves it unreversed (too high by orders
    of magnitude) when a block's columns have no exact-match level, as the birth date's has not.
    """
    usable = {
        label: count
        for label, count in expected_matches.items()
        if math.isfinite(count) and count > 0
    }
    if not usable:
        warnings.append(
            f"prior: EM gave no estimate either; kept the start {start.value:.3g} "
            "(about one duplicate per record)"
        )
        return start.value, start.source
    label = max(usable, key=usable.__getitem__)
    all_pairs = max(records * (records - 1) // 2, 1)
    value = _bounded_prior(usable[label] / PRIOR_RECALL / all_pairs, warnings)
    return value, (
        f"EM (no deterministic rule found a pair): {usable[label]:,.0f} matching pairs expected "
        f"in block {label}, assumed recall {PRIOR_RECALL}"
    )


# The fixed point is sought over pairs scored at least this likely at the starting prior:
# fainter ones add nothing measurable to the expected matches.
_IMPLIED_PRIOR_FLOOR = 1e-4
_IMPLIED_PRIOR_ITERATIONS = 100


def _prior_implied_by_predictions(
    records: pa.Table, model: dict, max_records_per_block_key: int
) -> float | None:
    """The prior at which the model agrees with itself: lambda = (expected matching pairs among
    the candidate pairs, each at its probability under lambda) / all pairs, iterated to its
    fixed point with m and u held (EM for the prior alone).

    The deterministic rules' estimate assumes they find PRIOR_RECALL of the matches; on data
    whose duplicates mostly differ in the rules' fields (typos in names and birth dates) they
    find a fifth, and the prior is several times too low for any pair without an identifier to
    reach auto-link. None when no pair is scored (nothing to learn from).
    """
    start = model["probability_two_random_records_match"]
    with splink_linker(records, model, max_records_per_block_key) as (linker, con):
        predictions = linker.inference.predict(threshold_match_probability=_IMPLIED_PRIOR_FLOOR)
        weights = con.execute(f"select match_weight from {predictions.physical_name}").fetchnumpy()[
            "match_weight"
        ]
    if not len(weights):
        return None
    # The evidence of each pair, without the prior: log2 of its Bayes factor.
    evidence = np.asarray(weights, dtype=float) - math.log2(start / (1 - start))
    all_pairs = max(records.num_rows * (records.num_rows - 1) // 2, 1)
    prior = start
    for _ in range(_IMPLIED_PRIOR_ITERATIONS):
        odds = evidence + math.log2(prior / (1 - prior))
        expected = float(np.sum(1.0 / (1.0 + np.exp2(-np.clip(odds, -60, 60)))))
        updated = min(max(expected / all_pairs, PRIOR_BOUNDS[0]), PRIOR_BOUNDS[1])
        if abs(math.log(updated / prior)) < 1e-6:
            return updated
        prior = updated
    return prior


# Random pairs the u re-estimate scores (Splink's estimate_u_using_random_sampling uses 2M).
U_SAMPLE_PAIRS = 2_000_000


def _u_among_likely_non_matches(
    records: pa.Table, model: dict, seed: int, weights_kept: set[str]
) -> bool:
    """Re-estimate each level's u (in place) over a random sample of pairs, each pair counted by
    its probability of not being a match under the model. True when u changed.

    Splink's random sampling counts every sampled pair as a non-match. Where people have several
    records, the few true matches in the sample are most of the pairs at the strongest levels:
    on a register of 2,000 people with ~2 records each, 92% of the random pairs agreeing on a
    full name were one person's records, so u said a name is shared by strangers ten times as
    often as it is, and a name with a birth date a keystroke off could not reach auto-link. One
    E-step over the sample removes them. A level is never given less u than one non-matching
    pair in the sample would show, so no level becomes certain. The levels in `weights_kept`
    ("comparison: level", set to a weight rather than estimated: floored, or no evidence) keep
    their weight: their m moves with u.
    """
    rows = records.num_rows
    all_pairs = rows * (rows - 1) / 2
    if all_pairs < 1:
        return False
    # Records fall into buckets by a seeded hash of their key; the pairs sharing a bucket are
    # a random sample of about U_SAMPLE_PAIRS pairs, scored by Splink like any candidates.
    buckets = max(1, math.ceil(all_pairs / U_SAMPLE_PAIRS))
    bucket = f"hash(concat({{side}}.record_key, '|u{seed}')) % {buckets}"
    rule = {
        "blocking_rule": f"{bucket.format(side='l')} = {bucket.format(side='r')}",
        "sql_dialect": "duckdb",
    }
    with splink_linker(records, model, sampled_pairs_rule=rule) as (linker, con):
        predictions = linker.inference.predict()
        sampled = con.execute(f"select count(*) from {predictions.physical_name}").fetchone()[0]
        if not sampled:
            return False
        # Splink 5 keeps each comparison's weight but not its level: the levels are evaluated
        # again here, with the model's own conditions, over the sampled pairs.
        sides = ", ".join(f"l.{c} as {c}_l, r.{c} as {c}_r" for c in MATCH_COLUMNS)
        con.execute(
            f"""
            create or replace temp table _u_sample as
            select p.match_probability, {sides}
            from {predictions.physical_name} as p
            join match_input as l on l.record_key = p.record_key_l
            join match_input as r on r.record_key = p.record_key_r
            """
        )
        changed = False
        for comparison in model["comparisons"]:
            levels = comparison["comparison_levels"]
            cases = " ".join(
                f"when {level['sql_condition']} then {position}"
                for position, level in enumerate(levels)
                if level["sql_condition"].strip().upper() != "ELSE"
            )
            weights = dict(
                con.execute(
                    f"select coalesce(case {cases} end, {len(levels) - 1}) as level, "
                    "sum(1 - match_probability) from _u_sample group by all"
                ).fetchall()
            )
            compared = sum(
                weight
                for position, weight in weights.items()
                if not levels[position].get("is_null_level")
            )
            if compared <= 0:
                continue
            for position, level in enumerate(levels):
                if level.get("is_null_level") or position not in weights:
                    continue  # not in the sample: the earlier estimate (or neutral) stands
                u = max(weights[position], 1.0) / max(compared, 1.0)
                name = f"{comparison['output_column_name']}: {level['label_for_charts']}"
                if name in weights_kept:
                    level["m_probability"] = min(
                        1.0, level["m_probability"] * u / level["u_probability"]
                    )
                level["u_probability"] = u
                changed = True
    return changed


def _bounded_prior(value: float, warnings: list[str]) -> float:
    low, high = PRIOR_BOUNDS
    if isinstance(value, float | int) and math.isfinite(value) and low <= value <= high:
        return float(value)
    bounded = high if isinstance(value, float | int) and value > high else low
    shown = f"{value:.3g}" if isinstance(value, float | int) else repr(value)
    warnings.append(f"prior: estimate {shown} is outside [{low:g}, {high:g}]; set to {bounded:g}")
    return bounded


def _floor_collapsed_levels(model: dict) -> list[str]:
    """Levels whose m EM drove below COLLAPSED_M get weight COLLAPSED_LEVEL_WEIGHT (in place)."""
    floored = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or not isinstance(m, float | int) or m >= COLLAPSED_M:
                continue
            if isinstance(u, float | int) and u > 0:
                level["m_probability"] = u * 2.0**COLLAPSED_LEVEL_WEIGHT
            else:
                level["m_probability"] = level["u_probability"] = _NEUTRAL_PROBABILITY
            floored.append(f"{comparison['output_column_name']}: {level['label_for_charts']}")
    return floored


def _write_default_m_values(model: dict, populated: frozenset[str]) -> list[str]:
    """Write Splink's defaults (0.95 for the first level, the other 0.05 shared) into levels
    still without an m: a comparison EM never ran on, which Splink would predict with anyway.
    Written out, the saved model says what it predicts with and each level can be checked.
    Returns the comparisons whose columns hold values here (the others are merely empty)."""
    defaulted = []
    for comparison in model["comparisons"]:
        levels = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        untrained = [level for level in levels if level.get("m_probability") in _UNTRAINED]
        if not untrained:
            continue
        for position, level in enumerate(levels):
            if any(level is other for other in untrained):
                level["m_probability"] = 0.95 if position == 0 else 0.05 / (len(levels) - 1)
        name = comparison["output_column_name"]
        if comparison_columns({"comparisons": [comparison]})[name] & populated:
            defaulted.append(name)
    return defaulted


def _write_unobserved_u_values(model: dict) -> list[str]:
    """A level EM saw among matches that the random sample (2M pairs) never showed has no u;
    write Splink's value for an unobserved level rather than leave its default spread."""
    written = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level") or level.get("u_probability") not in _UNTRAINED:
                continue
            level["u_probability"] = _NEUTRAL_PROBABILITY
            written.append(f"{comparison['output_column_name']}: {level['label_for_charts']}")
    return written


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


# Splink leaves an m or u it could not estimate unset (or "level not observed") and predicts
# with its own spread of defaults: an arbitrary weight, which for a rare level (a one-keystroke
# phone, a street without its house number) can be worse than "all other comparisons". A level
# the training never showed, in the random sample or in EM among its comparison's other levels,
# is evidence neither way: m = u. A comparison EM never ran on at all (too few pairs in every
# block) keeps Splink's defaults, its designed fallback for an untrained comparison.
_UNTRAINED = (None, "level not observed")
_NEUTRAL_PROBABILITY = 1e-6


def _neutralise_untrained_levels(model: dict) -> list[str]:
    """Give the levels training never showed the weight 0 (in place); list them."""
    neutralised = []
    for comparison in model["comparisons"]:
        levels = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        em_ran = any(level.get("m_probability") not in _UNTRAINED for level in levels)
        for level in levels:
            m, u = level.get("m_probability"), level.get("u_probability")
            if m not in _UNTRAINED or not (em_ran or u in _UNTRAINED):
                continue
            level["m_probability"] = level["u_probability"] = (
                u if u not in _UNTRAINED else _NEUTRAL_PROBABILITY
            )
            neutralised.append(f"{comparison['output_column_name']}: {level['label_for_charts']}")
    return neutralised


def _block_pair_count(
    con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], max_records_per_block_key: int
) -> int:
    """Pairs sharing all of `columns` in `match_input`, values within the comparison budget."""
    return pairs_sharing(con, "match_input", columns, max_records_per_block_key)


def _register_positive_labels(con: duckdb.DuckDBPyConnection, labels: pa.Table) -> int:
    """Splink's m-from-labels treats every labelled pair as a match: pass the positives only."""
    con.register("_labels", labels)
    con.execute(
        """
        create or replace table steward_labels as
        select l.source_dataset as source_dataset_l, labels.record_key_l as record_key_l,
               r.source_dataset as source_dataset_r, labels.record_key_r as record_key_r
        from _labels as labels
        join match_input as l on l.record_key = labels.record_key_l
        join match_input as r on r.record_key = labels.record_key_r
        where labels.is_match
        """
    )
    con.unregister("_labels")
    return con.execute("select count(*) from steward_labels").fetchone()[0]
