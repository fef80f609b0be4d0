"""The golden-ID ledger keeps golden_customer_ids stable as clusters grow, merge, split, vanish."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest

from dagster_project.lib.resolve.ledger import LedgerInputError, LedgerResult, assign_golden_ids
from tests.support.database import open_database

DAY_ONE = datetime(2026, 1, 1, 2, 0)

Clusters = list[list[str]]


def anchor_id(key: str) -> str:
    """The pre-ledger format: 'GC' + 14 upper-case hex digits of sha256(anchor record_key)."""
    return "GC" + hashlib.sha256(key.encode()).hexdigest()[:14].upper()


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    con = open_database(path)
    con.execute("create schema if not exists er")
    return con


def publish(con: duckdb.DuckDBPyConnection, clusters: Clusters, day: int = 1) -> LedgerResult:
    """Run the ledger and replace er.record_clusters in one transaction, as the resolution asset
    does. Cluster labels are deliberately not the anchors: the ledger must not rely on them."""
    table = pa.table(
        {
            "record_key": [key for cluster in clusters for key in cluster],
            "cluster_id": [
                f"splink-{day}-{index}" for index, cluster in enumerate(clusters) for _ in cluster
            ],
        }
    )
    con.execute("begin transaction")
    result = assign_golden_ids(
        con, table, run_id=f"run-{day}", recorded_at=DAY_ONE + timedelta(days=day - 1)
    )
    assert result.assignments.num_rows == table.num_rows
    con.register("_assignments", result.assignments)
    con.execute(
        "create or replace table er.record_clusters as "
        "select record_key, 'crm' as source_name, golden_customer_id from _assignments"
    )
    con.unregister("_assignments")
    con.execute("commit")
    return result


def ids_of(result: LedgerResult) -> dict[str, str]:
    columns = result.assignments.to_pydict()
    return dict(zip(columns["record_key"], columns["golden_customer_id"], strict=True))


def events(con: duckdb.DuckDBPyConnection, day: int) -> set[tuple[str, str, str | None, int]]:
    return set(
        con.execute(
            "select event, golden_customer_id, related_golden_customer_id, record_count "
            "from er.golden_id_ledger where run_id = ?",
            [f"run-{day}"],
        ).fetchall()
    )


def resolve(con: duckdb.DuckDBPyConnection, golden_id: str) -> str | None:
    return con.execute("select er.resolve_golden_customer_id(?)", [golden_id]).fetchone()[0]


@pytest.fixture
def con(tmp_path: Path) -> Iterable[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


def test_first_run_issues_anchor_ids(con) -> None:
    result = publish(con, [["crm:2", "crm:1"], ["web:7"]])
    assert ids_of(result) == {
        "crm:1": anchor_id("crm:1"),
        "crm:2": anchor_id("crm:1"),
        "web:7": anchor_id("web:7"),
    }
    assert (result.issued, result.kept, result.unchanged_record_share) == (2, 0, None)
    assert events(con, 1) == {
        ("issued", anchor_id("crm:1"), None, 2),
        ("issued", anchor_id("web:7"), None, 1),
    }


def test_growing_cluster_keeps_its_id_even_when_the_anchor_changes(con) -> None:
    first = ids_of(publish(con, [["b", "c"], ["x"]]))
    # "a" joins and becomes the smallest key: the pre-ledger scheme would have renamed the cluster.
    result = publish(con, [["a", "b", "c"], ["x"]], day=2)
    assert ids_of(result) == {"a": first["b"], "b": first["b"], "c": first["b"], "x": first["x"]}
    assert (result.kept, result.issued, result.merged, result.split) == (2, 0, 0, 0)
    assert events(con, 2) == set(), "a grown cluster is not an event"
    assert result.unchanged_record_share == 1.0


def test_merge_keeps_the_older_id_and_points_the_other_at_it(con) -> None:
    publish(con, [["t"]])
    publish(con, [["t"], ["a", "b"]], day=2)
    older, newer = anchor_id("t"), anchor_id("a")
    assert newer < older, "the older ID must win on age, not on sort order"

    result = publish(con, [["a", "b", "t"]], day=3)
    assert set(ids_of(result).values()) == {older}
    assert (result.kept, result.merged) == (1, 1)
    assert events(con, 3) == {("merged_into", newer, older, 2)}
    state = con.execute(
        "select status, merged_into, retired_run_id from er.golden_ids "
        "where golden_customer_id = ?",
        [newer],
    ).fetchone()
    assert state == ("retired", older, "run-3")
    assert resolve(con, newer) == older


def test_merge_of_ids_issued_together_keeps_the_smallest_id(con) -> None:
    publish(con, [["p", "q"], ["z"]])
    smallest = min(anchor_id("p"), anchor_id("z"))
    result = publish(con, [["p", "q", "z"]], day=2)
    assert set(ids_of(result).values()) == {smallest}


def test_split_leaves_the_id_with_the_larger_part_and_salts_the_new_one(con) -> None:
    original = anchor_id("a")
    publish(con, [["a", "b", "c"]])
    # The smaller part holds the old anchor, so its unsalted ID would be the old one.
    result = publish(con, [["a"], ["b", "c"]], day=2)
    split_id = anchor_id("a#1")
    assert ids_of(result) == {"a": split_id, "b": original, "c": original}
    assert (result.kept, result.split, result.issued) == (1, 1, 0)
    assert events(con, 2) == {("split_from", split_id, original, 1)}
    assert con.execute(
        "select split_from, status from er.golden_ids where golden_customer_id = ?", [split_id]
    ).fetchone() == (original, "active")
    assert resolve(con, original) == original, "a split does not retire the ID"


def test_split_into_equal_parts_keeps_the_id_with_the_smallest_record(con) -> None:
    publish(con, [["d", "c", "b", "a"]])
    result = ids_of(publish(con, [["c", "d"], ["a", "b"]], day=2))
    assert result["a"] == result["b"] == anchor_id("a")
    assert result["c"] == result["d"] == anchor_id("c")


def test_added_records_do_not_decide_which_part_keeps_the_id(con) -> None:
    publish(con, [["a", "b", "c"]])
    result = ids_of(publish(con, [["a", "b"], ["c", "n1", "n2", "n3"]], day=2))
    assert result["a"] == anchor_id("a"), "two of the three old records stayed with a"
    assert result["c"] == anchor_id("c")


def test_a_split_whose_larger_part_merges_leaves_the_rest_a_new_id(con) -> None:
    publish(con, [["t"]])
    publish(con, [["t"], ["a", "b", "c"]], day=2)
    older, split_up = anchor_id("t"), anchor_id("a")
    result = ids_of(publish(con, [["a", "b", "t"], ["c"]], day=3))
    assert result["a"] == result["t"] == older
    assert result["c"] == anchor_id("c")
    assert events(con, 3) == {
        ("merged_into", split_up, older, 3),
        ("split_from", anchor_id("c"), split_up, 1),
    }
    assert resolve(con, split_up) == older


def test_erasure_retires_the_id_and_a_returning_record_gets_a_new_one(con) -> None:
    publish(con, [["a", "b"], ["e"]])
    result = publish(con, [["a", "b"]], day=2)
    assert (result.retired, result.kept) == (1, 1)
    assert events(con, 2) == {("retired", anchor_id("e"), None, 1)}
    assert resolve(con, anchor_id("e")) is None

    returned = ids_of(publish(con, [["a", "b"], ["e"]], day=3))
    assert returned["e"] == anchor_id("e#1"), "a retired ID is never issued again"


def test_identical_input_gives_identical_ids_again_and_in_a_fresh_warehouse(tmp_path) -> None:
    days = [
        [["a", "b"], ["c"], ["d", "e", "f"]],
        [["a", "b", "c"], ["d"], ["e", "f"], ["g"]],
        [["a", "b", "c"], ["d", "e", "f"], ["g"]],
    ]
    histories = []
    for name in ("first", "second"):
        warehouse = connect(tmp_path / f"{name}.duckdb")
        assignments = [
            ids_of(publish(warehouse, clusters, day)) for day, clusters in enumerate(days, start=1)
        ]
        ledger = warehouse.execute(
            "select * exclude (recorded_at) from er.golden_id_ledger order by all"
        ).fetchall()
        ids = warehouse.execute("select * from er.golden_ids order by all").fetchall()
        rerun = publish(warehouse, days[-1], day=len(days) + 1)
        assert ids_of(rerun) == assignments[-1]
        assert events(warehouse, len(days) + 1) == set()
        histories.append((assignments, ledger, ids))
        warehouse.close()
    assert histories[0] == histories[1]


def test_a_transaction_owned_by_the_caller_is_left_to_the_caller(con) -> None:
    publish(con, [["a"]])
    con.execute("begin transaction")
    assign_golden_ids(
        con, pa.table({"record_key": ["a", "b"], "cluster_id": ["1", "2"]}),
        run_id="run-2", recorded_at=DAY_ONE,
    )  # fmt: skip
    con.execute("rollback")
    assert con.execute("select count(*) from er.golden_ids").fetchone()[0] == 1

    # Without a caller transaction the ledger commits its own: another connection sees it.
    assign_golden_ids(
        con, pa.table({"record_key": ["a", "b"], "cluster_id": ["1", "2"]}),
        run_id="run-3", recorded_at=DAY_ONE,
    )  # fmt: skip
    other = con.cursor()
    other.execute(f"use {current_catalog(con)}")
    assert other.execute("select count(*) from er.golden_ids").fetchone()[0] == 2


def current_catalog(con) -> str:
    return con.execute("select current_database()").fetchone()[0]


def test_bad_input_is_refused_before_anything_is_written(con) -> None:
    duplicated = pa.table({"record_key": ["a", "a"], "cluster_id": ["1", "2"]})
    with pytest.raises(LedgerInputError, match="more than once"):
        assign_golden_ids(con, duplicated, run_id="run-1", recorded_at=DAY_ONE)
    unclustered = pa.table({"record_key": ["a", "b"], "cluster_id": ["1", None]})
    with pytest.raises(LedgerInputError, match="lack a record_key or cluster_id"):
        assign_golden_ids(con, unclustered, run_id="run-1", recorded_at=DAY_ONE)
    assert (
        con.execute("select count(*) from duckdb_tables() where schema_name = 'er'").fetchone()[0]
        == 0
    )


def test_ids_published_before_the_ledger_are_adopted(con) -> None:
    con.execute(
        "create table er.record_clusters as select * from (values "
        "('a', 'GCLEGACY000000A'), ('b', 'GCLEGACY000000A'), ('c', 'GCLEGACY000000C')) "
        "as t(record_key, golden_customer_id)"
    )
    result = publish(con, [["a", "b"], ["c", "d"]])
    assert ids_of(result) == {
        "a": "GCLEGACY000000A", "b": "GCLEGACY000000A",
        "c": "GCLEGACY000000C", "d": "GCLEGACY000000C",
    }  # fmt: skip
    assert (result.adopted, result.kept, result.issued) == (2, 2, 0)
    assert ("adopted", "GCLEGACY000000A", None, 2) in events(con, 1)


def test_a_publish_that_failed_after_the_ledger_committed_heals(con) -> None:
    publish(con, [["a"], ["b"]])
    survivor = min(anchor_id("a"), anchor_id("b"))
    # The ledger commits the merge but er.record_clusters is never replaced; then the same
    # clusters arrive again the next day, with a new record.
    assign_golden_ids(
        con, pa.table({"record_key": ["a", "b", "c"], "cluster_id": ["1", "1", "2"]}),
        run_id="run-2", recorded_at=DAY_ONE + timedelta(days=1),
    )  # fmt: skip
    result = ids_of(publish(con, [["a", "b"], ["c"]], day=3))
    assert result["a"] == result["b"] == survivor, "the retired ID is followed to the survivor"
    # "c" got an ID in the unpublished run; that ID is retired and never reissued.
    assert result["c"] == anchor_id("c#1")
    assert events(con, 3) == {
        ("retired", anchor_id("c"), None, 0),
        ("issued", anchor_id("c#1"), None, 1),
    }
    assert_ledger_consistent(con, result)


def test_chains_of_merges_resolve_to_the_active_id(con) -> None:
    publish(con, [["c"]])
    publish(con, [["c"], ["b"]], day=2)
    publish(con, [["c"], ["b"], ["a"]], day=3)
    first, second, third = anchor_id("c"), anchor_id("b"), anchor_id("a")
    publish(con, [["a", "b"], ["c"]], day=4)  # third merges into the older second
    publish(con, [["a", "b", "c"]], day=5)  # second merges into the oldest, first
    merged_into = dict(
        con.execute("select golden_customer_id, merged_into from er.golden_ids").fetchall()
    )
    assert merged_into[third] == second
    assert merged_into[second] == first
    assert resolve(con, third) == resolve(con, second) == resolve(con, first) == first
    resolution = dict(
        con.execute(
            "select golden_customer_id, active_golden_customer_id from er.golden_id_resolution"
        ).fetchall()
    )
    assert resolution == {first: first, second: first, third: first}

    publish(con, [["z"]], day=6)  # everyone is erased: the whole chain resolves to nothing
    assert resolve(con, third) is None
    assert resolve(con, first) is None


# A day of a realistic customer base: mostly new sign-ups, a few records joining existing
# customers, a few erasures, and a handful of clusters merged or split by new evidence.
def simulate_day(
    clusters: Clusters, rng: random.Random, day: int, changed_share: float
) -> Clusters:
    clusters = [list(cluster) for cluster in clusters]
    records = sum(len(cluster) for cluster in clusters)
    budget = int(records * changed_share)
    merges = splits = max(1, budget // 40)
    erasures = max(1, budget // 10)
    additions = budget - 2 * merges - 2 * splits - erasures
    for _ in range(merges):
        first, second = rng.sample(range(len(clusters)), 2)
        clusters[first] += clusters[second]
        clusters[second] = []
    for _ in range(splits):
        candidates = [index for index, cluster in enumerate(clusters) if len(cluster) >= 2]
        cluster = clusters[rng.choice(candidates)]
        rng.shuffle(cluster)
        cut = rng.randint(1, len(cluster) - 1)
        clusters.append(cluster[cut:])
        del cluster[cut:]
    for _ in range(erasures):
        cluster = rng.choice([cluster for cluster in clusters if cluster])
        cluster.remove(rng.choice(cluster))
    for number in range(additions):
        key = f"d{day:03d}-{number:06d}"
        if rng.random() < 0.3:
            rng.choice([cluster for cluster in clusters if cluster]).append(key)
        else:
            clusters.append([key])
    return [cluster for cluster in clusters if cluster]


def initial_clusters(rng: random.Random, records: int) -> Clusters:
    clusters, number = [], 0
    while number < records:
        size = min(rng.choice((1, 1, 1, 2, 2, 3, 4)), records - number)
        clusters.append([f"r{index:07d}" for index in range(number, number + size)])
        number += size
    return clusters


def assert_ledger_consistent(con: duckdb.DuckDBPyConnection, assignments: dict[str, str]) -> None:
    issued = con.execute(
        "select golden_customer_id from er.golden_id_ledger "
        "where event in ('issued', 'split_from', 'adopted')"
    ).fetchall()
    assert len(issued) == len(set(issued)), "an ID was issued twice"
    states = dict(con.execute("select golden_customer_id, status from er.golden_ids").fetchall())
    assert len(states) == len(issued)
    active = {golden_id for golden_id, status in states.items() if status == "active"}
    assert active == set(assignments.values()), "active IDs are exactly the assigned ones"
    assert (
        con.execute(
            "select count(*) from er.golden_id_resolution as resolution "
            "join er.golden_ids as ids using (golden_customer_id) "
            "where ids.merged_into is not null and resolution.active_golden_customer_id is null "
            "and ids.merged_into in (select golden_customer_id from er.golden_ids "
            "                        where status = 'active')"
        ).fetchone()[0]
        == 0
    )


def test_a_day_changing_one_percent_of_records_keeps_99_percent_of_ids(con) -> None:
    rng = random.Random(20260101)
    clusters = initial_clusters(rng, 12_000)
    before = ids_of(publish(con, clusters))
    for day in range(2, 4):
        clusters = simulate_day(clusters, rng, day, changed_share=0.01)
        result = publish(con, clusters, day)
        after = ids_of(result)
        surviving_ids = set(before.values()) & set(after.values())
        assert len(surviving_ids) / len(set(before.values())) >= 0.99
        shared_records = before.keys() & after.keys()
        unchanged = sum(before[key] == after[key] for key in shared_records)
        assert unchanged / len(shared_records) >= 0.99
        assert result.unchanged_record_share == pytest.approx(unchanged / len(shared_records))
        assert min(result.merged, result.split, result.issued, result.retired) >= 1
        assert_ledger_consistent(con, after)
        before = after


def test_heavy_churn_never_reissues_an_id(con) -> None:
    rng = random.Random(7)
    clusters = initial_clusters(rng, 400)
    publish(con, clusters)
    for day in range(2, 9):
        clusters = simulate_day(clusters, rng, day, changed_share=0.2)
        # Erased customers come back now and then: their old anchor IDs must not be reissued.
        present = {key for cluster in clusters for key in cluster}
        returning = {f"r{rng.randrange(400):07d}" for _ in range(5)} - present
        clusters += [[key] for key in sorted(returning)]
        result = publish(con, clusters, day)
        assert_ledger_consistent(con, ids_of(result))
        counts = con.execute(
            "select count(*) filter (where event = 'merged_into'), "
            "count(*) filter (where event = 'retired') from er.golden_id_ledger where run_id = ?",
            [f"run-{day}"],
        ).fetchone()
        assert counts == (result.merged, result.retired)
    splits = con.execute("select count(*) from er.golden_id_ledger where event = 'split_from'")
    assert splits.fetchone()[0] > 0


def test_recorded_at_with_a_time_zone_is_stored_as_utc(con) -> None:
    shanghai = datetime(2026, 1, 1, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assign_golden_ids(
        con, pa.table({"record_key": ["a"], "cluster_id": [1]}), run_id="r", recorded_at=shanghai
    )
    assert con.execute("select issued_at from er.golden_ids").fetchone()[0] == datetime(
        2026, 1, 1, 10, 0
    )


def test_large_runs_stay_visible_inside_the_callers_transaction(tmp_path) -> None:
    # DuckDB 1.5.5 hides rows of an insert of a row group or more that follows an empty insert
    # into the same table in one transaction. A 2,048-row row group reproduces it at test size.
    con = duckdb.connect()
    con.execute(f"attach '{tmp_path / 'small_groups.duckdb'}' as warehouse (row_group_size 2048)")
    con.execute("use warehouse")
    con.execute("create schema er")
    clusters = [[f"k{number:05d}"] for number in range(5000)]
    first = ids_of(publish(con, clusters))
    assert con.execute("select count(*) from er.golden_ids").fetchone()[0] == 5000
    again = publish(con, clusters, day=2)
    assert (again.kept, again.adopted, again.issued) == (5000, 0, 0)
    assert ids_of(again) == first
    assert_ledger_consistent(con, first)
    con.close()
