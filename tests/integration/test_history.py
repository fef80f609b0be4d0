"""Record history over real deliveries: files loaded by the loader, standardised by the real dbt
staging views, applied by lib/history. The config holds none of the demo's sources: a German shop
sending full extracts and a partner feed sending deltas with a deletion column."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from dagster_project import settings
from dagster_project.config import GovernanceConfig, load_config
from dagster_project.lib.history.days import HistoryOrderError, apply_day, rebuild_history
from dagster_project.lib.history.records import HistoryInputError
from dagster_project.lib.ingest.loader import load_partition
from dagster_project.lib.privacy.archive_keys import ARCHIVED_RECORDS, KEYS_DDL
from dagster_project.lib.transform.dbt_project import (
    dbt_environment,
    dbt_executable,
    dbt_project_for,
)
from dagster_project.lib.transform.dbt_vars import dbt_vars_arg
from dagster_project.lib.warehouse import connect
from tests.support.database import open_database

DAY_1, DAY_2, DAY_3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
APPLIED_AT = datetime(2026, 3, 9, tzinfo=UTC)
PROJECT = settings.dbt_project_dir()
SHOP_HEADER = "id,name,mail,phone,town"
FEED_HEADER = "ref,name,mail,op"


def _config(root: Path, deletion_column: str = "op") -> Path:
    document = {
        "landing_root": str(root / "landing"),
        "sources": [
            {
                "name": "shop", "system": "web", "path": "shop/{date:%Y-%m-%d}.csv",
                "format": "csv", "start_date": "2026-03-01", "trust_rank": 1,
                "default_region": "DE",
                "mapping": {"source_record_id": "id", "full_name": "name", "email": "mail",
                            "mobile_phone": "phone", "city": "town"},
            },
            {
                "name": "feed", "system": "other", "path": "feed/{date:%Y-%m-%d}.csv",
                "format": "csv", "start_date": "2026-03-01", "trust_rank": 2,
                "on_missing": "skip",
                "extract": {"kind": "delta",
                            "deleted_when": {"column": deletion_column, "values": ["D"]}},
                "mapping": {"source_record_id": "ref", "full_name": "name", "email": "mail"},
            },
        ],
    }  # fmt: skip
    path = root / "governance.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


class Deliveries:
    """Writes a day's files, loads them, and applies the day to history."""

    def __init__(
        self, root: Path, template: Path | None = None, deletion_column: str = "op"
    ) -> None:
        self.root = root
        self.config: GovernanceConfig = load_config(_config(root, deletion_column))
        self.warehouse = root / "warehouse.duckdb"
        self._staging_built = False
        if template is not None:
            # The staging views of both sources, built once per module (dbt takes ~12 s), over
            # raw tables emptied for this test.
            shutil.copy(template, self.warehouse)
            with open_database(self.warehouse) as con:
                for table in ("raw.shop__customers", "raw.feed__customers", "ops.load_log"):
                    con.execute(f"delete from {table}")
            self._staging_built = True

    def deliver(self, day: date, source: str, header: str, rows: list[str]) -> None:
        path = self.root / "landing" / self.config.source(source).path_for(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        with connect(self.warehouse) as con:
            result = load_partition(con, self.config.source(source), self.config.landing_root,
                                    day, run_id=f"load-{day}")  # fmt: skip
        assert result.status in ("loaded", "empty"), result

    def dbt(self, select: str) -> None:
        project = dbt_project_for(self.config, self.warehouse, settings.dbt_project_dir())
        completed = subprocess.run(
            [dbt_executable(), "run", "--select", select, "--profiles-dir", str(project),
             "--project-dir", str(project), "--target-path", str(self.root / "target"),
             "--log-path", str(self.root / "logs"), *dbt_vars_arg(self.config)],
            cwd=project, env={**os.environ, **dbt_environment(self.warehouse)},
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]

    def apply(self, day: date):
        if not self._staging_built:
            # Views: built once, they read whatever is loaded.
            self.dbt("tag:staging")
            self._staging_built = True
        with connect(self.warehouse) as con:
            return apply_day(
                con,
                self.config,
                day,
                dbt_project_dir=PROJECT,
                run_id=f"run-{day}",
                recorded_at=APPLIED_AT,
            )

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with open_database(self.warehouse, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with both sources' raw tables and their staging views (same file name as
    every test's: the views name the warehouse's catalog, the file's stem)."""
    deliveries = Deliveries(tmp_path_factory.mktemp("template"))
    deliveries.deliver(DAY_1, "shop", SHOP_HEADER, ["T,Template,,,"])
    deliveries.deliver(DAY_1, "feed", FEED_HEADER, ["T,Template,,"])
    deliveries.dbt("tag:staging")
    return deliveries.warehouse


@pytest.fixture
def shop(tmp_path: Path, template: Path) -> Deliveries:
    deliveries = Deliveries(tmp_path, template)
    deliveries.deliver(DAY_1, "shop", SHOP_HEADER, [
        "A,Anna Schmidt,anna@example.de,0151 2345 6789,Berlin",
        "B,Bernd Meier,bernd@example.de,0160 1111 2222,Hamburg",
        "C,Clara Vogel,clara@example.de,,München",
    ])  # fmt: skip
    first = deliveries.apply(DAY_1)
    assert (first.inserted, first.standardised) == (3, 3)
    return deliveries


def _day_2_of_the_shop(shop: Deliveries) -> None:
    # A re-sent unchanged, B's e-mail changed (written in capitals), C gone, D new.
    shop.deliver(DAY_2, "shop", SHOP_HEADER, [
        "A,Anna Schmidt,anna@example.de,0151 2345 6789,Berlin",
        "B,Bernd Meier,BERND.MEIER@Example.de,0160 1111 2222,Hamburg",
        "D,Dora Klein,dora@example.de,,Köln",
    ])  # fmt: skip


def test_a_full_extract_makes_versions_changes_and_deletions_standardising_only_what_changed(
    shop: Deliveries,
) -> None:
    _day_2_of_the_shop(shop)
    result = shop.apply(DAY_2)

    assert (result.inserted, result.updated, result.deleted, result.unchanged) == (1, 1, 1, 1)
    # A was re-sent unchanged: only B and D went through the standardisers.
    assert result.standardised == 2
    versions = shop.rows(
        "select record_key, valid_from, valid_to, is_current, is_deleted, email_normalised "
        "from history.customer_record_versions order by record_key, valid_from"
    )
    assert versions == [
        ("shop:A", DAY_1, None, True, False, "anna@example.de"),
        ("shop:B", DAY_1, DAY_2, False, False, "bernd@example.de"),
        ("shop:B", DAY_2, None, True, False, "bernd.meier@example.de"),
        ("shop:C", DAY_1, DAY_2, False, False, "clara@example.de"),
        ("shop:C", DAY_2, None, True, True, None),
        ("shop:D", DAY_2, None, True, False, "dora@example.de"),
    ]
    changes = shop.rows(
        "select record_key, field, change_type, old_value, new_value from history.change_log "
        "where partition_date = ? order by record_key, field", [DAY_2]
    )  # fmt: skip
    assert changes == [
        ("shop:B", "email", "update", "bernd@example.de", "bernd.meier@example.de"),
        ("shop:C", "_record", "delete", None, None),
        ("shop:D", "_record", "insert", None, None),
    ]
    presence = shop.rows(
        "select record_key, first_seen_date, last_seen_date, delivery_count "
        "from history.record_presence order by 1"
    )
    assert presence[0] == ("shop:A", DAY_1, DAY_2, 2)
    assert presence[2] == ("shop:C", DAY_1, DAY_1, 1)

    # The canonical records are the current versions: C is gone, B carries its new e-mail.
    shop.dbt("int_customer_records")
    records = shop.rows(
        "select record_key, email_normalised, first_seen_date, latest_partition_date, "
        "delivery_count from intermediate.int_customer_records order by 1"
    )
    assert records == [
        ("shop:A", "anna@example.de", DAY_1, DAY_2, 2),
        ("shop:B", "bernd.meier@example.de", DAY_1, DAY_2, 2),
        ("shop:D", "dora@example.de", DAY_2, DAY_2, 1),
    ]


def test_a_record_back_after_its_deletion_is_inserted_again(shop: Deliveries) -> None:
    _day_2_of_the_shop(shop)
    shop.apply(DAY_2)
    shop.deliver(DAY_3, "shop", SHOP_HEADER, [
        "A,Anna Schmidt,anna@example.de,0151 2345 6789,Berlin",
        "B,Bernd Meier,BERND.MEIER@Example.de,0160 1111 2222,Hamburg",
        "C,Clara Vogel,clara@example.de,,München",
        "D,Dora Klein,dora@example.de,,Köln",
    ])  # fmt: skip
    result = shop.apply(DAY_3)
    assert (result.inserted, result.updated, result.deleted, result.unchanged) == (1, 0, 0, 3)
    assert shop.rows(
        "select valid_from, is_current, is_deleted from history.customer_record_versions "
        "where record_key = 'shop:C' order by valid_from, is_deleted"
    ) == [(DAY_1, False, False), (DAY_2, False, True), (DAY_3, True, False)]


def test_an_archived_record_re_sent_unchanged_stays_archived_and_a_changed_one_is_live(
    shop: Deliveries,
) -> None:
    # What the retention job leaves after archiving A and B (lib/privacy/archive.py): their
    # versions and presence gone, their keys and raw fingerprints kept.
    with connect(shop.warehouse) as con:
        con.execute(KEYS_DDL)
        con.execute(
            f"insert into {ARCHIVED_RECORDS} select record_key, source_name, 'G1', "
            "raw_fingerprint, ?, 'retention', null from history.customer_record_versions "
            "where record_key in ('shop:A', 'shop:B')",
            [DAY_1],
        )
        for table in ("history.customer_record_versions", "history.record_presence"):
            con.execute(f"delete from {table} where record_key in ('shop:A', 'shop:B')")
    # The full extract re-sends A as it was, B with a new e-mail, and C unchanged.
    shop.deliver(DAY_2, "shop", SHOP_HEADER, [
        "A,Anna Schmidt,anna@example.de,0151 2345 6789,Berlin",
        "B,Bernd Meier,bernd.neu@example.de,0160 1111 2222,Hamburg",
        "C,Clara Vogel,clara@example.de,,München",
    ])  # fmt: skip
    result = shop.apply(DAY_2)
    assert (result.inserted, result.unchanged, result.standardised) == (1, 1, 1)
    assert shop.rows(
        "select record_key, email_normalised from history.customer_record_versions "
        "where is_current order by 1"
    ) == [("shop:B", "bernd.neu@example.de"), ("shop:C", "clara@example.de")]
    assert shop.rows("select record_key from history.record_presence order by 1") == [
        ("shop:B",),
        ("shop:C",),
    ]


def test_a_delta_deletes_only_what_its_deletion_column_marks(
    tmp_path: Path, template: Path
) -> None:
    feed = Deliveries(tmp_path, template)
    feed.deliver(DAY_1, "shop", SHOP_HEADER, ["A,Anna Schmidt,anna@example.de,,Berlin"])
    feed.deliver(
        DAY_1, "feed", FEED_HEADER, ["X,Xaver Huber,x@example.de,", "Y,Yvonne Roth,y@example.de,"]
    )
    feed.apply(DAY_1)
    # Day 2: the shop re-sends A and adds Z (full); the feed sends only Y, marked deleted (lower
    # case and spaces: compared trimmed, case-insensitively). X is absent: a delta says nothing.
    feed.deliver(
        DAY_2, "shop", SHOP_HEADER, ["A,Anna Schmidt,anna@example.de,,Berlin", "Z,Zoe Lang,,,Ulm"]
    )
    feed.deliver(DAY_2, "feed", FEED_HEADER, ["Y,Yvonne Roth,y@example.de, d "])
    result = feed.apply(DAY_2)
    assert (result.inserted, result.deleted, result.standardised) == (1, 1, 1)
    assert feed.rows(
        "select record_key, is_deleted from history.customer_record_versions "
        "where is_current order by 1"
    ) == [("feed:X", False), ("feed:Y", True), ("shop:A", False), ("shop:Z", False)]


def test_a_deletion_column_the_deliveries_lack_is_a_clear_error(
    tmp_path: Path, template: Path
) -> None:
    feed = Deliveries(tmp_path, template, deletion_column="operation")
    feed.deliver(DAY_1, "shop", SHOP_HEADER, ["A,Anna Schmidt,anna@example.de,,Berlin"])
    feed.deliver(DAY_1, "feed", FEED_HEADER, ["X,Xaver Huber,x@example.de,"])
    with pytest.raises(
        HistoryInputError, match=r"deleted_when\.column 'operation' is not a column"
    ):
        feed.apply(DAY_1)
    assert feed.rows("select count(*) from history.applied_days") == [(0,)]


def test_re_running_the_latest_day_gives_the_same_history(shop: Deliveries) -> None:
    _day_2_of_the_shop(shop)
    shop.apply(DAY_2)
    snapshot = _history(shop)
    assert shop.apply(DAY_2).status == "already_applied"
    assert _history(shop) == snapshot
    # The day's file replaced and re-loaded: the day is taken out and applied again.
    shop.deliver(DAY_2, "shop", SHOP_HEADER, [
        "A,Anna Schmidt,anna@example.de,0151 2345 6789,Berlin",
        "B,Bernd Meier,bernd@example.de,0160 1111 2222,Hamburg",
        "C,Clara Vogel,clara@example.de,,Potsdam",
    ])  # fmt: skip
    result = shop.apply(DAY_2)
    assert (result.status, result.inserted, result.updated, result.deleted) == (
        "reapplied",
        0,
        1,
        0,
    )
    assert shop.rows(
        "select record_key, field, old_value, new_value from history.change_log "
        "where partition_date = ?", [DAY_2]
    ) == [("shop:C", "city", "München", "Potsdam")]  # fmt: skip
    assert shop.rows(
        "select count(*), count(*) filter (where is_current) from history.customer_record_versions"
    ) == [(4, 3)]


def test_a_changed_earlier_day_is_refused_with_the_command_that_rebuilds(shop: Deliveries) -> None:
    _day_2_of_the_shop(shop)
    shop.apply(DAY_2)
    snapshot = _history(shop)
    shop.deliver(DAY_1, "shop", SHOP_HEADER, ["A,Anna Schmidt,anna@example.de,,Berlin"])
    with pytest.raises(HistoryOrderError, match="custodian run --full-refresh"):
        shop.apply(DAY_1)
    assert _history(shop) == snapshot
    # The rebuild takes the corrected day 1 and then day 2 again.
    with connect(shop.warehouse) as con:
        results = rebuild_history(
            con,
            shop.config,
            DAY_2,
            dbt_project_dir=PROJECT,
            run_id="rebuild",
            recorded_at=APPLIED_AT,
        )
    assert [(r.partition_date, r.inserted) for r in results] == [(DAY_1, 1), (DAY_2, 2)]


def test_a_full_extract_missing_most_records_is_held_back(tmp_path: Path, template: Path) -> None:
    shop = Deliveries(tmp_path, template)
    shop.deliver(
        DAY_1, "shop", SHOP_HEADER, [f"K{n},Kunde {n},k{n}@example.de,,Bonn" for n in range(40)]
    )
    shop.apply(DAY_1)
    shop.deliver(DAY_2, "shop", SHOP_HEADER, ["K1,Kunde 1,k1@example.de,,Bonn"])
    with pytest.raises(HistoryInputError, match=r"lacks 39 of its 40 current records \(98%\)"):
        shop.apply(DAY_2)
    assert shop.rows("select count(*) from history.customer_record_versions where is_deleted") == [
        (0,)
    ]
    assert shop.rows("select max(partition_date) from history.applied_days") == [(DAY_1,)]


def test_rebuilding_from_raw_gives_the_history_built_day_by_day(shop: Deliveries) -> None:
    _day_2_of_the_shop(shop)
    shop.apply(DAY_2)
    shop.deliver(DAY_3, "shop", SHOP_HEADER, [
        "A,Anna Schmidt,anna@example.de,0171 9999 0000,Berlin",
        "D,Dora Klein,dora@example.de,,Köln",
    ])  # fmt: skip
    shop.apply(DAY_3)
    incremental = _history(shop)
    with connect(shop.warehouse) as con:
        rebuild_history(
            con,
            shop.config,
            DAY_3,
            dbt_project_dir=PROJECT,
            run_id="rebuild",
            recorded_at=APPLIED_AT,
        )
    assert _history(shop) == incremental


def test_a_rebuild_interrupted_after_its_first_day_keeps_the_golden_ids_it_carries(
    shop: Deliveries,
) -> None:
    _day_2_of_the_shop(shop)
    shop.apply(DAY_2)
    with connect(shop.warehouse) as con:
        # Resolution has given each changed record its golden customer of that day.
        con.execute(
            "update history.change_log set golden_customer_id = 'G-' || record_key "
            "where change_level = 'record'"
        )
    before = shop.rows(
        "select partition_date, record_key, field, golden_customer_id from history.change_log "
        "order by all"
    )

    def killed_after_the_first_day(result) -> None:
        raise KeyboardInterrupt  # as a kill would, after day 1 committed

    def rebuild(on_day=None) -> None:
        with connect(shop.warehouse) as con:
            rebuild_history(
                con, shop.config, DAY_2, dbt_project_dir=PROJECT, run_id="rebuild",
                recorded_at=APPLIED_AT, on_day=on_day,
            )  # fmt: skip

    with pytest.raises(KeyboardInterrupt):
        rebuild(killed_after_the_first_day)
    rebuild()
    assert (
        shop.rows(
            "select partition_date, record_key, field, golden_customer_id from history.change_log "
            "order by all"
        )
        == before
    )
    assert shop.rows(
        "select count(*) from duckdb_tables() where table_name = 'carried_golden_ids'"
    ) == [(0,)]


def _history(deliveries: Deliveries) -> dict[str, list[tuple]]:
    """Versions, changes and presence without the run that wrote them."""
    return {
        "versions": deliveries.rows(
            "select * exclude (version_run_id, loaded_at) from history.customer_record_versions "
            "order by record_key, valid_from, is_deleted"
        ),
        "changes": deliveries.rows(
            "select * exclude (run_id, recorded_at) from history.change_log order by all"
        ),
        "presence": deliveries.rows("select * from history.record_presence order by all"),
    }


# The child announces "applying" just before apply_day, then "done".
CHILD = """
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.lib.history.days import apply_day
from dagster_project.lib.warehouse import connect

database, config_path, day = sys.argv[1:4]
con = connect(database, timeout=30)
print("applying", flush=True)
apply_day(con, load_config(config_path), date.fromisoformat(day),
          dbt_project_dir=settings.dbt_project_dir(), run_id="run-" + day,
          recorded_at=datetime(2026, 3, 9, tzinfo=UTC))
print("committed", flush=True)
con.close()
print("done", flush=True)
"""


def test_a_day_killed_while_applied_then_re_run_equals_an_uninterrupted_one(
    tmp_path: Path, template: Path
) -> None:
    shop = Deliveries(tmp_path, template)
    people = 20_000
    shop.deliver(
        DAY_1, "shop", SHOP_HEADER,
        [f"K{n},Kunde Nummer {n},k{n}@example.de,0151 {n:07d},Bonn" for n in range(people)],
    )  # fmt: skip
    shop.apply(DAY_1)
    # Day 2: every third customer moved; a thousand new ones; the last thousand gone.
    shop.deliver(DAY_2, "shop", SHOP_HEADER, [
        f"K{n},Kunde Nummer {n},k{n}@example.de,0151 {n:07d},{'Köln' if n % 3 == 0 else 'Bonn'}"
        for n in range(1_000, people + 1_000) if n < people - 1_000 or n >= people
    ])  # fmt: skip
    # Two copies of the day-one warehouse: one to kill, one to run uninterrupted.
    killed = tmp_path / "killed" / shop.warehouse.name
    uninterrupted = tmp_path / "uninterrupted" / shop.warehouse.name
    killed.parent.mkdir()
    uninterrupted.parent.mkdir()
    shutil.copy(shop.warehouse, killed)
    shutil.copy(shop.warehouse, uninterrupted)
    config_path = tmp_path / "governance.yaml"

    def start(database: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD, str(database), str(config_path), DAY_2.isoformat()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    child = start(uninterrupted)
    assert child.stdout.readline().strip() == "applying"
    began = time.monotonic()
    assert child.stdout.readline().strip() == "committed"
    apply_seconds = time.monotonic() - began
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-3000:]
    assert "done" in out, out

    child = start(killed)
    assert child.stdout.readline().strip() == "applying"
    # Half-way through the apply as the uninterrupted one took, from "applying" to its commit
    # (closing the file afterwards, a checkpoint, takes as long again and must not count).
    time.sleep(max(0.2, apply_seconds / 2))
    assert child.poll() is None, "the apply finished before it could be killed; make it bigger"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert "committed" not in child.stdout.read(), "killed after the commit; make it bigger"
    with open_database(killed, read_only=True) as con:
        # Killed before its commit: nothing of the day is in history.
        assert con.execute(
            "select count(*) from history.applied_days where partition_date = ?", [DAY_2]
        ).fetchone() == (0,)
    child = start(killed)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-3000:]
    assert "done" in out, out

    shop.warehouse = uninterrupted
    expected = _history(shop)
    shop.warehouse = killed
    assert _history(shop) == expected
    assert len(expected["versions"]) > people


def test_a_day_nothing_was_delivered_still_leaves_a_versions_table_to_read(
    tmp_path: Path, template: Path
) -> None:
    nothing = Deliveries(tmp_path, template)
    assert nothing.apply(DAY_1).status == "nothing_delivered"
    # int_customer_records reads it on the same run: an empty table, not a missing one.
    assert nothing.rows("select count(*) from history.customer_record_versions") == [(0,)]
