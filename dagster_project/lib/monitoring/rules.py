"""Monitoring rules as SQL: which golden customers a rule finds on a day, with masked evidence.

Each kind of rule (governance.yaml `monitoring.rules`, the fields each kind can watch in
MONITORING_FIELDS_BY_KIND) is one query over the warehouse as of the day's run:

- `change_count`: days within `window_days` (ending on the day) on which one of the fields
  changed (`history.change_log`), at least `threshold`; counted per source record by default
  (`count_per: record`: one system changing the value again and again; two systems each
  recording one move are not three moves), or over all the customer's records (`customer`).
  Days are counted, not rows. A source's changes of a field on a day flagged as a change-volume
  anomaly are held back (lib/monitoring/volumes.py).
- `invalid_value`: a current record of the customer holds a value standardisation found invalid
  (its `validity_failures`; an e-mail also when it is a placeholder or throw-away mailbox).
- `consistency`: a current record disagrees with its own national ID (the address's province
  with the ID's region, the birth date with the ID's).
  Both fire while the record holds the value (`trigger: state`), or with `trigger: change` only
  when the field changed to it within `window_days` (an e-mail that became undeliverable).
- `shared_contact`: one phone or e-mail on records of customers in `threshold` or more
  households (a household: the golden customer's address line and city; a customer without an
  address is a household of one). Placeholder e-mails do not count.
- `missing`: the golden customer has none of the fields.
- `stale`: the golden customer's last interaction is older than `window_days`.

Evidence names fields, counts, days, record keys and reason codes, never a value: it is shown to
stewards and in alerts. A hit is keyed by (rule, golden customer, evidence key); the evidence key
tells apart several hits of one rule on one customer (two shared phones), else it is ''.
"""

from __future__ import annotations

from datetime import date

import duckdb

from dagster_project.canonical import VALIDATED_FIELDS
from dagster_project.config import MonitoringRule
from dagster_project.lib.warehouse import table_columns, table_exists

RECORDS = "intermediate.int_customer_records"
XREF = "main.customer_source_xref"
GOLDEN = "main.golden_customers"
CHANGE_LOG = "history.change_log"
HELD_BACK = "_held_back_changes"  # temp table: source_name, field, partition_date

# consistency: the int_customer_records flag that is false when the field disagrees with the ID.
_CONSISTENCY_FLAGS = {
    "province": "national_id_matches_province",
    "date_of_birth": "national_id_matches_date_of_birth",
}
# shared_contact: the standardised value compared, valid values only.
_CONTACT_COLUMNS = {
    "mobile_phone": ("mobile_phone_e164", "mobile_phone_is_valid"),
    "landline_phone": ("landline_phone_e164", "landline_phone_is_valid"),
    "email": ("email_normalised", "email_is_valid"),
}
# missing / stale: the golden column holding the field's surviving value.
_GOLDEN_COLUMNS = {"mobile_phone": "mobile_phone_e164", "landline_phone": "landline_phone_e164"}

HIT_COLUMNS = "golden_customer_id varchar, evidence_key varchar, evidence varchar"


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def _record_customer(rule: MonitoringRule | None = None) -> str:
    """Current records with their golden customer; with a `change` trigger, only the records
    whose value of one of the rule's fields changed within its window."""
    changed = ""
    if rule is not None and rule.trigger == "change":
        changed = f"""
        where exists (
            select 1 from {CHANGE_LOG} as change
            where change.record_key = records.record_key and change.change_level = 'record'
                and change.partition_date between $day - {rule.window_days - 1} and $day
                and change.change_type = 'update' and change.field in ({_sql_list(rule.fields)})
        )"""
    return f"""
        select records.*, xref.golden_customer_id
        from {RECORDS} as records
        inner join {XREF} as xref on records.record_key = xref.record_key
        {changed}
    """


def _change_count(rule: MonitoringRule) -> str:
    fields = _sql_list(rule.fields)
    # Per record: each record's own days; the customer's hit is its record with the most.
    unit = "change.record_key" if rule.count_per == "record" else "''"
    return f"""
        with changes as (
            select
                coalesce(xref.golden_customer_id, change.golden_customer_id)
                    as golden_customer_id,
                {unit} as unit,
                count(distinct change.partition_date) as days,
                string_agg(distinct cast(change.partition_date as varchar), ', '
                    order by cast(change.partition_date as varchar)) as dates,
                string_agg(distinct change.record_key, ', ' order by change.record_key)
                    as records
            from {CHANGE_LOG} as change
            left join {XREF} as xref on change.record_key = xref.record_key
            where change.change_level = 'record' and change.change_type = 'update'
                and change.field in ({fields})
                and change.partition_date between $day - {rule.window_days - 1} and $day
                and coalesce(xref.golden_customer_id, change.golden_customer_id) is not null
                and not exists (
                    select 1 from {HELD_BACK} as held
                    where held.source_name = split_part(change.record_key, ':', 1)
                        and held.field = change.field
                        and held.partition_date = change.partition_date
                )
            group by 1, 2
            having count(distinct change.partition_date) >= {rule.threshold}
        )
        select distinct on (golden_customer_id)
            golden_customer_id,
            '' as evidence_key,
            '{"/".join(rule.fields)} changed on ' || days || ' days within {rule.window_days} '
                || 'days (' || dates || '; records ' || records || ')' as evidence
        from changes
        order by golden_customer_id, days desc, unit
    """


