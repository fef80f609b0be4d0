"""Pairwise and B-cubed metrics: hand-checked small cases, a brute-force cross-check, scale."""

import itertools
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.lib.resolve.evaluation import METRIC_NAMES, pairwise_and_bcubed


def _predicted(groups: dict[str, object]) -> pa.Table:
    return pa.table({"record_key": list(groups), "cluster_id": list(groups.values())})


def _truth(groups: dict[str, object]) -> pa.Table:
    return pa.table({"record_key": list(groups), "entity_id": list(groups.values())})


# Truth for most cases: E1 = {a, b, c}, E2 = {d}; 3 true pairs (ab, ac, bc).
TRUTH_ABC_D = _truth({"a": "E1", "b": "E1", "c": "E1", "d": "E2"})


def test_perfect_prediction_scores_one_everywhere() -> None:
    result = pairwise_and_bcubed(_predicted({"a": 7, "b": 7, "c": 7, "d": 9}), TRUTH_ABC_D)
    assert set(result) == set(METRIC_NAMES)
    for name in ("precision", "recall", "f1", "bcubed_precision", "bcubed_recall", "bcubed_f1"):
        assert result[name] == 1.0, name
    assert (result["true_pairs"], result["predicted_pairs"], result["correct_pairs"]) == (3, 3, 3)
    assert (result["records"], result["true_entities"], result["predicted_clusters"]) == (4, 2, 2)


def test_all_singletons_link_nothing() -> None:
    result = pairwise_and_bcubed(_predicted({"a": 1, "b": 2, "c": 3, "d": 4}), TRUTH_ABC_D)
    # No pair predicted: precision 1 by convention, recall 0.
    assert (result["precision"], result["recall"], result["f1"]) == (1.0, 0.0, 0.0)
    assert result["predicted_pairs"] == 0
    # Each of a, b, c finds 1 of its 3 entity members in its cluster, d finds all: (3/3 + 1)/4.
    assert result["bcubed_precision"] == 1.0
    assert result["bcubed_recall"] == pytest.approx(0.5)
    assert result["bcubed_f1"] == pytest.approx(2 / 3)


def test_all_in_one_cluster() -> None:
    result = pairwise_and_bcubed(_predicted(dict.fromkeys("abcd", "X")), TRUTH_ABC_D)
    # 6 predicted pairs, of which the 3 true ones are correct.
    assert (result["true_pairs"], result["predicted_pairs"], result["correct_pairs"]) == (3, 6, 3)
    assert (result["precision"], result["recall"]) == (0.5, 1.0)
    assert result["f1"] == pytest.approx(2 / 3)
    # a, b, c: 3 of the 4 in their cluster are theirs; d: 1 of 4. (3 * 3/4 + 1/4) / 4 = 10/16.
    assert result["bcubed_precision"] == pytest.approx(0.625)
    assert result["bcubed_recall"] == 1.0
    assert result["bcubed_f1"] == pytest.approx(2 * 0.625 / 1.625)


def test_mixed_splits_and_merges_hand_checked() -> None:
    truth = _truth({"a": 1, "b": 1, "c": 1, "d": 1, "e": 2, "f": 2, "g": 3})
    predicted = _predicted({"a": "C1", "b": "C1", "c": "C2", "d": "C2", "e": "C2", "f": "C3"})
    predicted = pa.concat_tables([predicted, _predicted({"g": "C3"})])
    result = pairwise_and_bcubed(predicted, truth)
    # Cells: (C1,1)=2 (C2,1)=2 (C2,2)=1 (C3,2)=1 (C3,3)=1. True pairs 6+1, predicted 1+3+1,
    # correct: ab and cd.
    assert (result["true_pairs"], result["predicted_pairs"], result["correct_pairs"]) == (7, 5, 2)
    assert result["precision"] == pytest.approx(2 / 5)
    assert result["recall"] == pytest.approx(2 / 7)
    # B-cubed precision (2*2/2 + 2*2/3 + 1/3 + 1/2 + 1/2) / 7 = 2/3; recall (1 + 1 + 1/2 + 1/2
    # + 1) / 7 = 4/7.
    assert result["bcubed_precision"] == pytest.approx(2 / 3)
    assert result["bcubed_recall"] == pytest.approx(4 / 7)
    assert result["predicted_clusters"] == 3


def test_truth_without_pairs_and_prediction_without_pairs_is_perfect() -> None:
    result = pairwise_and_bcubed(_predicted({"a": 1, "b": 2}), _truth({"a": "x", "b": "y"}))
    assert (result["precision"], result["recall"], result["f1"]) == (1.0, 1.0, 1.0)
    assert result["true_pairs"] == 0


