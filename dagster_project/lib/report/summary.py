"""The short summary printed after a run: what came in and what came out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.lib.warehouse import connect, table_exists


@dataclass
class WarehouseSummary:
    records_per_source: dict[str, int] = field(default_factory=dict)
    quarantined_per_source: dict[str, int] = field(default_factory=dict)
    source_records: int = 0
    golden_customers: int = 0
    review_queue_open: int = 0
    customers_by_risk_tier: dict[str, int] = field(default_factory=dict)
    open_risk_events: int = 0


def warehouse_summary(path: Path) -> WarehouseSummary:
    summary = WarehouseSummary()
    if not path.exists():
        return summary
    con = connect(path, read_only=True)
    try:
        if table_exists(con, "intermediate.int_customer_records"):
            summary.records_per_source = dict(
                con.execute(
                    "select source_name, count(*) from intermediate.int_customer_records "
                    "group by source_name"
                ).fetchall()
            )
            summary.source_records = sum(summary.records_per_source.values())
        if table_exists(con, "quarantine.rejected_rows"):
            summary.quarantined_per_source = dict(
                con.execute(
                    "select source_name, count(*) from quarantine.rejected_rows "
                    "group by source_name"
                ).fetchall()
            )
        if table_exists(con, "er.review_queue"):
            summary.review_queue_open = con.execute(
                "select count(*) from er.review_queue where status = 'open'"
            ).fetchone()[0]
        if table_exists(con, "main.golden_customers"):
            summary.golden_customers = con.execute(
                "select count(*) from main.golden_customers"
            ).fetchone()[0]
        if table_exists(con, "monitoring.customer_risk"):
            summary.customers_by_risk_tier = dict(
                con.execute(
                    "select risk_tier, count(*) from monitoring.customer_risk group by 1"
                ).fetchall()
            )
            summary.open_risk_events = con.execute(
                "select count(*) from monitoring.risk_events where status = 'open'"
            ).fetchone()[0]
    finally:
        con.close()
    return summary
