"""The Splink model for customer records: match input, settings, training and pair scoring.

Splink runs in its own in-memory DuckDB, so its many intermediate `__splink__*` tables never land
in the warehouse file; only results are written back (lib/resolve/resolver.py).

The model links and de-duplicates across sources (`link_and_dedupe`: each source system is one
input data set). Pairs are only scored when they share a blocking key, and every blocking key
value is capped at `max_records_per_block_key` records: a placeholder (a call-centre switchboard
number on 300 records, 1900-01-01) would otherwise put 300 x 299 / 2 = 44,850 pairs of strangers
into one block and chain them into one "customer".
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import re
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

logger = logging.getLogger(__name__)

# The columns matching reads. `match_input_sql` builds them from int_customer_records; any other
# producer (the FEBRL benchmarks) supplies the same columns, null where unknown.
MATCH_COLUMNS = (
    "record_key",
    "source_name",
    "name_original_script",
    "name_tokens",
    "name_sorted_key",
    "name_joined_key",
    "name_skeleton",
    "name_token_dob",
    "name_token_year",
    "gender",
    "date_of_birth",
    "national_id",
    "national_id_any",
    "mobile_phone_e164",
    "landline_phone_e164",
    "phone_numbers",
    "phone_tails",
    "invalid_phone_tails",
    "any_phone_tails",
    "email_normalised",
    "street_line",
    "house_number",
    "city_key",
    "admin_division_code",
    "postal_code",
    "company_name",
)


@dataclass(frozen=True)
class BlockingKey:
    """Records sharing a value of `columns` (all present) are compared.

    `is_list`: the column holds a list and a record joins one block per element (any phone of
    one record equal to any phone of the other; any name part with the birth date, which finds
    周女士 born 1970-07-16 for 周凤妍 born that day).
    """

    name: str
    columns: tuple[str, ...]
    is_list: bool = False


# Pairs are scored when they share a key. Each finds matches the others miss; they are tried in
# this order and kept while the comparisons they add stay within the budget of pairs per record
# (`choose_blocking_keys`), so a data set uses the keys its fields allow: with phones and
# e-mails the first few find nearly everything, with names and birth dates only the fuzzy ones
# at the end do the work.
BLOCKING_KEYS: tuple[BlockingKey, ...] = (
    # Identifiers, each alone: any phone (valid or not, last nine digits), e-mail, ID number.
    BlockingKey("phone", ("any_phone_tails",), is_list=True),
    BlockingKey("email", ("email_normalised",)),
    BlockingKey("national_id", ("national_id_any",)),
    # A name part with the full birth date: survives a typo or a change in the other parts.
    BlockingKey("name_token_dob", ("name_token_dob",), is_list=True),
    BlockingKey("name_city", ("name_sorted_key", "city_key")),
    BlockingKey("dob_postcode", ("date_of_birth", "postal_code")),
    BlockingKey("dob_city", ("date_of_birth", "city_key")),
    BlockingKey("street_postcode", ("street_line", "postal_code")),
    BlockingKey("house_postcode", ("house_number", "postal_code")),
    BlockingKey("name_postcode", ("name_sorted_key", "postal_code")),
    BlockingKey("street_city", ("street_line", "city_key")),
    # Fuzzy keys, for data whose exact keys miss: a name part with the birth year survives a
    # typo in the day or month; the names' consonant skeleton with the birth date or the place
    # survives a typo in a name; the name with the employer, or alone, finds the same person
    # in another city.
    BlockingKey("name_token_year", ("name_token_year",), is_list=True),
    BlockingKey("skeleton_dob", ("name_skeleton", "date_of_birth")),
    BlockingKey("skeleton_city", ("name_skeleton", "city_key")),
    BlockingKey("name_company", ("name_sorted_key", "company_name")),
    BlockingKey("name", ("name_sorted_key",)),
)
BLOCKING_KEYS_BY_NAME = {key.name: key for key in BLOCKING_KEYS}
DEFAULT_MAX_RECORDS_PER_BLOCK_KEY = 100
# A block larger than max_records_per_block_key is not dropped but compared in windows of this
# many records, sorted so that likely matches sit together (name, birth date, place), each
# window overlapping the next by half: a person with 800 records is compared along a chain
# that clustering closes, and a switchboard number on 300 records costs ~300 x 20 pairs, not
# 44,850, scored on their own merits (a shared number alone does not reach auto-link).
DEFAULT_BLOCK_WINDOW = 20
# The comparison budget: keys are used in order while the pairs they generate stay below this
# many per record.
DEFAULT_MAX_PAIRS_PER_RECORD = 25
# The order records take inside an oversized block.
_WINDOW_ORDER = "name_sorted_key, date_of_birth, postal_code, city_key, record_key"

# Fewer positive steward labels than this and m estimated from labels would be noisier than
# the EM estimate it replaces.
MIN_POSITIVE_LABELS_FOR_M = 100


def block_column(name: str) -> str:
    return f"block_{name}"


MALE_HONORIFIC = r"(先生|男士)$|^mr\.?\s"
FEMALE_HONORIFIC = r"(女士|小姐|太太|夫人)$|^(ms|mrs|miss)\.?\s"


def match_input_sql(relation: str) -> str:
    """Select the match columns from an int_customer_records-shaped relation.

    Values known to be invalid or placeholders are nulled rather than compared: an invalid ID
    card number is usually a placeholder (000000...), `noemail@...` is shared by strangers, and a
    flagged birth date (1900-01-01, a date in the future) says nothing about the person.
    """
    return f"""
        with valid_phones as (
            select
                * exclude (mobile_phone_e164, landline_phone_e164),
                case when mobile_phone_is_valid is not false then mobile_phone_e164 end
                    as mobile_phone_e164,
                case when landline_phone_is_valid is not false then landline_phone_e164 end
                    as landline_phone_e164,
                list_filter([mobile_phone_e164, landline_phone_e164], phone -> phone is not null)
                    as given_phones,
                -- Numbers the validator rejected, by their digits: a prefix the numbering plan
                -- does not know is still the same number in two systems. Seven digits at least:
                -- fewer is a fragment, not a number.
                list_filter(
                    [
                        case when mobile_phone_is_valid = false then mobile_phone_digits end,
                        case when landline_phone_is_valid = false then landline_phone_digits end
                    ],
                    digits -> length(digits) >= 7
                ) as rejected_phones
            from {relation}
        )
        select
            record_key,
            source_name,
            name_original_script,
            case when len(name_tokens) > 0 then name_tokens end as name_tokens,
            name_sorted_key,
            name_joined_key,
            case when date_of_birth_is_valid is not false then date_of_birth end
                as date_of_birth,
            -- Each name part's consonants (first letter kept): SCHMIDT/SCHMITT, ZHANG/ZHNAG
            -- mostly agree; sorted, so the order of the parts does not matter.
            case when len(name_tokens) > 0 then array_to_string(list_sort(list_transform(
                name_tokens,
                token -> left(token, 1) || regexp_replace(substr(token, 2), '[AEIOUYHW]', '', 'g')
            )), ' ') end as name_skeleton,
            case when date_of_birth_is_valid is not false and date_of_birth is not null then
                list_transform(name_tokens, token -> token || '|' || date_of_birth)
            end as name_token_dob,
            case when date_of_birth_is_valid is not false and date_of_birth is not null then
                list_transform(name_tokens, token -> token || '|' || year(date_of_birth))
            end as name_token_year,
            -- The call centre records no gender but writes 先生 (Mr) or 女士 (Ms): telling a
            -- caller from the relative who shares the household landline.
            coalesce(
                case when gender in ('M', 'F') then gender end,
                national_id_gender,
                case
                    when regexp_matches(full_name, '{MALE_HONORIFIC}', 'i') then 'M'
                    when regexp_matches(full_name, '{FEMALE_HONORIFIC}', 'i') then 'F'
                end
            ) as gender,
            case when national_id_is_valid is not false then national_id end as national_id,
            -- Also an ID that fails its check (a mistyped digit, a foreign number of another
            -- length), unless it is a placeholder: one character repeated (000000), too short.
            case
                when national_id_is_valid is not false then national_id
                when length(national_id) >= 5
                    and length(replace(national_id, left(national_id, 1), '')) > 0
                    then national_id
            end as national_id_any,
            mobile_phone_e164,
            landline_phone_e164,
            -- Either phone of one record may be the other's mobile or landline (call centres
            -- write down whichever number the customer called from).
            nullif(list_distinct(given_phones), []) as phone_numbers,
            -- The last nine digits survive a wrong country code (a German mobile written
            -- without +49 and read as Chinese).
            nullif(list_distinct(list_transform(given_phones, phone -> right(phone, 9))), [])
                as phone_tails,
            nullif(list_distinct(list_transform(rejected_phones, digits -> right(digits, 9))), [])
                as invalid_phone_tails,
            nullif(list_distinct(list_transform(
                given_phones || rejected_phones, phone -> right(phone, 9)
            )), []) as any_phone_tails,
            case when email_is_valid is not false and email_is_placeholder is not true
                then email_normalised end as email_normalised,
            nullif(street_line, '') as street_line,
            -- "33 kingham place" / "33 kinghma plcae": the house number survives street typos.
            nullif(regexp_extract(street_line, '^ *([0-9]+)', 1), '') as house_number,
            city_key,
            admin_division_code,
            case when postal_code_is_valid is not false then postal_code end as postal_code,
            nullif(upper(trim(company_name)), '') as company_name
        from valid_phones
    """


def _windowed(value: str, partition: str, window: int, offset: int) -> str:
    """A record's window of an oversized block: `<value>#<n>`, or `<value>#o<n>` shifted."""
    position = f"row_number() over (partition by {partition} order by {_WINDOW_ORDER}) - 1"
    tag = "o" if offset else ""
    return f"{value} || '#{tag}' || cast(({position} + {offset}) // {window} as varchar)"


