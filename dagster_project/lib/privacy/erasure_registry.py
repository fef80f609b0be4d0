"""Which warehouse table holds a person, and by which column: the one list erasure follows.

Erasure discovers the tables from the warehouse itself (information_schema) and looks each one
up here. A base table that has any text column and is not listed makes the erasure refuse,
naming the table (`UnregisteredTableError`): a table added later cannot silently keep a person
that an erasure was meant to remove. Views hold nothing and are skipped.

How a table is treated:
- `delete`: rows linked to the person by any of the table's links are deleted.
- `keep_ids`: rows stay because another record needs them, and hold identifiers only, never a
  personal value (the golden-ID ledger: an ID is retired, never issued again, R13).
- `no_personal_data`: the table's text is file paths, statuses, rule names, counts or masked
  samples; it is listed so that the decision was made by someone, not by omission.

The raw tables are generated per configured source; their link is the column governance.yaml
maps as `source_record_id` (`raw_table_rule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dagster_project.config import FieldMapping, GovernanceConfig
from dagster_project.lib.warehouse import mapping_sql

LinkKind = Literal[
    "record_key", "golden_id", "case_id", "source_record", "mentions", "row_mentions"
]
Treatment = Literal["delete", "keep_ids", "no_personal_data"]


@dataclass(frozen=True)
class Link:
    """One way a row can belong to the person.

    kind:
        record_key: the column holds a record key (`<source>:<source_record_id>`).
        golden_id: the column holds a golden_customer_id.
        case_id: the column holds a monitoring case of the person (via monitoring.cases).
        source_record: `column` holds the source's record ID, `source_column` the source name;
            for a raw table `column` is a SQL expression over its columns and the source is
            the table's own.
        mentions: the text column may quote the person's keys or identifiers inside free text
            (alert messages naming a golden ID, a quarantined line as it was delivered).
        row_mentions: any column of the row may quote them (`column` is unused): the raw
            table of a source no longer in the config, whose record ID column nobody names.
    """

    kind: LinkKind
    column: str
    source_column: str | None = None


@dataclass(frozen=True)
class TableRule:
    treatment: Treatment
    links: tuple[Link, ...] = ()
    why: str = ""


def _by_record_key(*columns: str, why: str = "") -> TableRule:
    return TableRule("delete", tuple(Link("record_key", column) for column in columns), why)


def _by_golden_id(*columns: str, why: str = "") -> TableRule:
    return TableRule("delete", tuple(Link("golden_id", column) for column in columns), why)


_MART_XREF = _by_record_key("record_key")
_MART_GOLDEN = _by_golden_id("golden_customer_id")
_MART_LINEAGE = TableRule(
    "delete", (Link("golden_id", "golden_customer_id"), Link("record_key", "record_key"))
)

REGISTRY: dict[str, TableRule] = {
    # Loading. Quarantined rows have no key (they could not be parsed): the line as delivered
    # is matched on the person's identifiers and record IDs.
    "quarantine.rejected_rows": TableRule("delete", (Link("mentions", "raw_text"),)),
    "ops.load_log": TableRule(
        "no_personal_data", why="file paths, statuses, counts; messages name columns, not values"
    ),
    "ops.publish_log": TableRule("no_personal_data", why="table names, runs, row counts"),
    # Record history.
    "history.customer_record_versions": _by_record_key("record_key"),
    "history.record_presence": _by_record_key("record_key"),
    "history.change_log": TableRule(
        "delete", (Link("record_key", "record_key"), Link("golden_id", "golden_customer_id"))
    ),
    "history.golden_customer_versions": _by_golden_id("golden_customer_id"),
    "history.carried_golden_ids": TableRule(
        "delete", (Link("record_key", "record_key"), Link("golden_id", "golden_customer_id"))
    ),
    "history.applied_days": TableRule("no_personal_data", why="days, runs, checksums, counts"),
    "history.unchanged_deliveries": TableRule(
        "no_personal_data", why="source name, day and line number of unchanged rows"
    ),
    # Standardised records.
    "intermediate.int_customer_records": _by_record_key("record_key"),
    "intermediate.int_steward_corrections__latest": _by_golden_id("golden_customer_id"),
    # Entity resolution.
    "er.pairwise_predictions": _by_record_key("record_key_l", "record_key_r"),
    "er.record_clusters": _by_record_key("record_key"),
    "er.scored_records": _by_record_key("record_key"),
    "er.review_queue": _by_record_key("record_key_l", "record_key_r"),
    "er.review_decisions": _by_record_key("record_key_l", "record_key_r"),
    "er.steward_corrections": _by_golden_id("golden_customer_id"),
    "er.steward_labels": _by_record_key("record_key_l", "record_key_r"),
    "er.resolution_state": TableRule("no_personal_data", why="model digest and blocking keys"),
    "er.golden_ids": TableRule(
        "keep_ids", why="the ledger: an erased ID is retired, so it is never issued again"
    ),
    "er.golden_id_ledger": TableRule("keep_ids", why="the ledger's events: IDs and counts only"),
    # Marts: the candidates and the published copies.
    "candidate.golden_customers": _MART_GOLDEN,
    "candidate.customer_source_xref": _MART_XREF,
    "candidate.golden_field_lineage": _MART_LINEAGE,
    "main.golden_customers": _MART_GOLDEN,
    "main.customer_source_xref": _MART_XREF,
    "main.golden_field_lineage": _MART_LINEAGE,
    # Monitoring. Alerts name golden IDs in their subject and message.
    "monitoring.risk_events": TableRule(
        "delete", (Link("golden_id", "golden_customer_id"), Link("mentions", "evidence"))
    ),
    "monitoring.customer_risk": _by_golden_id("golden_customer_id"),
    "monitoring.cases": _by_golden_id("golden_customer_id"),
    "monitoring.case_actions": TableRule("delete", (Link("case_id", "case_id"),)),
    "monitoring.alerts": TableRule(
        "delete", (Link("mentions", "subject"), Link("mentions", "message"))
    ),
    "monitoring.anomalies": TableRule(
        "delete", (Link("mentions", "subject"), Link("mentions", "message"))
    ),
    "monitoring.change_volumes": TableRule(
        "no_personal_data", why="changes per source and field a day"
    ),
    "monitoring.monitored_days": TableRule("no_personal_data", why="days and runs"),
    # Quality and audit: aggregates and masked samples; quoted keys are matched all the same.
    "quality.gate_results": TableRule(
        "delete",
        (
            Link("mentions", "observed_value"),
            Link("mentions", "failing_sample_masked"),
            Link("mentions", "exception"),
        ),
    ),
    "audit.quality_metrics": TableRule(
        "no_personal_data", why="completeness and validity per source and field"
    ),
    # Privacy: evidence that holds hashes and counts, never a value.
    "privacy.retention_log": TableRule("no_personal_data", why="policies, counts, runs"),
    "privacy.erasure_requests": TableRule(
        "no_personal_data", why="erasure evidence: hashed identifier, counts"
    ),
    "privacy.erasure_suppressions": TableRule("no_personal_data", why="salted hashes only"),
    # Retention. The archive's pseudonymous keys stay after a customer's data moved out, and
    # erasing the customer removes them with the rest; a hold's evidence is kept (an erasure of
    # a held customer is refused until the hold is released).
    "privacy.archived_customers": _by_golden_id("golden_customer_id"),
    "privacy.archived_records": _by_record_key("record_key"),
    "privacy.legal_holds": TableRule(
        "keep_ids", why="golden IDs, record keys, the reason and staff names of each hold"
    ),
}

SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog"})


class UnregisteredTableError(RuntimeError):
    """A table that may hold personal data is not in the erasure registry."""


def raw_table_rule(mapping: FieldMapping) -> TableRule:
    """A raw table's rule: linked by the column (or expression) mapped as source_record_id."""
    return TableRule("delete", (Link("source_record", mapping_sql(mapping)),))


