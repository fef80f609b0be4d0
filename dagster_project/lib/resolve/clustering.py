"""Clustering scored pairs into customers, with steward must-link and cannot-link decisions.

Semantics (issue 5): must-links join first; then edges at or above the threshold join in
descending probability (ties by the ordered key pair), unless the join would put both records
of a cannot-link pair into one cluster. So a cannot-link holds even when a third record connects
the two (A-B 0.99, B-C 0.98, cannot A-C: A and B join, C stays apart). A must-link that would
break a cannot-link, directly or through other must-links, is refused: the cannot-link wins and
the must-link is reported as a conflict for the caller to log.

Speed. The greedy walk above is inherently sequential, and in pure Python it costs ~1-2 µs an
edge. Almost every connected component contains no cannot-link pair, and for such a component
the greedy answer is the component itself (no join is ever refused), so the bulk is one
`scipy.sparse.csgraph.connected_components` over all links (~0.3 s for 1M nodes and 2M edges).
Only components holding both ends of some cannot-link are re-clustered greedily, in Python,
over their own edges: stewards decide hundreds or thousands of pairs, not millions.

Determinism: the result depends on the sets of keys, pairs and constraints, not on their order.
Ties are broken by key order (within constrained components, the only place a tie can matter)
and a cluster's ID is its smallest member key (a hash aggregate, not a sort of all keys).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

_PAIR_COLUMNS = ("record_key_l", "record_key_r")


@dataclass(frozen=True)
class ClusteringResult:
    """Cluster membership and what the constraints did.

    Attributes:
        membership: one row per distinct input record key: (record_key, cluster_id), where
            cluster_id is the smallest record_key in the cluster; keys in the order
            `record_keys` first lists them.
        clusters: number of clusters (singletons included).
        edges_linked: edges at or above the threshold (between known records, l != r).
        cannot_link_edges_dropped: of those, edges the greedy walk refused because the join
            would have put a cannot-link pair in one cluster.
        conflicts: must-links refused because they contradict a cannot-link, directly or
            through other must-links: (record_key_l, record_key_r), ordered keys.
        constrained_components: components of the unconstrained graph that held both records of
            a cannot-link pair and were therefore re-clustered greedily.
        constraints_ignored: must/cannot-link pairs naming a record not in `record_keys` (for
            example deleted by retention since the decision) or a record with itself.
    """

    membership: pa.Table
    clusters: int
    edges_linked: int
    cannot_link_edges_dropped: int
    conflicts: pa.Table
    constrained_components: int
    constraints_ignored: int = 0

    @property
    def conflict_count(self) -> int:
        return self.conflicts.num_rows


def auto_linked_edges(pairs: pa.Table) -> pa.Table:
    """The pairs clustering may join: predict_pairs' is_auto_linked ones, with the columns
    cluster_records reads. A pair over the threshold but with conflicting full names is not an
    edge; only a steward's must-link joins it."""
    return pairs.filter(pc.field("is_auto_linked")).select([*_PAIR_COLUMNS, "match_probability"])


