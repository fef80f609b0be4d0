"""Change volumes per source and field, against their own history (R19).

A day's count of changed records per (source, field) is an anomaly when it is at least
`min_changes` and either more than `changed_share` of the source's current records, or more
than `robust_z` robust standard deviations (1.4826 x the median absolute deviation, at least 1)
above the median of the previous days with changes (once there are `history_days` of them). A bad
import that rewrites every address is then one source-level anomaly, and the rules counting
customers' changes leave that source's changes of that field and day out, instead of raising
100,000 customer events.

The counts are a few rows per day, the statistics per group: Polars, the frame library the
project declares, holds them in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from dagster_project.config import ChangeVolumeAnomalies
from dagster_project.lib.warehouse import table_exists

CHANGE_LOG = "history.change_log"
VERSIONS = "history.customer_record_versions"
# Days of change counts read for the baseline.
BASELINE_DAYS = 90
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class VolumeAnomaly:
    source_name: str
    field: str
    changes: int
    records: int
    baseline_median: float | None
    robust_z: float | None
    reason: str

    def message(self, day: date) -> str:
        return (
            f"{self.source_name}.{self.field}: {self.changes:,} records changed on {day} "
            f"({self.reason}); these changes do not count towards customers' change rules. "
            "Check the source's export of that day."
        )


def change_volumes(
    con: duckdb.DuckDBPyConnection, day: date, settings: ChangeVolumeAnomalies
) -> pl.DataFrame:
    """One row per (source, field) changed on `day`: changes, records, baseline, z, anomaly."""
    empty = pl.DataFrame(
        schema={
            "source_name": pl.String, "field": pl.String, "changes": pl.Int64,
            "records": pl.Int64, "baseline_days": pl.Int64, "baseline_median": pl.Float64,
            "robust_z": pl.Float64, "is_anomaly": pl.Boolean, "reason": pl.String,
        }
    )  # fmt: skip
    if not table_exists(con, CHANGE_LOG) or not table_exists(con, VERSIONS):
        return empty
    daily = con.execute(
        f"""
        select partition_date, split_part(record_key, ':', 1) as source_name, field,
            count(distinct record_key) as changes
        from {CHANGE_LOG}
        where change_level = 'record' and change_type = 'update'
            and partition_date between $day - {BASELINE_DAYS} and $day
        group by all
        """,
        {"day": day},
    ).pl()
    if daily.is_empty():
        return empty
    records = con.execute(
        f"""
        select source_name, count(*) as records from {VERSIONS}
        where is_current and not is_deleted group by 1
        """
    ).pl()
    today = daily.filter(pl.col("partition_date") == day)
    baseline = (
        daily.filter(pl.col("partition_date") < day)
        .group_by("source_name", "field")
        .agg(
            pl.len().alias("baseline_days"),
            pl.col("changes").median().alias("baseline_median"),
            (pl.col("changes") - pl.col("changes").median()).abs().median().alias("mad"),
        )
    )
    sigma = pl.max_horizontal(pl.col("mad").fill_null(0) * MAD_TO_SIGMA, pl.lit(1.0))
    frame = (
        today.join(baseline, on=["source_name", "field"], how="left")
        .join(records, on="source_name", how="left")
        .with_columns(
            pl.col("baseline_days").fill_null(0).cast(pl.Int64),
            pl.col("records").fill_null(0).cast(pl.Int64),
            ((pl.col("changes") - pl.col("baseline_median")) / sigma).alias("robust_z"),
        )
    )
    enough = pl.col("changes") >= settings.min_changes
    too_many = pl.col("changes") > settings.changed_share * pl.col("records")
    unusual = (pl.col("baseline_days") >= settings.history_days) & (
        pl.col("robust_z") > settings.robust_z
    )
    frame = frame.with_columns(
        (enough & (too_many | unusual.fill_null(False))).alias("is_anomaly"),
        pl.when(enough & too_many)
        .then(
            pl.format(
                "{}% of the source's {} records, over the {}% allowed",
                (pl.col("changes") * 100 / pl.col("records")).round(1),
                pl.col("records"),
                pl.lit(round(settings.changed_share * 100, 1)),
            )
        )
        .when(enough & unusual.fill_null(False))
        .then(
            pl.format(
                "robust z {} against a median of {} over {} days",
                pl.col("robust_z").round(1),
                pl.col("baseline_median"),
                pl.col("baseline_days"),
            )
        )
        .alias("reason"),
    )
    return frame.select(empty.columns).sort("source_name", "field")


def anomalies(volumes: pl.DataFrame) -> list[VolumeAnomaly]:
    return [
        VolumeAnomaly(
            row["source_name"],
            row["field"],
            row["changes"],
            row["records"],
            row["baseline_median"],
            row["robust_z"],
            row["reason"],
        )
        for row in volumes.filter(pl.col("is_anomaly")).iter_rows(named=True)
    ]
