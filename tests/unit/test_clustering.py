"""Clustering with steward constraints: cannot-links hold through third records, must-links
join below the threshold, a contradiction is resolved for the cannot-link and reported."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from dagster_project.lib.resolve.clustering import cluster_records


def _pairs(*edges: tuple[str, str, float | None]) -> pa.Table:
    return pa.table(
        {
            "record_key_l": pa.array([e[0] for e in edges], pa.string()),
            "record_key_r": pa.array([e[1] for e in edges], pa.string()),
            "match_probability": pa.array([e[2] for e in edges], pa.float64()),
        }
    )


def _links(*pairs: tuple[str, str]) -> pa.Table:
    return pa.table(
        {
            "record_key_l": pa.array([p[0] for p in pairs], pa.string()),
            "record_key_r": pa.array([p[1] for p in pairs], pa.string()),
        }
    )


def _clusters(result) -> dict[str, str]:
    return dict(
        zip(
            result.membership.column("record_key").to_pylist(),
            result.membership.column("cluster_id").to_pylist(),
            strict=True,
        )
    )


def test_threshold_links_and_cluster_id_is_smallest_key() -> None:
    result = cluster_records(
        pa.array(["d", "c", "b", "a", "e"]),
        _pairs(("c", "d", 0.95), ("b", "a", 0.91), ("a", "e", 0.89), ("e", "d", None)),
        threshold=0.9,
    )
    assert _clusters(result) == {"a": "a", "b": "a", "c": "c", "d": "c", "e": "e"}
    assert result.clusters == 3
    assert result.edges_linked == 2
    assert result.conflict_count == 0


def test_isolated_records_and_duplicates_appear_exactly_once() -> None:
    keys = pa.chunked_array([["x", "y"], ["z", "x"]])
    result = cluster_records(keys, _pairs(), threshold=0.9)
    assert result.membership.column("record_key").to_pylist() == ["x", "y", "z"]
    assert _clusters(result) == {"x": "x", "y": "y", "z": "z"}
    assert result.clusters == 3


def test_cannot_link_holds_through_a_third_record() -> None:
    # A-B and B-C both above threshold would chain A and C; the steward said A != C.
    result = cluster_records(
        pa.array(["A", "B", "C"]),
        _pairs(("A", "B", 0.99), ("B", "C", 0.97)),
        threshold=0.9,
        cannot_link=_links(("C", "A")),
    )
    clusters = _clusters(result)
    assert clusters["A"] != clusters["C"]
    # The stronger edge wins the middle record.
    assert clusters == {"A": "A", "B": "A", "C": "C"}
    assert result.cannot_link_edges_dropped == 1
    assert result.constrained_components == 1


def test_stronger_edge_decides_which_side_the_middle_record_joins() -> None:
    result = cluster_records(
        pa.array(["A", "B", "C"]),
        _pairs(("A", "B", 0.92), ("B", "C", 0.97)),
        threshold=0.9,
        cannot_link=_links(("A", "C")),
    )
    assert _clusters(result) == {"A": "A", "B": "B", "C": "B"}


def test_cannot_link_leaves_other_components_untouched() -> None:
    result = cluster_records(
        pa.array(["A", "B", "C", "D", "E"]),
        _pairs(("A", "B", 0.99), ("D", "E", 0.95)),
        threshold=0.9,
        cannot_link=_links(("A", "D"), ("B", "C")),  # already apart: nothing to do
    )
    assert _clusters(result) == {"A": "A", "B": "A", "C": "C", "D": "D", "E": "D"}
    assert result.constrained_components == 0
    assert result.cannot_link_edges_dropped == 0


def test_must_link_joins_below_threshold_and_transitively() -> None:
    result = cluster_records(
        pa.array(["A", "B", "C", "D"]),
        _pairs(("A", "B", 0.75), ("C", "D", 0.99)),
        threshold=0.9,
        must_link=_links(("B", "A"), ("B", "C")),
    )
    assert set(_clusters(result).values()) == {"A"}
    assert result.clusters == 1


def test_must_link_contradicting_cannot_link_loses_and_is_reported() -> None:
    # Directly: the same pair is both.
    direct = cluster_records(
        pa.array(["A", "B"]),
        _pairs(("A", "B", 0.99)),
        threshold=0.9,
        must_link=_links(("A", "B")),
        cannot_link=_links(("B", "A")),
    )
    assert _clusters(direct) == {"A": "A", "B": "B"}
    assert direct.conflicts.to_pylist() == [{"record_key_l": "A", "record_key_r": "B"}]
    assert direct.cannot_link_edges_dropped == 1

    # Transitively: must A-B, must B-C, cannot A-C. Must-links run in key order, so A-B joins
    # and B-C is the refused one.
    chained = cluster_records(
        pa.array(["A", "B", "C"]),
        _pairs(),
        threshold=0.9,
        must_link=_links(("C", "B"), ("A", "B")),
        cannot_link=_links(("A", "C")),
    )
    assert _clusters(chained) == {"A": "A", "B": "A", "C": "C"}
    assert chained.conflict_count == 1
    assert chained.conflicts.to_pylist() == [{"record_key_l": "B", "record_key_r": "C"}]


def test_constraints_on_unknown_records_are_ignored_but_unknown_pairs_fail() -> None:
    result = cluster_records(
        pa.array(["A", "B"]),
        _pairs(("A", "B", 0.95)),
        threshold=0.9,
        must_link=_links(("A", "gone")),
        cannot_link=_links(("gone", "B"), ("A", "A")),
    )
    assert _clusters(result) == {"A": "A", "B": "A"}
    assert result.constraints_ignored == 3
    with pytest.raises(ValueError, match="not among the record keys"):
        cluster_records(pa.array(["A"]), _pairs(("A", "B", 0.95)), threshold=0.9)


def test_ties_are_broken_by_keys_whatever_the_input_order() -> None:
    # Both edges tie; the pair (A, B) sorts first, so B joins A and C stays out.
    edges = [("B", "C", 0.95), ("A", "B", 0.95)]
    for ordering in (edges, edges[::-1]):
        result = cluster_records(
            pa.array(["C", "B", "A"]),
            _pairs(*ordering),
            threshold=0.9,
            cannot_link=_links(("A", "C")),
        )
        assert _clusters(result) == {"A": "A", "B": "A", "C": "C"}


def _random_graph(seed: int, nodes: int = 300, edges: int = 600):
    rng = random.Random(seed)
    keys = [f"r{i:04d}" for i in range(nodes)]
    pairs = [
        (rng.choice(keys), rng.choice(keys), round(rng.uniform(0.5, 1.0), 2)) for _ in range(edges)
    ]
    cannot = [(rng.choice(keys), rng.choice(keys)) for _ in range(40)]
    must = [(rng.choice(keys), rng.choice(keys)) for _ in range(20)]
    return keys, pairs, must, cannot


def _reference(keys, pairs, must, cannot, threshold):
    """The semantics written naively: a list of clusters, joined one decision at a time."""
    cluster_of = {key: frozenset([key]) for key in keys}
    banned = {frozenset(p) for p in cannot if p[0] != p[1]}

    def join(a, b) -> None:
        left, right = cluster_of[a], cluster_of[b]
        if left is right or any(frozenset((x, y)) in banned for x in left for y in right):
            return
        merged = left | right
        for key in merged:
            cluster_of[key] = merged

    for a, b in sorted({tuple(sorted(p)) for p in must}):
        join(a, b)
    linked = [(p, *sorted((a, b))) for a, b, p in pairs if p >= threshold]
    for _, a, b in sorted(linked, key=lambda e: (-e[0], e[1], e[2])):
        join(a, b)
    return {key: min(cluster) for key, cluster in cluster_of.items()}


@pytest.mark.parametrize("seed", range(8))
def test_matches_the_naive_reference_and_is_deterministic(seed: int) -> None:
    keys, pairs, must, cannot = _random_graph(seed)
    expected = _reference(keys, pairs, must, cannot, threshold=0.8)
    rng = random.Random(seed + 100)
    for _ in range(2):
        shuffled_keys = keys[:]
        shuffled_pairs = [(b, a, p) if rng.random() < 0.5 else (a, b, p) for a, b, p in pairs]
        rng.shuffle(shuffled_keys)
        rng.shuffle(shuffled_pairs)
        result = cluster_records(
            pa.array(shuffled_keys),
            _pairs(*shuffled_pairs),
            threshold=0.8,
            must_link=_links(*must),
            cannot_link=_links(*cannot),
        )
        clusters = _clusters(result)
        assert clusters == expected
        assert result.membership.num_rows == len(keys)
        for a, b in cannot:
            if a != b:
                assert clusters[a] != clusters[b], (a, b)


def test_empty_input_and_mixed_string_types() -> None:
    empty = cluster_records(pa.array([], pa.string()), _pairs(), threshold=0.9)
    assert empty.membership.num_rows == 0
    assert empty.clusters == 0

    # DuckDB hands over large_string; the pairs may be plain strings.
    result = cluster_records(
        pa.array(["b", "a"], pa.large_string()), _pairs(("a", "b", 0.95)), threshold=0.9
    )
    assert _clusters(result) == {"a": "a", "b": "a"}
