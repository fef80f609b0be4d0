"""Unusual concentrations of customers at one address (R19: "unusual clusters of customers at
one address").

A household is a few people; a mail drop, an agent's office or records made up in bulk put many
golden customers at one address. An address (the golden table's address line and city, compared
in lower case without surrounding blanks) is an anomaly when at least `min_customers` golden
customers share it and their count lies more than `robust_z` robust standard deviations
(1.4826 x the median absolute deviation, at least 1) above the median count of this warehouse's
addresses: the cut-off follows the data, not the demo.

The address itself is personal: an anomaly names it by a key (the first 12 hex digits of the
MD5 of the compared form), the count, and a few of the golden customer IDs, which is what a
steward needs to find it (`select ... from main.golden_customers where golden_customer_id in
(...)`). The counting is one aggregate over the golden table in DuckDB; there is no frame work
left for Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dagster_project.config import ConcentrationAnomalies
from dagster_project.lib.warehouse import table_columns, table_exists

GOLDEN = "main.golden_customers"
MAD_TO_SIGMA = 1.4826
IDS_SHOWN = 5
ADDRESS_KEY_SQL = (
    "left(md5(lower(trim(address_line)) || '|' || coalesce(lower(trim(city)), '')), 12)"
)


@dataclass(frozen=True)
class Concentration:
    address_key: str
    customers: int
    median: float
    robust_z: float
    golden_ids: tuple[str, ...]  # the first few, in order

    def message(self) -> str:
        shown = ", ".join(self.golden_ids)
        more = self.customers - len(self.golden_ids)
        return (
            f"{self.customers} golden customers share one address (key {self.address_key}; "
            f"robust z {self.robust_z:.1f} against a median of {self.median:g} customers an "
            f"address): {shown}" + (f" and {more} more" if more > 0 else "") + ". Check for a "
            "mail drop, an agent's address or records made up in bulk."
        )


def address_concentrations(
    con: duckdb.DuckDBPyConnection, settings: ConcentrationAnomalies
) -> tuple[list[Concentration], str | None]:
    """The addresses of the golden table with an unusual count of customers, and why none could
    be looked for (no golden table, or no address line in it), else None."""
    if not settings.enabled:
        return [], None
    if not table_exists(con, GOLDEN):
        return [], f"no {GOLDEN} yet"
    if not {"address_line", "city"} <= set(table_columns(con, GOLDEN)):
        return [], f"{GOLDEN} has no address_line and city columns"
    rows = con.execute(
        f"""
        with addresses as (
            select {ADDRESS_KEY_SQL} as address_key, count(*) as customers,
                list(golden_customer_id order by golden_customer_id)[1:{IDS_SHOWN}] as ids
            from {GOLDEN}
            where nullif(trim(address_line), '') is not null
            group by 1
        ),
        centre as (select median(customers) as median from addresses),
        spread as (
            select centre.median,
                greatest(median(abs(customers - centre.median)) * {MAD_TO_SIGMA}, 1) as sigma
            from addresses cross join centre group by centre.median
        )
        select address_key, customers, spread.median,
            (customers - spread.median) / spread.sigma as robust_z, ids
        from addresses cross join spread
        where customers >= $min_customers
            and (customers - spread.median) / spread.sigma > $robust_z
        order by customers desc, address_key
        """,
        {"min_customers": settings.min_customers, "robust_z": settings.robust_z},
    ).fetchall()
    return [
        Concentration(key, customers, float(median), float(z), tuple(ids))
        for key, customers, median, z, ids in rows
    ], None