# A source removed from governance.yaml leaves its raw table (history keeps its records until
# retention or erasure says otherwise); no mapping names its record ID any more, so the whole
# delivered row is searched for the person's keys and identifiers, as a quarantined line is.
_RETIRED_SOURCE_RAW = TableRule(
    "delete",
    (Link("row_mentions", "*"),),
    why="raw table of a source no longer configured: matched on the delivered row's text",
)


def rule_for(table: str, config: GovernanceConfig) -> TableRule | None:
    """The rule for `schema.table`, or None when nobody has decided how it holds a person."""
    for source in config.sources:
        if table == f"raw.{source.name}__customers":
            return raw_table_rule(source.mapping["source_record_id"])
    if table.startswith("raw.") and table.endswith("__customers"):
        return _RETIRED_SOURCE_RAW
    return REGISTRY.get(table)


def tables_to_erase(con, config: GovernanceConfig) -> dict[str, tuple[TableRule, list[str]]]:
    """Every base table of the warehouse with its rule and its columns.

    Raises:
        UnregisteredTableError: a table with a text column has no rule; the message names each.
    """
    rows = con.execute(
        """
        select t.table_schema || '.' || t.table_name,
               list(c.column_name order by c.ordinal_position),
               bool_or(c.data_type like '%VARCHAR%')
        from information_schema.tables as t
        join information_schema.columns as c using (table_catalog, table_schema, table_name)
        where t.table_type = 'BASE TABLE' and t.table_catalog = current_database()
        group by all
        order by 1
        """
    ).fetchall()
    found, unknown = {}, []
    for table, columns, has_text in rows:
        if table.split(".", 1)[0] in SYSTEM_SCHEMAS:
            continue
        rule = rule_for(table, config)
        if rule is None:
            if has_text:
                unknown.append(table)
            continue
        found[table] = (rule, columns)
    if unknown:
        raise UnregisteredTableError(
            f"erasure refused: {len(unknown)} table(s) may hold personal data but are not in "
            f"the erasure registry: {', '.join(unknown)}. Say how each is linked to a person "
            "(or that it holds no personal data) in dagster_project/lib/privacy/"
            "erasure_registry.py REGISTRY; a raw table belongs to a source in governance.yaml."
        )
    return found