def with_blocking_keys_sql(
    relation: str,
    max_records_per_block_key: int,
    window: int = DEFAULT_BLOCK_WINDOW,
    keys: tuple[BlockingKey, ...] = BLOCKING_KEYS,
) -> str:
    """Add per key a `block_<name>` column and a `block_<name>_o` column.

    A value shared by at most `max_records_per_block_key` records is one block (`_o` null).
    A value shared more widely is split into sorted windows of `window` records (`block_<name>`)
    and the same windows shifted by half (`block_<name>_o`), so every record is compared with
    about `window` neighbours and consecutive windows overlap. List keys do the same per element.
    """
    budget, window = int(max_records_per_block_key), max(2, int(window))
    half = window // 2
    scalar, ctes, joins, list_columns = [], [], [], []
    for key in keys:
        main, shifted = block_column(key.name), f"{block_column(key.name)}_o"
        if key.is_list:
            (column,) = key.columns
            ctes.append(
                f"""{key.name}_blocks as (
                    select record_key,
                        list(case when n <= {budget} then element
                             else element || '#' || cast(position // {window} as varchar) end
                             order by element) as {main},
                        list(element || '#o' || cast((position + {half}) // {window} as varchar)
                             order by element) filter (where n > {budget}) as {shifted}
                    from (
                        select record_key, element,
                            count(*) over (partition by element) as n,
                            row_number() over (partition by element order by {_WINDOW_ORDER})
                                - 1 as position
                        from (
                            select *, unnest({column}) as element from {relation}
                        )
                        where element is not null
                    )
                    group by record_key
                )"""
            )
            joins.append(f"left join {key.name}_blocks using (record_key)")
            list_columns += [main, shifted]
            continue
        present = " and ".join(f"{column} is not null" for column in key.columns)
        value = " || '|' || ".join(f"cast({column} as varchar)" for column in key.columns)
        partition = ", ".join(key.columns)
        size = f"count(*) over (partition by {partition})"
        scalar.append(
            f"case when {present} then case when {size} <= {budget} then {value} "
            f"else {_windowed(value, partition, window, 0)} end end as {main}"
        )
        scalar.append(
            f"case when {present} and {size} > {budget} "
            f"then {_windowed(value, partition, window, half)} end as {shifted}"
        )
    with_clause = ("with " + ", ".join(ctes)) if ctes else ""
    return (
        f"{with_clause} select records.*, {', '.join(scalar)}"
        + "".join(f", {column}" for column in list_columns)
        + f" from {relation} as records {' '.join(joins)}"
    )


def block_columns(key: BlockingKey) -> tuple[str, str]:
    return block_column(key.name), f"{block_column(key.name)}_o"


def blocking_rules(key: BlockingKey) -> list:
    """The two Splink blocking rules of a key: its blocks, and the shifted windows."""
    return [
        block_on(column, arrays_to_explode=[column]) if key.is_list else block_on(column)
        for column in block_columns(key)
    ]


def blocking_rule_dicts(keys: list[BlockingKey]) -> list[dict]:
    """The keys' rules as a saved model holds them (`blocking_rules_to_generate_predictions`)."""
    rules = []
    for key in keys:
        for column in block_columns(key):
            rule = {"blocking_rule": f'l."{column}" = r."{column}"', "sql_dialect": "duckdb"}
            if key.is_list:
                rule["arrays_to_explode"] = [column]
            rules.append(rule)
    return rules


@dataclass(frozen=True)
class BlockingPlan:
    """The keys a data set is compared by, and the ones left out with why."""

    keys: list[BlockingKey]
    pairs_by_key: dict[str, int]
    skipped: dict[str, str]
    records: int


def choose_blocking_keys(
    con: duckdb.DuckDBPyConnection,
    max_pairs_per_record: float = DEFAULT_MAX_PAIRS_PER_RECORD,
    keys: tuple[BlockingKey, ...] = BLOCKING_KEYS,
) -> BlockingPlan:
    """Keys in order while the pairs they generate (counted from `match_input`'s block
    columns, before Splink removes the pairs two keys share) stay within the budget.

    A key whose columns are empty in this data generates nothing and is left out as unused.
    """
    records = con.execute("select count(*) from match_input").fetchone()[0]
    allowance = max_pairs_per_record * max(records, 1)
    chosen, counts, skipped, total = [], {}, {}, 0
    for key in keys:
        pairs = 0
        for column in block_columns(key):
            values = f"unnest({column})" if key.is_list else column
            pairs += con.execute(
                f"select coalesce(sum(n * (n - 1) // 2), 0) from ("
                f"select count(*) as n from (select {values} as value from match_input) "
                "where value is not null group by value)"
            ).fetchone()[0]
        counts[key.name] = int(pairs)
        if not pairs:
            skipped[key.name] = "no two records share a value"
        elif total + pairs > allowance:
            skipped[key.name] = (
                f"{pairs:,} pairs would exceed the budget of {max_pairs_per_record:g} per record"
            )
        else:
            chosen.append(key)
            total += pairs
    return BlockingPlan(chosen, counts, skipped, records)