def cluster_records(
    record_keys: pa.Array | pa.ChunkedArray,
    pairs: pa.Table,
    *,
    threshold: float,
    must_link: pa.Table | None = None,
    cannot_link: pa.Table | None = None,
) -> ClusteringResult:
    """Cluster records by their scored pairs, honouring steward decisions.

    Args:
        record_keys: every record to place; each appears exactly once in the result (duplicates
            are collapsed). Nulls are not allowed.
        pairs: (record_key_l, record_key_r, match_probability); an edge links at or above
            `threshold`; a null probability never links.
        threshold: the auto-link probability.
        must_link: (record_key_l, record_key_r) pairs a steward declared the same customer.
        cannot_link: (record_key_l, record_key_r) pairs a steward declared different customers.

    Raises:
        ValueError: a null record key, or a scored pair naming a record not in `record_keys`
            (a caller bug: pairs are scored over the same records). Constraints naming unknown
            records are ignored and counted instead: decisions outlive records.
    """
    probability = pairs.column("match_probability").combine_chunks().cast(pa.float64())
    linked = pairs.filter(pc.fill_null(pc.greater_equal(probability, threshold), False))
    linked_probability = linked.column("match_probability").to_numpy().astype(np.float64)
    constraint_tables = [t for t in (must_link, cannot_link) if t is not None]
    keys, ((edge_l, edge_r), *constraint_ranks) = _numbered(
        record_keys, [linked, *constraint_tables]
    )
    node_count = len(keys)
    if (edge_l < 0).any():
        raise ValueError(
            f"{int((edge_l < 0).sum())} linked pair(s) name a record that is not among the "
            "record keys being clustered"
        )
    keep = edge_l != edge_r
    edge_l, edge_r, linked_probability = edge_l[keep], edge_r[keep], linked_probability[keep]
    empty = np.empty(0, dtype=np.int64)
    must_l, must_r = constraint_ranks.pop(0) if must_link is not None else (empty, empty)
    cannot_l, cannot_r = constraint_ranks.pop(0) if cannot_link is not None else (empty, empty)
    must_l, must_r, must_ignored = _usable(must_l, must_r)
    cannot_l, cannot_r, cannot_ignored = _usable(cannot_l, cannot_r)

    # Bulk: connected components over every link the greedy walk could possibly make.
    all_l = np.concatenate([edge_l, must_l])
    all_r = np.concatenate([edge_r, must_r])
    graph = coo_matrix(
        (np.ones(len(all_l), dtype=np.int8), (all_l, all_r)), shape=(node_count, node_count)
    ).tocsr()
    component_count, labels = connected_components(graph, directed=False)
    labels = labels.astype(np.int64)

    violated = labels[cannot_l] == labels[cannot_r]
    constrained = np.unique(labels[cannot_l[violated]])
    dropped = 0
    conflicts: list[tuple[int, int]] = []
    if len(constrained):
        in_constrained = np.zeros(component_count, dtype=bool)
        in_constrained[constrained] = True
        node_mask = in_constrained[labels]
        # Key order decides ties, but sorting all 1M keys costs ~1.7 s: sort only the keys of
        # the constrained components and walk them by that local rank.
        nodes = np.flatnonzero(node_mask)
        nodes = nodes[pc.sort_indices(keys.take(pa.array(nodes))).to_numpy()]
        local = np.full(node_count, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        edge_mask = node_mask[edge_l]
        must_mask = node_mask[must_l]
        cannot_mask = node_mask[cannot_l] & violated
        root_of, dropped, conflicts = _greedy(
            *_ordered(local[edge_l[edge_mask]], local[edge_r[edge_mask]]),
            linked_probability[edge_mask],
            *_ordered(local[must_l[must_mask]], local[must_r[must_mask]]),
            local[cannot_l[cannot_mask]],
            local[cannot_r[cannot_mask]],
            len(nodes),
        )
        # Re-label constrained nodes by their greedy root, beyond every component label.
        labels[nodes] = component_count + root_of
        conflicts = [(int(nodes[a]), int(nodes[b])) for a, b in conflicts]

    _, dense_labels = np.unique(labels, return_inverse=True)
    # Smallest key per cluster by a hash aggregate (~0.5 s at 1M) rather than a sort.
    smallest = (
        pa.table({"label": dense_labels, "record_key": keys})
        .group_by("label")
        .aggregate([("record_key", "min")])
    )
    position = np.empty(smallest.num_rows, dtype=np.int64)
    position[smallest.column("label").to_numpy()] = np.arange(smallest.num_rows)
    cluster_ids = smallest.column("record_key_min").take(pa.array(position[dense_labels]))
    membership = pa.table({"record_key": keys, "cluster_id": cluster_ids.combine_chunks()})
    conflict_table = _pair_table(keys, conflicts)
    return ClusteringResult(
        membership=membership,
        clusters=smallest.num_rows,
        edges_linked=len(edge_l),
        cannot_link_edges_dropped=dropped,
        conflicts=conflict_table,
        constrained_components=len(constrained),
        constraints_ignored=must_ignored + cannot_ignored,
    )


def _ordered(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(left, right), np.maximum(left, right)


def _numbered(
    record_keys: pa.Array | pa.ChunkedArray, tables: list[pa.Table]
) -> tuple[pa.Array, list[tuple[np.ndarray, np.ndarray]]]:
    """Distinct record keys, and per table its pairs as node numbers, smaller number left.

    A node's number is its key's position among the distinct keys in order of first appearance.
    A key that is not a record key is -1 (and so always on the left). One dictionary encoding
    of every key column at once: each hash table over 1M keys costs ~0.5-0.9 s to build.
    """
    if isinstance(record_keys, pa.ChunkedArray):
        record_keys = record_keys.combine_chunks()
    if record_keys.null_count:
        raise ValueError(f"{record_keys.null_count} record key(s) are null")
    chunks = [record_keys]
    for table in tables:
        for name in _PAIR_COLUMNS:
            chunks.extend(table.column(name).cast(record_keys.type).chunks)
    encoded = pc.dictionary_encode(pa.concat_arrays(chunks))
    numbers = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    # Record keys come first, so they own dictionary positions 0..distinct-1.
    node_count = int(numbers[: len(record_keys)].max()) + 1 if len(record_keys) else 0
    keys = encoded.dictionary.slice(0, node_count)
    numbers[numbers >= node_count] = -1
    result, start = [], len(record_keys)
    for table in tables:
        left = numbers[start : start + table.num_rows]
        right = numbers[start + table.num_rows : start + 2 * table.num_rows]
        start += 2 * table.num_rows
        result.append(_ordered(left, right))
    return keys, result


def _usable(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Constraint pairs naming two distinct known records, and how many others were dropped."""
    usable = (left >= 0) & (left != right)
    return left[usable], right[usable], int((~usable).sum())


def _pair_table(keys: pa.Array, pairs: list[tuple[int, int]]) -> pa.Table:
    left = pa.array([pair[0] for pair in pairs], type=pa.int64())
    right = pa.array([pair[1] for pair in pairs], type=pa.int64())
    return pa.table({"record_key_l": keys.take(left), "record_key_r": keys.take(right)})


def _greedy(
    edge_l: np.ndarray,
    edge_r: np.ndarray,
    edge_probability: np.ndarray,
    must_l: np.ndarray,
    must_r: np.ndarray,
    cannot_l: np.ndarray,
    cannot_r: np.ndarray,
    node_count: int,
) -> tuple[np.ndarray, int, list[tuple[int, int]]]:
    """Union-find that refuses joins uniting a cannot-link pair.

    Nodes are numbered 0..node_count-1 in key order, and pairs come as (smaller, larger), so
    sorting by numbers is sorting by keys. Each root keeps the set of roots its cluster may
    never join; a merge moves the smaller cluster's set into the larger one's and repoints the
    partners, so checking a join is one set lookup.

    Returns:
        (the root of every node, edges refused, must-links refused as (l, r) node numbers).
    """
    parent = list(range(node_count))
    size = [1] * node_count
    forbidden: dict[int, set[int]] = {}
    for a, b in zip(cannot_l.tolist(), cannot_r.tolist(), strict=True):
        forbidden.setdefault(a, set()).add(b)
        forbidden.setdefault(b, set()).add(a)

    def find(node: int) -> int:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(a: int, b: int) -> bool | None:
        """True when joined, None when already together, False when refused."""
        root_a, root_b = find(a), find(b)
        if root_a == root_b:
            return None
        forbidden_a = forbidden.get(root_a)
        if forbidden_a is not None and root_b in forbidden_a:
            return False
        if size[root_a] < size[root_b]:
            root_a, root_b = root_b, root_a
        parent[root_b] = root_a
        size[root_a] += size[root_b]
        moved = forbidden.pop(root_b, None)
        if moved:
            kept = forbidden.setdefault(root_a, set())
            for partner in moved:
                partner_set = forbidden[partner]
                partner_set.discard(root_b)
                partner_set.add(root_a)
                kept.add(partner)
        return True

    conflicts = []
    for a, b in sorted(set(zip(must_l.tolist(), must_r.tolist(), strict=True))):
        if union(a, b) is False:
            conflicts.append((a, b))

    # Descending probability; ties by the ordered key pair (lexsort: last key is primary).
    order = np.lexsort((edge_r, edge_l, -edge_probability))
    dropped = 0
    for a, b in zip(edge_l[order].tolist(), edge_r[order].tolist(), strict=True):
        if union(a, b) is False:
            dropped += 1
    return np.array([find(node) for node in range(node_count)], dtype=np.int64), dropped, conflicts
