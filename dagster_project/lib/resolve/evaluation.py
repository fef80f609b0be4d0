"""Accuracy of a clustering against ground truth: pairwise and B-cubed precision, recall, F1.

Both families are computed (numpy over Arrow dictionary codes) from the contingency counts
n(c, e) = records in predicted cluster c and true entity e, never from enumerated pairs: a
cluster of 10,000 records holds ~50 million pairs, while its counts are one row. The sums are
    correct pairs    = sum over (c, e) of n(c,e) choose 2
    predicted pairs  = sum over c of |c| choose 2
    true pairs       = sum over e of |e| choose 2
    B-cubed precision = (1/N) * sum over (c, e) of n(c,e)^2 / |c|
    B-cubed recall    = (1/N) * sum over (c, e) of n(c,e)^2 / |e|
(B-cubed averages, per record, the share of its predicted cluster that is its true entity and
the share of its true entity that is in its predicted cluster; Bagga & Baldwin 1998.)

Pairwise scores weigh big clusters quadratically (one wrong merge of two 50-record entities
costs 2,500 false pairs); B-cubed weighs every record once, so the two together show whether
errors are a few big merges or many small misses.

Conventions for empty denominators: precision is 1.0 when no pair is predicted (no false link
was made) and recall is 1.0 when the truth has no pair (nothing could be missed); F1 is 0.0
when precision and recall are both 0.

The records evaluated are the truth's records. A truth record missing from the prediction counts
as a predicted singleton (a record the resolver dropped is a missed link, not a free pass);
predicted records without truth cannot be judged and are left out. Both are counted in the
result so a mismatch between the two inputs is visible rather than silently absorbed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

METRIC_NAMES = (
    "precision",
    "recall",
    "f1",
    "bcubed_precision",
    "bcubed_recall",
    "bcubed_f1",
    "true_pairs",
    "predicted_pairs",
    "correct_pairs",
    "records",
    "true_entities",
    "predicted_clusters",
    "records_missing_from_prediction",
    "predicted_records_without_truth",
)


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2 * precision * recall / total


def _codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Dense integer codes 0..k-1 of any Arrow column (equal values, equal codes)."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2's hash-based unique takes ~2.7 s on 1M int64, this ~0.1 s."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _one_group_per_key(
    key_codes: np.ndarray, group_codes: np.ndarray, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """(key, group) after dropping repeated rows; a key in two groups is an error."""
    group_count = int(group_codes.max(initial=-1)) + 1
    pairs = _distinct_sorted(key_codes * group_count + group_codes)
    keys, groups = pairs // group_count, pairs % group_count
    conflicting = int((np.bincount(keys) > 1).sum()) if len(keys) else 0
    if conflicting:
        raise ValueError(f"{label}: {conflicting} record_keys are in more than one group")
    return keys, groups


def _grouping(table: pa.Table, group_column: str, label: str) -> tuple[pa.Array, np.ndarray]:
    keys, groups = table.column("record_key"), table.column(group_column)
    nulls = int(pc.sum(pc.or_(pc.is_null(keys), pc.is_null(groups))).as_py() or 0)
    if nulls:
        raise ValueError(f"{label}: {nulls} rows with a null record_key or {group_column}")
    return pc.cast(keys, pa.string()), _codes(groups)


def pairwise_and_bcubed(predicted: pa.Table, truth: pa.Table) -> dict[str, float | int]:
    """Pairwise and B-cubed precision, recall and F1 of `predicted` against `truth`.

    Args:
        predicted: one row per record, columns record_key and cluster_id (any type).
        truth: one row per record, columns record_key and entity_id (any type).
            Repeated identical rows are allowed in both; a key in two groups is a ValueError.

    Returns:
        The METRIC_NAMES: precision, recall, f1, bcubed_precision, bcubed_recall, bcubed_f1
        (floats in [0, 1]), true_pairs, predicted_pairs, correct_pairs, records (truth records
        evaluated), true_entities, predicted_clusters (over the evaluated records, a missing
        record counting as its own cluster), records_missing_from_prediction and
        predicted_records_without_truth.
    """
    predicted_keys, cluster_codes = _grouping(predicted, "cluster_id", "predicted")
    truth_keys, entity_codes = _grouping(truth, "entity_id", "truth")
    # One code space for the keys of both sides, so a record is found on the other side by code.
    key_codes = _codes(pa.chunked_array([predicted_keys, truth_keys], type=pa.string()))
    predicted_key, predicted_cluster = _one_group_per_key(
        key_codes[: len(predicted_keys)], cluster_codes, "predicted"
    )
    truth_key, entity = _one_group_per_key(key_codes[len(predicted_keys) :], entity_codes, "truth")

    cluster_of_key = np.full(int(key_codes.max(initial=-1)) + 1, -1, dtype=np.int64)
    cluster_of_key[predicted_key] = predicted_cluster
    cluster = cluster_of_key[truth_key]
    is_missing = cluster < 0
    missing = int(is_missing.sum())
    first_free = int(predicted_cluster.max(initial=-1)) + 1
    cluster[is_missing] = first_free + np.arange(missing)
    has_truth = np.zeros(len(cluster_of_key), dtype=bool)
    has_truth[truth_key] = True
    without_truth = int((~has_truth[predicted_key]).sum())

    records = len(truth_key)
    entity_count = int(entity.max(initial=-1)) + 1
    cells, cell_size = np.unique(cluster * entity_count + entity, return_counts=True)
    cell_cluster, cell_entity = cells // entity_count, cells % entity_count
    cluster_size = np.bincount(cell_cluster, weights=cell_size).astype(np.int64)
    entity_size = np.bincount(cell_entity, weights=cell_size).astype(np.int64)

    true_pairs = int((entity_size * (entity_size - 1) // 2).sum())
    predicted_pairs = int((cluster_size * (cluster_size - 1) // 2).sum())
    correct_pairs = int((cell_size * (cell_size - 1) // 2).sum())
    squared = cell_size.astype(np.float64) ** 2
    precision = correct_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    # Each record's share: n(c,e)/|c| for each of the n(c,e) records of a cell, summed.
    bcubed_precision = (
        float((squared / cluster_size[cell_cluster]).sum()) / records if records else 1.0
    )
    bcubed_recall = float((squared / entity_size[cell_entity]).sum()) / records if records else 1.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "bcubed_precision": bcubed_precision,
        "bcubed_recall": bcubed_recall,
        "bcubed_f1": _f1(bcubed_precision, bcubed_recall),
        "true_pairs": true_pairs,
        "predicted_pairs": predicted_pairs,
        "correct_pairs": correct_pairs,
        "records": records,
        "true_entities": int((entity_size > 0).sum()),
        "predicted_clusters": int((cluster_size > 0).sum()),
        "records_missing_from_prediction": missing,
        "predicted_records_without_truth": without_truth,
    }