def name_comparison() -> cl.CustomComparison:
    """Names in any script and order; a shared surname alone (王先生, Ms Booth) is weak evidence.

    Term frequencies make common names (王伟, John Smith) count for less than rare ones.
    """
    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_tokens"),
            cll.ExactMatchLevel("name_original_script").configure(
                tf_adjustment_column="name_original_script",
                label_for_charts="Same name in the original script",
            ),
            cll.ExactMatchLevel("name_sorted_key").configure(
                tf_adjustment_column="name_sorted_key",
                label_for_charts="Same name parts (any order, any script)",
            ),
            cll.JaroWinklerLevel("name_joined_key", 0.92),
            cll.CustomLevel(
                "len(name_tokens_l) > 1 and len(name_tokens_r) > 1 "
                "and not name_parts_disagree(name_tokens_l, name_tokens_r)",
                label_for_charts="Same name parts up to typos, any order",
            ),
            cll.JaroWinklerLevel("name_joined_key", 0.80),
            # 王先生 or Ms Booth against 王伟 / Jane Booth: all the partial name says agrees. Two
            # full names sharing only a surname are more often relatives: a level of its own.
            cll.CustomLevel(
                "(len(name_tokens_l) = 1 or len(name_tokens_r) = 1) "
                "and list_has_any(name_tokens_l, name_tokens_r)",
                label_for_charts="A surname-only name agrees",
            ),
            cll.CustomLevel(
                "list_has_any(name_tokens_l, name_tokens_r)",
                label_for_charts="Share a name part (surname or given name)",
            ),
            cll.ElseLevel(),
        ],
    )


def phone_comparison() -> cl.CustomComparison:
    """Mobile and landline as one piece of evidence, so a number written in the other field or
    with a wrong country code still counts, and a shared household landline is not counted twice.
    """
    return cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.And(cll.NullLevel("phone_numbers"), cll.NullLevel("invalid_phone_tails")),
            cll.ExactMatchLevel("mobile_phone_e164").configure(
                tf_adjustment_column="mobile_phone_e164", label_for_charts="Same mobile"
            ),
            cll.CustomLevel(
                "list_has_any(phone_numbers_l, phone_numbers_r)",
                label_for_charts="A phone of one is a phone of the other",
            ),
            cll.CustomLevel(
                "list_has_any(phone_tails_l, phone_tails_r)",
                label_for_charts="Same number under another country code",
            ),
            # Weaker than a valid number (a typo can make a number invalid and collide), far
            # stronger than nothing: its own weight.
            cll.CustomLevel(
                "list_has_any(invalid_phone_tails_l, invalid_phone_tails_r)",
                label_for_charts="Same digits, number flagged invalid",
            ),
            cll.DamerauLevenshteinLevel("mobile_phone_e164", 1),
            cll.ElseLevel(),
        ],
    )


# The street line without its leading house number, for a record that has none: "17 stephen
# street" / "stephen street" is the same street, not a disagreement.
STREET_WITHOUT_NUMBER_SQL = (
    "case when house_number_{side} is null then street_line_{side} "
    "else ltrim(substr(street_line_{side}, length(house_number_{side}) + 1)) end"
)


def street_comparison() -> cl.CustomComparison:
    """The street line; the same words in another order (33 kingham place killarney / 33
    killarney kingham place) are nearly the same characters. A house number written on one side
    only does not make the streets disagree; two different numbers on one street (neighbours)
    still do."""
    left, right = (STREET_WITHOUT_NUMBER_SQL.format(side=side) for side in "lr")
    return cl.CustomComparison(
        output_column_name="street_line",
        comparison_levels=[
            cll.NullLevel("street_line"),
            cll.ExactMatchLevel("street_line").configure(tf_adjustment_column="street_line"),
            cll.JaroWinklerLevel("street_line", 0.9),
            cll.JaccardLevel("street_line", 0.9).configure(
                label_for_charts="Nearly the same characters (words reordered)"
            ),
            cll.CustomLevel(
                "(house_number_l is null) <> (house_number_r is null) "
                f"and jaro_winkler_similarity({left}, {right}) >= 0.9",
                label_for_charts="Same street, house number on one side only",
            ),
            cll.ElseLevel(),
        ],
    )


def national_id_comparison() -> cl.CustomComparison:
    """The ID number; one that fails its check (a mistyped digit, a foreign number) still
    agrees or sits a keystroke away, with weights of its own."""
    return cl.CustomComparison(
        output_column_name="national_id",
        comparison_levels=[
            cll.NullLevel("national_id_any"),
            cll.ExactMatchLevel("national_id").configure(tf_adjustment_column="national_id"),
            cll.DamerauLevenshteinLevel("national_id", 1),
            cll.ExactMatchLevel("national_id_any").configure(
                label_for_charts="Same number, flagged invalid"
            ),
            cll.DamerauLevenshteinLevel("national_id_any", 1).configure(
                label_for_charts="A keystroke apart, one flagged invalid"
            ),
            cll.ElseLevel(),
        ],
    )


def locality_comparison() -> cl.CustomComparison:
    """Postcode, division and city are one piece of evidence (they are not independent)."""
    return cl.CustomComparison(
        output_column_name="locality",
        comparison_levels=[
            cll.And(
                cll.NullLevel("postal_code"),
                cll.NullLevel("admin_division_code"),
                cll.NullLevel("city_key"),
            ),
            cll.ExactMatchLevel("postal_code").configure(label_for_charts="Same postal code"),
            cll.ExactMatchLevel("admin_division_code").configure(
                label_for_charts="Same district (division code)"
            ),
            cll.ExactMatchLevel("city_key").configure(
                tf_adjustment_column="city_key", label_for_charts="Same city"
            ),
            # WALLSEND / WALLSGEND. Chinese city keys are division names, where two characters
            # sharing the first (上海 / 上饶) stay far below this.
            cll.JaroWinklerLevel("city_key", 0.9).configure(
                label_for_charts="City names within a typo"
            ),
            cll.ElseLevel(),
        ],
    )


def date_of_birth_comparison() -> cl.CustomComparison:
    """Splink's birth-date levels, plus day and month swapped (1981-10-08 / 1981-08-10): the
    commonest way one date is written two ways, which a one-character edit does not catch."""
    as_text = "cast(date_of_birth_{side} as varchar)"
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth").configure(
                label_for_charts="Exact match on date of birth"
            ),
            cll.CustomLevel(
                f"levenshtein({as_text.format(side='l')}, {as_text.format(side='r')}) <= 1",
                label_for_charts="Levenshtein distance <= 1",
            ),
            cll.CustomLevel(
                "year(date_of_birth_l) = year(date_of_birth_r) "
                "and month(date_of_birth_l) = day(date_of_birth_r) "
                "and day(date_of_birth_l) = month(date_of_birth_r)",
                label_for_charts="Day and month swapped",
            ),
            *(
                cll.AbsoluteDateDifferenceLevel(
                    "date_of_birth", threshold=threshold, metric=metric, input_is_string=False
                ).configure(label_for_charts=f"Abs date difference <= {threshold} {metric}")
                for threshold, metric in ((1, "month"), (1, "year"), (10, "year"))
            ),
            cll.ElseLevel(),
        ],
    )