def _invalid_value(rule: MonitoringRule, record_columns: set[str]) -> str:
    conditions = []
    reasons = []
    for field in rule.fields:
        failure = VALIDATED_FIELDS[field]
        condition = f"list_contains(validity_failures, '{failure}')"
        if field == "email":
            condition = f"({condition} or coalesce(email_is_placeholder, false))"
        conditions.append(condition)
        reason_column = f"{failure}_invalid_reason"
        reason = (
            f"coalesce({reason_column}, 'invalid')"
            if reason_column in record_columns
            else "'invalid'"
        )
        if field == "email":
            reason = f"case when email_is_placeholder then 'placeholder' else {reason} end"
        reasons.append(f"case when {condition} then '{field}: ' || {reason} end")
    return f"""
        select
            golden_customer_id,
            '' as evidence_key,
            string_agg(
                record_key || ' ' || concat_ws(', ', {", ".join(reasons)}), '; '
                order by record_key
            ) as evidence
        from ({_record_customer(rule)})
        where {" or ".join(conditions)}
        group by 1
    """


def _consistency(rule: MonitoringRule) -> str:
    flags = [_CONSISTENCY_FLAGS[field] for field in rule.fields]
    said = [
        f"case when not coalesce({flag}, true) then '{field} disagrees with the national ID' end"
        for field, flag in zip(rule.fields, flags, strict=True)
    ]
    return f"""
        select
            golden_customer_id,
            '' as evidence_key,
            string_agg(record_key || ': ' || concat_ws(', ', {", ".join(said)}), '; '
                order by record_key) as evidence
        from ({_record_customer(rule)})
        where {" or ".join(f"not coalesce({flag}, true)" for flag in flags)}
        group by 1
    """


def _shared_contact(rule: MonitoringRule) -> str:
    parts = []
    for field in rule.fields:
        column, valid = _CONTACT_COLUMNS[field]
        # A placeholder (noemail@test.com) is nobody's mailbox: strangers typing it share nothing.
        placeholder = (
            " and not coalesce(records.email_is_placeholder, false)" if field == "email" else ""
        )
        parts.append(
            f"""
            select '{field}' as field, records.{column} as contact, records.golden_customer_id,
                coalesce(lower(golden.address_line) || '|' || coalesce(lower(golden.city), ''),
                    records.golden_customer_id) as household
            from ({_record_customer()}) as records
            inner join {GOLDEN} as golden using (golden_customer_id)
            where records.{column} is not null and records.{valid}{placeholder}
            """
        )
    return f"""
        with contacts as ({" union all ".join(parts)}),
        shared as (
            select field, contact, count(distinct golden_customer_id) as customers,
                count(distinct household) as households
            from contacts
            group by all
            having count(distinct household) >= {rule.threshold}
        )
        select distinct
            contacts.golden_customer_id,
            -- Which value, without the value: one event per shared contact and customer.
            md5(shared.field || ':' || shared.contact) as evidence_key,
            'one ' || shared.field || ' on ' || shared.customers || ' customers in '
                || shared.households || ' households' as evidence
        from contacts
        inner join shared using (field, contact)
    """


def _missing(rule: MonitoringRule) -> str:
    columns = [_GOLDEN_COLUMNS.get(field, field) for field in rule.fields]
    return f"""
        select golden_customer_id, '' as evidence_key,
            'no {", ".join(rule.fields)}' as evidence
        from {GOLDEN}
        where {" and ".join(f"{column} is null" for column in columns)}
    """


def _stale(rule: MonitoringRule) -> str:
    (field,) = rule.fields
    column = _GOLDEN_COLUMNS.get(field, field)
    return f"""
        select golden_customer_id, '' as evidence_key,
            'last interaction on ' || cast(cast({column} as date) as varchar) || ', '
                || ($day - cast({column} as date)) || ' days before ' || cast($day as varchar)
                as evidence
        from {GOLDEN}
        where cast({column} as date) < $day - {rule.window_days}
    """


def missing_inputs(con: duckdb.DuckDBPyConnection, rule: MonitoringRule) -> list[str]:
    """The tables or columns `rule` reads that the warehouse lacks (empty: it can run)."""
    needs: dict[str, list[str]] = {
        "change_count": [CHANGE_LOG, XREF],
        "invalid_value": [RECORDS, XREF, *([CHANGE_LOG] if rule.trigger == "change" else [])],
        "consistency": [RECORDS, XREF, *([CHANGE_LOG] if rule.trigger == "change" else [])],
        "shared_contact": [RECORDS, XREF, GOLDEN],
        "missing": [GOLDEN],
        "stale": [GOLDEN],
    }
    absent = [table for table in needs[rule.kind] if not table_exists(con, table)]
    if absent:
        return absent
    if rule.kind in ("missing", "stale"):
        columns = set(table_columns(con, GOLDEN))
        wanted = [_GOLDEN_COLUMNS.get(field, field) for field in rule.fields]
        return [f"{GOLDEN}.{column}" for column in wanted if column not in columns]
    return []


def rule_hits_sql(con: duckdb.DuckDBPyConnection, rule: MonitoringRule) -> str:
    """The query of `rule`'s hits (HIT_COLUMNS), with the parameter $day."""
    if rule.kind == "change_count":
        return _change_count(rule)
    if rule.kind == "invalid_value":
        return _invalid_value(rule, set(table_columns(con, RECORDS)))
    if rule.kind == "consistency":
        return _consistency(rule)
    if rule.kind == "shared_contact":
        return _shared_contact(rule)
    if rule.kind == "missing":
        return _missing(rule)
    return _stale(rule)


def rule_hits(con: duckdb.DuckDBPyConnection, rule: MonitoringRule, day: date) -> int:
    """Append `rule`'s hits on `day` to the temp table `_hits`; return how many."""
    query = rule_hits_sql(con, rule)
    (inserted,) = con.execute(
        f"""
        insert into _hits
        select '{rule.name}' as rule, golden_customer_id, evidence_key, evidence
        from ({query})
        """,
        {"day": day} if "$day" in query else {},
    ).fetchone()
    return inserted