def test_missing_prediction_is_a_singleton_and_unjudged_records_are_left_out() -> None:
    # c has no prediction (a missed link to a, b); z has no truth (cannot be judged).
    predicted = _predicted({"a": 1, "b": 1, "d": 2, "z": 1})
    result = pairwise_and_bcubed(predicted, TRUTH_ABC_D)
    assert result["records_missing_from_prediction"] == 1
    assert result["predicted_records_without_truth"] == 1
    assert result["records"] == 4
    assert (result["true_pairs"], result["predicted_pairs"], result["correct_pairs"]) == (3, 1, 1)
    assert result["recall"] == pytest.approx(1 / 3)
    assert result["precision"] == 1.0


def test_integer_cluster_ids_do_not_collide_with_text_entity_ids() -> None:
    # Cluster 1 and the text "c:1" must stay different clusters after the text cast.
    predicted = pa.table({"record_key": ["a", "b"], "cluster_id": pa.array([1, 2], pa.int64())})
    result = pairwise_and_bcubed(predicted, _truth({"a": "1", "b": "1"}))
    assert (result["predicted_pairs"], result["correct_pairs"], result["recall"]) == (0, 0, 0.0)


def test_repeated_identical_rows_are_counted_once() -> None:
    predicted = _predicted({"a": 1, "b": 1})
    result = pairwise_and_bcubed(
        pa.concat_tables([predicted, predicted]), _truth({"a": "x", "b": "x"})
    )
    assert (result["records"], result["predicted_pairs"], result["f1"]) == (2, 1, 1.0)


def test_a_key_in_two_clusters_is_rejected() -> None:
    predicted = pa.table({"record_key": ["a", "a"], "cluster_id": [1, 2]})
    with pytest.raises(ValueError, match="predicted: 1 record_keys are in more than one group"):
        pairwise_and_bcubed(predicted, _truth({"a": "x"}))


def test_null_entity_is_rejected() -> None:
    truth = pa.table({"record_key": ["a", "b"], "entity_id": ["x", None]})
    with pytest.raises(ValueError, match="truth: 1 rows with a null"):
        pairwise_and_bcubed(_predicted({"a": 1, "b": 1}), truth)


def _brute_force(predicted: list[int], truth: list[int]) -> dict[str, Fraction]:
    """Enumerate every pair and every record: the definition, for small inputs only."""
    n = len(truth)
    pairs = list(itertools.combinations(range(n), 2))
    same_predicted = {p for p in pairs if predicted[p[0]] == predicted[p[1]]}
    same_truth = {p for p in pairs if truth[p[0]] == truth[p[1]]}
    correct = len(same_predicted & same_truth)
    bcubed_p = bcubed_r = Fraction(0)
    for i in range(n):
        cluster = {j for j in range(n) if predicted[j] == predicted[i]}
        entity = {j for j in range(n) if truth[j] == truth[i]}
        bcubed_p += Fraction(len(cluster & entity), len(cluster))
        bcubed_r += Fraction(len(cluster & entity), len(entity))
    return {
        "precision": Fraction(correct, len(same_predicted)) if same_predicted else Fraction(1),
        "recall": Fraction(correct, len(same_truth)) if same_truth else Fraction(1),
        "bcubed_precision": bcubed_p / n,
        "bcubed_recall": bcubed_r / n,
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=14),
)
def test_matches_brute_force_pair_enumeration(groups: list[tuple[int, int]]) -> None:
    keys = [f"r{i}" for i in range(len(groups))]
    predicted = [cluster for cluster, _ in groups]
    truth = [entity for _, entity in groups]
    result = pairwise_and_bcubed(
        pa.table({"record_key": keys, "cluster_id": predicted}),
        pa.table({"record_key": keys, "entity_id": truth}),
    )
    expected = _brute_force(predicted, truth)
    for name, value in expected.items():
        assert result[name] == pytest.approx(float(value), abs=1e-12), name
    # Swapping prediction and truth swaps precision and recall.
    swapped = pairwise_and_bcubed(
        pa.table({"record_key": keys, "cluster_id": truth}),
        pa.table({"record_key": keys, "entity_id": predicted}),
    )
    assert swapped["precision"] == pytest.approx(result["recall"])
    assert swapped["bcubed_recall"] == pytest.approx(result["bcubed_precision"])


def test_a_million_records_from_group_counts() -> None:
    # 1,000,000 records in 400,000 entities (~2.5 each); the prediction merges entities 2k and
    # 2k+1, so every true pair is found and the predicted pairs are known in closed form.
    rng = np.random.default_rng(5)
    entity = np.sort(rng.integers(0, 400_000, 1_000_000))
    keys = pa.array(np.arange(1_000_000).astype(str))
    sizes = np.bincount(entity, minlength=400_000).astype(np.int64)
    merged = np.bincount(np.arange(400_000) // 2, weights=sizes).astype(np.int64)
    result = pairwise_and_bcubed(
        pa.table({"record_key": keys, "cluster_id": entity // 2}),
        pa.table({"record_key": keys, "entity_id": entity}),
    )
    assert result["true_pairs"] == int((sizes * (sizes - 1) // 2).sum())
    assert result["predicted_pairs"] == int((merged * (merged - 1) // 2).sum())
    assert result["correct_pairs"] == result["true_pairs"]
    assert result["recall"] == 1.0