def build_settings() -> SettingsCreator:
    """The untrained model. The comparison budget is not a setting: it lives in the block_<key>
    columns splink_linker computes (with_blocking_keys_sql)."""
    return SettingsCreator(
        link_type="link_and_dedupe",
        unique_id_column_name="record_key",
        source_dataset_column_name="source_dataset",
        comparisons=[
            name_comparison(),
            date_of_birth_comparison(),
            cl.ExactMatch("gender"),
            national_id_comparison(),
            phone_comparison(),
            cl.EmailComparison("email_normalised"),
            street_comparison(),
            locality_comparison(),
            cl.ExactMatch("company_name").configure(term_frequency_adjustments=True),
        ],
        # Replaced per data set by the keys its fields allow (choose_blocking_keys).
        blocking_rules_to_generate_predictions=[
            rule for key in BLOCKING_KEYS for rule in blocking_rules(key)
        ],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


@contextmanager
def splink_linker(
    records: pa.Table,
    settings: SettingsCreator | dict,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    *,
    block_window: int = DEFAULT_BLOCK_WINDOW,
    max_pairs_per_record: float = DEFAULT_MAX_PAIRS_PER_RECORD,
) -> Iterator[tuple[Linker, duckdb.DuckDBPyConnection]]:
    """A Linker over `records` (MATCH_COLUMNS), one input data set per source system, and the
    in-memory connection it runs in (holding `match_input`, the records with blocking keys, and
    `blocking_plan`, the keys chosen for these records and the ones left out).

    The settings' blocking rules are replaced by the keys these records' fields allow within
    the comparison budget (`choose_blocking_keys`): a saved model holds weights, and which
    pairs to score is a property of the data at hand.
    """
    con = duckdb.connect()
    # At 1M records Splink's joins spill; an in-memory database spills to ./.tmp by default,
    # which would be the repository or wherever the job was started.
    con.execute("set temp_directory = ?", [str(Path(tempfile.gettempdir()) / "custodian_splink")])
    try:
        con.register("_records", records.select(list(MATCH_COLUMNS)))
        con.execute(
            "create table match_input as "
            + with_blocking_keys_sql(
                "(select *, source_name as source_dataset from _records)",
                max_records_per_block_key,
                block_window,
            )
        )
        con.unregister("_records")
        plan = choose_blocking_keys(con, max_pairs_per_record)
        con.execute(
            "create table blocking_plan (key varchar, pairs bigint, used boolean, reason varchar)"
        )
        con.executemany(
            "insert into blocking_plan values (?, ?, ?, ?)",
            [
                [key.name, plan.pairs_by_key[key.name], key in plan.keys,
                 plan.skipped.get(key.name)]
                for key in BLOCKING_KEYS
            ],
        )  # fmt: skip
        rules = blocking_rule_dicts(plan.keys) or blocking_rule_dicts([BLOCKING_KEYS[0]])
        sources = [
            row[0]
            for row in con.execute(
                "select distinct source_name from match_input order by 1"
            ).fetchall()
        ]
        # Comparison levels and the name guard call it.
        con.execute(NAME_PARTS_DISAGREE_MACRO)
        con.execute(CONSECUTIVE_NUMBERS_MACRO)
        db_api = DuckDBAPI(con)
        frames = []
        for index, source in enumerate(sources):
            table = f"match_input_{index}"
            con.execute(
                f"create table {table} as select * from match_input where source_name = ?",
                [source],
            )
            frames.append(db_api.register(table))
        if isinstance(settings, dict):
            settings = dict(settings)
            # One source (FEBRL3, a fresh deployment) has nothing to link to: dedupe only.
            settings["link_type"] = "link_and_dedupe" if len(frames) > 1 else "dedupe_only"
            settings["blocking_rules_to_generate_predictions"] = rules
        else:
            if len(frames) == 1:
                settings.link_type = "dedupe_only"
            settings.blocking_rules_to_generate_predictions = [
                rule for key in plan.keys for rule in blocking_rules(key)
            ] or blocking_rules(BLOCKING_KEYS[0])
        yield (
            Linker(frames if len(frames) > 1 else frames[0], settings, log_level=logging.WARNING),
            con,
        )
    finally:
        con.close()


@dataclass
class TrainingReport:
    """What training estimated, and everything it had to work around on this data."""

    model: dict
    em_blocks: list[str]
    skipped_em_blocks: list[str]
    positive_labels: int
    m_from_labels: bool
    # "comparison: level" for levels the data never showed, set to no evidence either way.
    neutral_levels: list[str]
    # One sentence per thing training worked around (a level EM drove below float range, a
    # block without pairs, deterministic rules that found nothing, a comparison no block could
    # estimate): printed by `custodian train` and in er/match_model's metadata, never silent.
    warnings: list[str] = field(default_factory=list)
    # How the prior (the probability that two random records match) was estimated.
    prior_source: str = ""
    # The deterministic rules whose pairs gave the prior; empty when none found a pair here.
    prior_rules: list[tuple[str, ...]] = field(default_factory=list)
    # Match columns holding a value on enough records to block or compare on.
    populated_columns: list[str] = field(default_factory=list)


# EM blocks: each leaves the comparisons not on its columns free to be estimated. These are
# used whenever the data fills their columns with enough pairs (FEBRL has no phones: skipped).
EM_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("name_sorted_key", "date_of_birth"),
    ("mobile_phone_e164",),
    ("national_id",),
    ("email_normalised",),
    ("date_of_birth", "postal_code"),
)
# Blocks for data the ones above leave short (no identifiers: names, birth dates and places),
# each added, in this order, only while a comparison whose columns hold values is estimated in
# no block yet. Names and birth dates only: the joined name estimates the birth date, the birth
# date alone the name.
FALLBACK_EM_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("name_sorted_key", "city_key"),
    ("name_sorted_key", "postal_code"),
    ("date_of_birth", "city_key"),
    ("company_name", "name_sorted_key"),
    ("name_joined_key",),
    ("date_of_birth",),
)
MIN_EM_BLOCK_PAIRS = 200
# A larger block is trained on a sample of its pairs (Splink's max_pairs): the birth date alone
# gives ~14M pairs at 1M records.
EM_MAX_PAIRS = 5_000_000
# A column counts as populated when this share of the records (and at least two) has a value:
# a field on three records in a million neither blocks nor decides anything.
POPULATED_MIN_SHARE = 0.01

# Deterministic rules for the prior, in order of trust. The first set with a rule this data
# fills that finds pairs gives it: pairs found / PRIOR_RECALL / all pairs. Data with none of
# them starts EM at 1 / (records - 1) (about one duplicate per record) and takes the prior from
# the EM block expecting the most matches instead (_prior_from_em).
PRIOR_RULE_SETS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (
        ("national_id",),
        ("email_normalised",),
        ("mobile_phone_e164",),
        ("name_sorted_key", "date_of_birth"),
    ),
    (
        ("name_sorted_key", "postal_code"),
        ("name_sorted_key", "city_key"),
        ("name_sorted_key", "street_line"),
    ),
)
PRIOR_RECALL = 0.7
# Never 0 (every log-odds is -inf: "math domain error" in the next daily run) nor near 1 (every
# pair a match).
PRIOR_BOUNDS = (1e-12, 0.5)

# EM drives the m of a level that only non-matches show towards 0, on some data below what a
# float holds (Splink stops: "m_probability value 2.7e-318 is below the minimum allowed
# value"). Such a block is run again stopping one iteration earlier, and an m left below
# COLLAPSED_M (converged EM stays far above it: the demo's smallest is ~1e-21) is set to weight
# COLLAPSED_LEVEL_WEIGHT: strong evidence against, not a veto no other field can outweigh.
COLLAPSED_M = 1e-100
COLLAPSED_LEVEL_WEIGHT = -20
_UNDERFLOW_MESSAGE = "below the minimum allowed value"


def train_model(
    records: pa.Table,
    *,
    labels: pa.Table | None = None,
    seed: int = 42,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
) -> TrainingReport:
    """Estimate the prior from deterministic rules that hold on this data, u by random sampling
    (fixed seed), m by EM over the blocks this data's fields allow, then m from steward labels
    when there are enough of them.

    What the data lacks does not raise: a block without pairs is skipped, a level EM drives out
    of float range is floored, an unestimated prior falls back, each listed in `warnings`.
    Validate the result before it replaces a working model (model_checks.install_model).

    `labels`: (record_key_l, record_key_r, is_match) decisions by stewards.
    """
    warnings: list[str] = []
    populated, prior = _populated_columns_and_prior(records, warnings)
    settings = build_settings()
    settings.probability_two_random_records_match = prior.value
    with splink_linker(records, settings, max_records_per_block_key) as (linker, con):
        training = linker.training
        training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        used, skipped, expected_matches = _estimate_m_by_em(
            linker,
            con,
            populated,
            comparison_columns(linker.misc.save_model_to_json()),
            max_records_per_block_key,
            warnings,
        )
        if not used:
            warnings.append(
                "EM ran on no block (none had enough pairs on this data): m values are "
                "Splink's defaults or neutral, the model is barely trained"
            )
        prior_value, prior_source = prior.value, prior.source
        if not prior.rules:
            prior_value, prior_source = _prior_from_em(
                expected_matches, records.num_rows, prior, warnings
            )
        positives = 0
        from_labels = False
        if labels is not None and labels.num_rows:
            positives = _register_positive_labels(con, labels)
            if positives >= MIN_POSITIVE_LABELS_FOR_M:
                try:
                    training.estimate_m_from_pairwise_labels("steward_labels")
                    from_labels = True
                except (ValueError, ArithmeticError) as exc:
                    warnings.append(f"m from steward labels failed ({_first_line(exc)}); EM's kept")
        model = linker.misc.save_model_to_json()
    warnings += [
        f"{name}: EM drove m below {COLLAPSED_M:g}; set to weight {COLLAPSED_LEVEL_WEIGHT}"
        for name in _floor_collapsed_levels(model)
    ]
    neutral = _neutralise_untrained_levels(model)
    warnings += [
        f"{name}: no EM block on this data leaves it free (each usable block uses its "
        "columns); saved with Splink's default m values, untrained"
        for name in _write_default_m_values(model, populated)
    ]
    warnings += [
        f"{name}: seen by EM but in none of the random pairs; u set to "
        f"{_NEUTRAL_PROBABILITY:g}, Splink's value for an unobserved level"
        for name in _write_unobserved_u_values(model)
    ]
    model["probability_two_random_records_match"] = _bounded_prior(prior_value, warnings)
    implied = _prior_implied_by_predictions(records, model, max_records_per_block_key)
    if implied is not None:
        model["probability_two_random_records_match"] = _bounded_prior(implied, warnings)
        prior_source = (
            f"{prior_source}; refined to {implied:.3g}, the share of matches the model's own "
            "predictions imply over the candidate pairs"
        )
    return TrainingReport(
        model,
        used,
        skipped,
        positives,
        from_labels,
        neutral,
        warnings=warnings,
        prior_source=prior_source,
        prior_rules=list(prior.rules),
        populated_columns=sorted(populated),
    )


def comparison_columns(model: dict) -> dict[str, frozenset[str]]:
    """The input columns each comparison of a model (or its settings) reads, by output name."""
    return {
        comparison["output_column_name"]: frozenset().union(
            *(level_columns(level) for level in comparison["comparison_levels"])
        )
        for comparison in model["comparisons"]
    }


def level_columns(level: dict) -> frozenset[str]:
    """Input columns a comparison level's SQL reads (`col_l`, `col_r`)."""
    return frozenset(re.findall(r'"?(\w+)_[lr]"?\b', level.get("sql_condition", "")))


@dataclass(frozen=True)
class _Prior:
    value: float
    rules: tuple[tuple[str, ...], ...]
    source: str


def _populated_columns_and_prior(
    records: pa.Table, warnings: list[str]
) -> tuple[frozenset[str], _Prior]:
    """The populated match columns, and the prior from the first deterministic rule set that
    finds pairs on them (counted exactly as Splink's estimate does, before the model exists:
    Splink sets a prior of 0 when its rules find nothing)."""
    con = duckdb.connect()
    try:
        con.register("records", records.select(list(MATCH_COLUMNS)))
        count = records.num_rows
        filled = con.execute(
            "select " + ", ".join(f"count({column})" for column in MATCH_COLUMNS) + " from records"
        ).fetchone()
        values_by_column = dict(zip(MATCH_COLUMNS, filled, strict=True))
        populated = frozenset(
            column
            for column, values in values_by_column.items()
            if values >= max(2, POPULATED_MIN_SHARE * count)
        )
        # A rule counts whatever pairs it finds, however few records hold its columns.
        present = frozenset(column for column, values in values_by_column.items() if values >= 2)
        all_pairs = max(count * (count - 1) // 2, 1)
        for rule_set in PRIOR_RULE_SETS:
            rules = tuple(rule for rule in rule_set if set(rule) <= present)
            if not rules:
                continue
            names = ", ".join("+".join(rule) for rule in rules)
            found = _pairs_agreeing_on_any(con, rules)
            if not found:
                warnings.append(
                    f"prior: no two records agree on {names} (deterministic rules found no "
                    "matches); trying other rules"
                )
                continue
            return populated, _Prior(
                _bounded_prior(found / PRIOR_RECALL / all_pairs, warnings),
                rules,
                f"deterministic rules {names}: {found:,} of {all_pairs:,} pairs agree, "
                f"assumed recall {PRIOR_RECALL}",
            )
    finally:
        con.close()
    start = _bounded_prior(1 / max(count - 1, 1), warnings)
    warnings.append(
        "prior: no deterministic rule found a pair on this data; EM starts at "
        f"1 / (records - 1) = {start:.3g} and its estimate is used"
    )
    return populated, _Prior(start, (), f"no deterministic rule applies; EM started at {start:.3g}")


def _pairs_agreeing_on_any(
    con: duckdb.DuckDBPyConnection, rules: tuple[tuple[str, ...], ...]
) -> int:
    """Distinct pairs of records agreeing on at least one rule (all its columns non-null), by
    inclusion-exclusion over the rules' combinations: group counts, no pair is materialised."""
    total = 0
    for size in range(1, len(rules) + 1):
        for subset in itertools.combinations(rules, size):
            columns = tuple(sorted({column for rule in subset for column in rule}))
            total += (-1) ** (size + 1) * pairs_sharing(con, "records", columns)
    return total


def pairs_sharing(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: tuple[str, ...],
    max_records_per_value: int | None = None,
) -> int:
    """Pairs of rows of `relation` equal on all `columns` (none null); with
    `max_records_per_value`, values shared more widely (a placeholder) count none."""
    present = " and ".join(f"{column} is not null" for column in columns)
    within = "" if max_records_per_value is None else f"where n <= {int(max_records_per_value)}"
    return con.execute(
        f"""
        select coalesce(sum(n * (n - 1) // 2), 0) from (
            select count(*) as n from {relation} where {present} group by {", ".join(columns)}
        ) {within}
        """
    ).fetchone()[0]


def _estimate_m_by_em(
    linker: Linker,
    con: duckdb.DuckDBPyConnection,
    populated: frozenset[str],
    columns_by_comparison: dict[str, frozenset[str]],
    max_records_per_block_key: int,
    warnings: list[str],
) -> tuple[list[str], list[str], dict[str, float]]:
    """EM over EM_BLOCKS that have pairs here, then FALLBACK_EM_BLOCKS while a populated
    comparison is estimated in none. Returns the blocks used, the skipped ones, and per used
    block the matching pairs EM expects in it (its pairs x its final match share)."""
    to_estimate = {name for name, columns in columns_by_comparison.items() if columns & populated}

    def freed(block: tuple[str, ...]) -> set[str]:
        return {name for name in to_estimate if not columns_by_comparison[name] & set(block)}

    used: list[str] = []
    skipped: list[str] = []
    expected_matches: dict[str, float] = {}
    estimated: set[str] = set()
    candidates = [(block, False) for block in EM_BLOCKS]
    candidates += [(block, True) for block in FALLBACK_EM_BLOCKS]
    for block, is_fallback in candidates:
        label = "+".join(block)
        if is_fallback and (not freed(block) - estimated or not set(block) <= populated):
            continue
        pairs = _block_pair_count(con, block, max_records_per_block_key)
        if pairs < MIN_EM_BLOCK_PAIRS:
            skipped.append(f"{label} ({pairs} pairs)")
            continue
        match_share = _expectation_maximisation(linker, block, pairs, warnings)
        if match_share is None:
            skipped.append(f"{label} (EM failed)")
            continue
        used.append(label)
        estimated |= freed(block)
        expected_matches[label] = pairs * match_share
    return used, skipped, expected_matches


@dataclass(frozen=True)
class _Underflow:
    comparison: str | None
    level: str | None
    iteration: int | None


def _expectation_maximisation(
    linker: Linker, block: tuple[str, ...], pairs: int, warnings: list[str]
) -> float | None:
    """EM on one block: the share of its pairs EM ends up calling matches (NaN when Splink does
    not say), or None when the block was skipped. An m driven below float range is met by
    running the block again one iteration short; other failures skip the block."""
    from splink.internals.exceptions import EMTrainingException

    label = "+".join(block)

    def run() -> float:
        session = linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*block),
            estimate_without_term_frequencies=True,
            max_pairs=EM_MAX_PAIRS if pairs > EM_MAX_PAIRS else None,
        )
        share = getattr(
            getattr(session, "core_model_settings", None),
            "probability_two_random_records_match",
            None,
        )
        return float(share) if isinstance(share, float | int) else math.nan

    try:
        return run()
    except EMTrainingException:
        warnings.append(f"EM block {label}: no record pairs to train on; skipped")
        return None
    except (ValueError, ArithmeticError) as exc:
        if _UNDERFLOW_MESSAGE not in str(exc):
            warnings.append(f"EM block {label}: {_first_line(exc)}; skipped")
            return None
        underflow = _underflow_site(exc)
    where = f"{underflow.comparison}: {underflow.level}" if underflow.comparison else "a level"
    # Splink's EM reads its iteration limit (a frozen TrainingSettings) from here on each run.
    settings = getattr(linker, "_settings_obj", None)
    limits = getattr(settings, "training_settings", None)
    if not underflow.iteration or underflow.iteration < 2 or limits is None:
        warnings.append(
            f"EM block {label}: the m of {where} fell below 1e-300 (float underflow); block skipped"
        )
        return None
    settings.training_settings = dataclasses.replace(limits, max_iterations=underflow.iteration - 1)
    try:
        share = run()
    except (EMTrainingException, ValueError, ArithmeticError) as exc:
        warnings.append(
            f"EM block {label}: the m of {where} fell below 1e-300 (float underflow) and "
            f"a shorter run failed too ({_first_line(exc)}); block skipped"
        )
        return None
    finally:
        settings.training_settings = limits
    warnings.append(
        f"EM block {label}: the m of {where} fell below 1e-300 (float underflow) at "
        f"iteration {underflow.iteration}; this block's EM stopped after iteration "
        f"{underflow.iteration - 1}"
    )
    return share


def _underflow_site(exc: BaseException) -> _Underflow:
    """Which level underflowed, at which EM iteration: read from the frames Splink raised in
    (its message names neither); unknown when Splink's internals change."""
    comparison = level = iteration = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        local = frame.f_locals
        if frame.f_code.co_name == "expectation_maximisation":
            iteration = local.get("i") if isinstance(local.get("i"), int) else None
        elif frame.f_code.co_name == "populate_m_u_from_lookup":
            comparison = local.get("output_column_name")
            level = getattr(local.get("comparison_level"), "label_for_charts", None)
    return _Underflow(comparison, level, iteration)


def _prior_from_em(
    expected_matches: dict[str, float], records: int, start: _Prior, warnings: list[str]
) -> tuple[float, str]:
    """For data where no deterministic rule found a pair: the EM block expecting the most
    matching pairs stands in for the rules (its matches / PRIOR_RECALL / all pairs), EM's match
    share discounting the strangers a block holds. Splink's own derivation reverses each
    block's share by its blocking rule's levels, and leaves it unreversed (too high by orders
    of magnitude) when a block's columns have no exact-match level, as the birth date's has not.
    """
    usable = {
        label: count
        for label, count in expected_matches.items()
        if math.isfinite(count) and count > 0
    }
    if not usable:
        warnings.append(
            f"prior: EM gave no estimate either; kept the start {start.value:.3g} "
            "(about one duplicate per record)"
        )
        return start.value, start.source
    label = max(usable, key=usable.__getitem__)
    all_pairs = max(records * (records - 1) // 2, 1)
    value = _bounded_prior(usable[label] / PRIOR_RECALL / all_pairs, warnings)
    return value, (
        f"EM (no deterministic rule found a pair): {usable[label]:,.0f} matching pairs expected "
        f"in block {label}, assumed recall {PRIOR_RECALL}"
    )


# The fixed point is sought over pairs scored at least this likely at the starting prior:
# fainter ones add nothing measurable to the expected matches.
_IMPLIED_PRIOR_FLOOR = 1e-4
_IMPLIED_PRIOR_ITERATIONS = 100


def _prior_implied_by_predictions(
    records: pa.Table, model: dict, max_records_per_block_key: int
) -> float | None:
    """The prior at which the model agrees with itself: lambda = (expected matching pairs among
    the candidate pairs, each at its probability under lambda) / all pairs, iterated to its
    fixed point with m and u held (EM for the prior alone).

    The deterministic rules' estimate assumes they find PRIOR_RECALL of the matches; on data
    whose duplicates mostly differ in the rules' fields (typos in names and birth dates) they
    find a fifth, and the prior is several times too low for any pair without an identifier to
    reach auto-link. None when no pair is scored (nothing to learn from).
    """
    start = model["probability_two_random_records_match"]
    with splink_linker(records, model, max_records_per_block_key) as (linker, con):
        predictions = linker.inference.predict(threshold_match_probability=_IMPLIED_PRIOR_FLOOR)
        weights = con.execute(
            f"select match_weight from {predictions.physical_name}"
        ).fetchnumpy()["match_weight"]
    if not len(weights):
        return None
    # The evidence of each pair, without the prior: log2 of its Bayes factor.
    evidence = np.asarray(weights, dtype=float) - math.log2(start / (1 - start))
    all_pairs = max(records.num_rows * (records.num_rows - 1) // 2, 1)
    prior = start
    for _ in range(_IMPLIED_PRIOR_ITERATIONS):
        odds = evidence + math.log2(prior / (1 - prior))
        expected = float(np.sum(1.0 / (1.0 + np.exp2(-np.clip(odds, -60, 60)))))
        updated = min(max(expected / all_pairs, PRIOR_BOUNDS[0]), PRIOR_BOUNDS[1])
        if abs(math.log(updated / prior)) < 1e-6:
            return updated
        prior = updated
    return prior


def _bounded_prior(value: float, warnings: list[str]) -> float:
    low, high = PRIOR_BOUNDS
    if isinstance(value, float | int) and math.isfinite(value) and low <= value <= high:
        return float(value)
    bounded = high if isinstance(value, float | int) and value > high else low
    shown = f"{value:.3g}" if isinstance(value, float | int) else repr(value)
    warnings.append(f"prior: estimate {shown} is outside [{low:g}, {high:g}]; set to {bounded:g}")
    return bounded


def _floor_collapsed_levels(model: dict) -> list[str]:
    """Levels whose m EM drove below COLLAPSED_M get weight COLLAPSED_LEVEL_WEIGHT (in place)."""
    floored = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or not isinstance(m, float | int) or m >= COLLAPSED_M:
                continue
            if isinstance(u, float | int) and u > 0:
                level["m_probability"] = u * 2.0**COLLAPSED_LEVEL_WEIGHT
            else:
                level["m_probability"] = level["u_probability"] = _NEUTRAL_PROBABILITY
            floored.append(f"{comparison['output_column_name']}: {level['label_for_charts']}")
    return floored


def _write_default_m_values(model: dict, populated: frozenset[str]) -> list[str]:
    """Write Splink's defaults (0.95 for the first level, the other 0.05 shared) into levels
    still without an m: a comparison EM never ran on, which Splink would predict with anyway.
    Written out, the saved model says what it predicts with and each level can be checked.
    Returns the comparisons whose columns hold values here (the others are merely empty)."""
    defaulted = []
    for comparison in model["comparisons"]:
        levels = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        untrained = [level for level in levels if level.get("m_probability") in _UNTRAINED]
        if not untrained:
            continue
        for position, level in enumerate(levels):
            if any(level is other for other in untrained):
                level["m_probability"] = 0.95 if position == 0 else 0.05 / (len(levels) - 1)
        name = comparison["output_column_name"]
        if comparison_columns({"comparisons": [comparison]})[name] & populated:
            defaulted.append(name)
    return defaulted


def _write_unobserved_u_values(model: dict) -> list[str]:
    """A level EM saw among matches that the random sample (2M pairs) never showed has no u;
    write Splink's value for an unobserved level rather than leave its default spread."""
    written = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level") or level.get("u_probability") not in _UNTRAINED:
                continue
            level["u_probability"] = _NEUTRAL_PROBABILITY
            written.append(f"{comparison['output_column_name']}: {level['label_for_charts']}")
    return written


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


# Splink leaves an m or u it could not estimate unset (or "level not observed") and predicts
# with its own spread of defaults: an arbitrary weight, which for a rare level (a one-keystroke
# phone, a street without its house number) can be worse than "all other comparisons". A level
# the training never showed, in the random sample or in EM among its comparison's other levels,
# is evidence neither way: m = u. A comparison EM never ran on at all (too few pairs in every
# block) keeps Splink's defaults, its designed fallback for an untrained comparison.
_UNTRAINED = (None, "level not observed")
_NEUTRAL_PROBABILITY = 1e-6


def _neutralise_untrained_levels(model: dict) -> list[str]:
    """Give the levels training never showed the weight 0 (in place); list them."""
    neutralised = []
    for comparison in model["comparisons"]:
        levels = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        em_ran = any(level.get("m_probability") not in _UNTRAINED for level in levels)
        for level in levels:
            m, u = level.get("m_probability"), level.get("u_probability")
            if m not in _UNTRAINED or not (em_ran or u in _UNTRAINED):
                continue
            level["m_probability"] = level["u_probability"] = (
                u if u not in _UNTRAINED else _NEUTRAL_PROBABILITY
            )
            neutralised.append(f"{comparison['output_column_name']}: {level['label_for_charts']}")
    return neutralised


def _block_pair_count(
    con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], max_records_per_block_key: int
) -> int:
    """Pairs sharing all of `columns` in `match_input`, values within the comparison budget."""
    return pairs_sharing(con, "match_input", columns, max_records_per_block_key)


def _register_positive_labels(con: duckdb.DuckDBPyConnection, labels: pa.Table) -> int:
    """Splink's m-from-labels treats every labelled pair as a match: pass the positives only."""
    con.register("_labels", labels)
    con.execute(
        """
        create or replace table steward_labels as
        select l.source_dataset as source_dataset_l, labels.record_key_l as record_key_l,
               r.source_dataset as source_dataset_r, labels.record_key_r as record_key_r
        from _labels as labels
        join match_input as l on l.record_key = labels.record_key_l
        join match_input as r on r.record_key = labels.record_key_r
        where labels.is_match
        """
    )
    con.unregister("_labels")
    return con.execute("select count(*) from steward_labels").fetchone()[0]


def save_model(model: dict, path: Path) -> None:
    """Write the model as JSON, atomically: a reader (the daily run) finds the previous file or
    this one whole, never half of it. Validate first (model_checks.install_model)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.writing")
    try:
        temporary.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class ModelError(RuntimeError):
    """The saved model is missing, unreadable or does not fit the match columns, or a new one
    failed validation; retraining (on more or other data) fixes it."""


def model_parameter_problems(model: dict, *, complete: bool = False) -> list[str]:
    """Parameters Splink cannot predict with: a prior outside (0, 1) (0 is the "math domain
    error" of a run), an m or u outside (0, 1]. With `complete`, a level without m or u
    (Splink would use its default) is a problem too: a newly trained model states them all."""
    problems = []
    prior = model.get("probability_two_random_records_match")
    if not _is_probability(prior) or prior >= 1:
        problems.append(f"prior (probability_two_random_records_match) {prior!r} not in (0, 1)")
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            for parameter in ("m_probability", "u_probability"):
                value = level.get(parameter)
                if value is None and not complete:
                    continue
                if not _is_probability(value):
                    problems.append(
                        f"{comparison.get('output_column_name')}: "
                        f"{level.get('label_for_charts', level.get('sql_condition'))}: "
                        f"{parameter} {value!r} not in (0, 1]"
                    )
    return problems


def _is_probability(value: object) -> bool:
    return (
        isinstance(value, float | int)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= 1
    )


def load_model(path: Path) -> dict:
    if not path.is_file():
        raise ModelError(
            f"no match model at {path}. Train one with `custodian train` (or the "
            "retrain_match_model job in Dagster), which writes it there."
        )
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"the match model at {path} is not valid JSON ({exc}). Restore it from version "
            "control or retrain it with `custodian train`."
        ) from None
    known = set(MATCH_COLUMNS) | {column for key in BLOCKING_KEYS for column in block_columns(key)}
    used = _columns_referenced(model)
    unknown = sorted(used - known)
    if unknown:
        raise ModelError(
            f"the match model at {path} compares columns matching no longer provides "
            f"({', '.join(unknown)}). Retrain it with `custodian train`."
        )
    problems = model_parameter_problems(model)
    if problems:
        raise ModelError(
            f"the match model at {path} cannot score pairs: {'; '.join(problems[:5])}. Restore "
            "it from version control or retrain it with `custodian train`."
        )
    return model


def _columns_referenced(model: dict) -> set[str]:
    """Input columns a saved model reads: `l.col` in blocking rules, `col_l` in comparisons."""
    columns = set()
    for rule in model.get("blocking_rules_to_generate_predictions", []):
        text = rule["blocking_rule"] if isinstance(rule, dict) else str(rule)
        columns.update(re.findall(r'\b[lr]\."?(\w+)"?', text))
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            columns.update(re.findall(r'"?(\w+)_[lr]"?\b', level.get("sql_condition", "")))
    return columns


# Two full names whose differing parts are not typos of each other (陈薇 / 陈梓蕾, Tracey / Victor
# Cross) are different people far more often than the model's weights say: relatives live at
# one address, share a landline and a surname, and those agreements are not independent as
# Fellegi-Sunter assumes. Such a pair is never linked automatically; when it scores in the review
# band or above, a steward decides (a married name change lands here too). The parts one name has
# and the other lacks must each have a look-alike (Jaro-Winkler >= 0.85: JNIZE/JINZE, LAN/LANN)
# on the other side; a name that only adds parts (HANS NOHLMANS / HANS OTTO NOHLMANS) agrees.
NAME_PARTS_DISAGREE_MACRO = """
create or replace macro name_parts_disagree(left_tokens, right_tokens) as (
    len(list_filter(left_tokens, part -> not list_contains(right_tokens, part))) > 0
    and len(list_filter(right_tokens, part -> not list_contains(left_tokens, part))) > 0
    and len(list_filter(
        list_filter(left_tokens, part -> not list_contains(right_tokens, part)),
        own -> len(list_filter(
            list_filter(right_tokens, part -> not list_contains(left_tokens, part)),
            other -> jaro_winkler_similarity(own, other) >= 0.85
        )) = 0
    )) > 0
)
"""
# Two identifiers that differ only in a last digit one apart: issued one after the other.
CONSECUTIVE_NUMBERS_MACRO = """
create or replace macro consecutive_numbers(left_id, right_id) as (
    length(left_id) = length(right_id)
    and left(left_id, -1) = left(right_id, -1)
    and abs(ascii(right(left_id, 1)) - ascii(right(right_id, 1))) = 1
)
"""
NAME_CONFLICT_SQL = """coalesce(
    len(l.name_tokens) > 1 and len(r.name_tokens) > 1
    -- An initial (Cristina H.) agrees with any name starting with it: no conflict.
    and len(list_filter(l.name_tokens || r.name_tokens, token -> length(token) = 1)) = 0
    and not coalesce(l.name_original_script = r.name_original_script, false)
    and not coalesce(jaro_winkler_similarity(l.name_joined_key, r.name_joined_key) >= 0.8, false)
    and name_parts_disagree(l.name_tokens, r.name_tokens)
    -- One ID card is one person, whatever the name field says; so is a number one keystroke
    -- off (a valid Chinese ID never is: its check character catches any one edit), unless it
    -- is the next number in a series (family passports issued together). Numbers the Chinese
    -- ID check rejects count too: a foreign ID or a social security number is no less an ID.
    and not coalesce(damerau_levenshtein(l.national_id_any, r.national_id_any) <= 1
        and not consecutive_numbers(l.national_id_any, r.national_id_any), false),
    false)"""


def predict_pairs(
    records: pa.Table,
    model: dict,
    *,
    review_threshold: float,
    auto_link_threshold: float,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    review_name_conflicts: bool = True,
    block_window: int = DEFAULT_BLOCK_WINDOW,
    max_pairs_per_record: float = DEFAULT_MAX_PAIRS_PER_RECORD,
    blocking_plan: list[dict] | None = None,
    estimates: dict | None = None,
) -> pa.Table:
    """Score candidate pairs; keep those at or above `review_threshold`.

    `estimates`, when given, receives the precision and recall the model expects at the
    thresholds (`expected_accuracy`).

    `blocking_plan`, when given, receives one row per blocking key: its pairs, whether it was
    used and why not (for the run's metadata).

    Returns record_key_l, record_key_r, match_weight, match_probability, is_auto_linked,
    has_name_conflict and, for pairs not linked automatically (the ones a steward reviews),
    `match_explanation`: the waterfall, a list of (comparison, level, match_weight) in model
    order. With `review_name_conflicts` (the default) a pair whose full names conflict is never
    auto-linked; without it, the probability alone decides (for data without households, where
    a different given name is an error rather than a relative).
    """
    with splink_linker(
        records,
        model,
        max_records_per_block_key,
        block_window=block_window,
        max_pairs_per_record=max_pairs_per_record,
    ) as (linker, con):
        if blocking_plan is not None:
            cursor = con.execute("select * from blocking_plan")
            names = [column[0] for column in cursor.description]
            blocking_plan.extend(dict(zip(names, row, strict=True)) for row in cursor.fetchall())
        floor = min(review_threshold, ESTIMATE_FLOOR)
        predictions = linker.inference.predict(threshold_match_probability=floor)
        if estimates is not None:
            estimates.update(
                expected_accuracy(
                    con, predictions.physical_name, review_threshold, auto_link_threshold
                )
            )
        explanation = _explanation_sql(model)
        return con.execute(
            f"""
            with scored as (
                select
                    least(p.record_key_l, p.record_key_r) as record_key_l,
                    greatest(p.record_key_l, p.record_key_r) as record_key_r,
                    p.match_weight,
                    p.match_probability,
                    {NAME_CONFLICT_SQL} as has_name_conflict,
                    {explanation} as explanation
                from {predictions.physical_name} as p
                join match_input as l on l.record_key = p.record_key_l
                join match_input as r on r.record_key = p.record_key_r
                where p.match_probability >= ?
            )
            select
                record_key_l,
                record_key_r,
                match_weight,
                match_probability,
                match_probability >= ? and not (? and has_name_conflict) as is_auto_linked,
                has_name_conflict,
                case when not is_auto_linked then explanation end as match_explanation
            from scored
            """,
            [review_threshold, auto_link_threshold, review_name_conflicts],
        ).to_arrow_table()


# Pairs are scored down to this probability so the share of the likely links the thresholds
# keep can be estimated; only those at or above the review threshold are returned.
ESTIMATE_FLOOR = 0.05


def expected_accuracy(
    con: duckdb.DuckDBPyConnection, predictions: str, review_threshold: float, auto_link: float
) -> dict[str, float | int | None]:
    """What the model expects of its own thresholds, from its probabilities alone.

    A pair scored p is a true link with probability p if the model is calibrated, so the links
    auto-linking makes are expected to be right mean(p) of the time, and of all the links the
    scored pairs hold (sum of p, pairs below ESTIMATE_FLOOR ignored) auto-linking keeps its
    share. As right as the model's calibration; steward decisions measure it independently.
    """
    row = con.execute(
        f"""
        select
            sum(match_probability),
            avg(match_probability) filter (where match_probability >= {auto_link}),
            sum(match_probability) filter (where match_probability >= {auto_link}),
            sum(match_probability) filter (where match_probability >= {review_threshold}),
            count(*) filter (where match_probability >= {auto_link})
        from {predictions}
        """
    ).fetchone()
    expected_links, precision, auto_mass, review_mass, auto_pairs = row

    def share(part: float | None) -> float:
        return round(part / expected_links, 4) if expected_links and part else 0.0

    return {
        "expected_links": round(expected_links or 0.0, 1),
        "auto_linked_pairs": int(auto_pairs or 0),
        "expected_precision_at_auto_link": round(precision, 4) if precision is not None else None,
        "expected_recall_at_auto_link": share(auto_mass),
        "expected_recall_with_review": share(review_mass),
    }


def _explanation_sql(model: dict) -> str:
    """The waterfall per pair from Splink's mw_ (and mw_tf_adj_) columns.

    Splink 5 keeps each comparison's match weight but not its level, so the level is read back
    from the weight: each level's weight is log2(m / u) in the model.
    """
    items = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        cases = []
        for level in comparison["comparison_levels"]:
            label = _sql_text(level.get("label_for_charts", ""))
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            if m and u:
                cases.append(f"when abs(mw_{name} - {math.log2(m / u)!r}) < 1e-9 then '{label}'")
        has_tf = any(level.get("tf_adjustment_column") for level in comparison["comparison_levels"])
        weight = f"mw_{name}" + (f" + coalesce(mw_tf_adj_{name}, 0)" if has_tf else "")
        level_sql = f"case when mw_{name} = 0 then 'Null or no evidence' {' '.join(cases)} end"
        items.append(
            f"{{'comparison': '{name}', 'level': {level_sql}, 'match_weight': round({weight}, 2)}}"
        )
    return "[" + ", ".join(items) + "]"


def _sql_text(text: str) -> str:
    return text.replace("'", "''")
