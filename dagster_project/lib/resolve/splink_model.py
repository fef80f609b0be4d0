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

import json
import logging
import math
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
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
    "name_token_dob",
    "gender",
    "date_of_birth",
    "national_id",
    "mobile_phone_e164",
    "landline_phone_e164",
    "phone_numbers",
    "phone_tails",
    "email_normalised",
    "street_line",
    "house_number",
    "city_key",
    "admin_division_code",
    "postal_code",
    "company_name",
)

# Blocking keys: pairs are scored when they share one. Each catches matches the others miss (a
# changed phone still shares e-mail, a typo'd e-mail still shares phone, a call-centre record
# with only a surname still shares the phone). Chosen with Splink's blocking analysis
# (`custodian train` charts it): name + birth date as a key of its own added no pair that a name
# part + birth date did not, so it is only an EM training block.
BLOCKING_KEYS: dict[str, tuple[str, ...]] = {
    "phone": ("phone_tails",),
    "name_token_dob": ("name_token_dob",),
    "email": ("email_normalised",),
    "national_id": ("national_id",),
    "name_city": ("name_sorted_key", "city_key"),
    "dob_postcode": ("date_of_birth", "postal_code"),
    "dob_city": ("date_of_birth", "city_key"),
    "street_postcode": ("street_line", "postal_code"),
    "house_postcode": ("house_number", "postal_code"),
    "name_postcode": ("name_sorted_key", "postal_code"),
    "street_city": ("street_line", "city_key"),
}
# Keys over a list column: a record joins one block per element (any phone of one record equal
# to any phone of the other, mobile or landline; any name part with the birth date, which finds
# 周女士 born 1970-07-16 for 周凤妍 born that day).
LIST_BLOCKING_KEYS = frozenset({"phone", "name_token_dob"})
DEFAULT_MAX_RECORDS_PER_BLOCK_KEY = 100

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
                    as given_phones
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
            case when date_of_birth_is_valid is not false and date_of_birth is not null then
                list_transform(name_tokens, token -> token || '|' || date_of_birth)
            end as name_token_dob,
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
            mobile_phone_e164,
            landline_phone_e164,
            -- Either phone of one record may be the other's mobile or landline (call centres
            -- write down whichever number the customer called from).
            nullif(list_distinct(given_phones), []) as phone_numbers,
            -- The last nine digits survive a wrong country code (a German mobile written
            -- without +49 and read as Chinese).
            nullif(list_distinct(list_transform(given_phones, phone -> right(phone, 9))), [])
                as phone_tails,
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


def with_blocking_keys_sql(relation: str, max_records_per_block_key: int) -> str:
    """Add one `block_<name>` column per blocking key, null where the key's value is shared by
    more than `max_records_per_block_key` records (the comparison budget). List keys keep the
    elements within budget."""
    budget = int(max_records_per_block_key)
    scalar_keys, list_ctes, list_joins = [], [], []
    for name, columns in BLOCKING_KEYS.items():
        if name in LIST_BLOCKING_KEYS:
            (column,) = columns
            list_ctes.append(
                f"""{name}_budgeted as (
                    select record_key, list(element order by element) as {block_column(name)}
                    from (
                        select record_key, element
                        from (
                            select record_key, unnest({column}) as element from {relation}
                        )
                        where element is not null
                        qualify count(*) over (partition by element) <= {budget}
                    )
                    group by record_key
                )"""
            )
            list_joins.append(f"left join {name}_budgeted using (record_key)")
            continue
        all_present = " and ".join(f"{column} is not null" for column in columns)
        value = " || '|' || ".join(f"cast({column} as varchar)" for column in columns)
        scalar_keys.append(
            f"case when {all_present} and count(*) over (partition by {', '.join(columns)}) "
            f"<= {budget} then {value} end as {block_column(name)}"
        )
    with_clause = ("with " + ", ".join(list_ctes)) if list_ctes else ""
    return (
        f"{with_clause} select records.*, {', '.join(scalar_keys)}"
        + "".join(f", {block_column(name)}" for name in BLOCKING_KEYS if name in LIST_BLOCKING_KEYS)
        + f" from {relation} as records {' '.join(list_joins)}"
    )


def blocking_rule(name: str):
    column = block_column(name)
    if name in LIST_BLOCKING_KEYS:
        return block_on(column, arrays_to_explode=[column])
    return block_on(column)


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
            cll.NullLevel("phone_numbers"),
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


def build_settings() -> SettingsCreator:
    """The untrained model. The comparison budget is not a setting: it lives in the block_<key>
    columns splink_linker computes (with_blocking_keys_sql)."""
    return SettingsCreator(
        link_type="link_and_dedupe",
        unique_id_column_name="record_key",
        source_dataset_column_name="source_dataset",
        comparisons=[
            name_comparison(),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.ExactMatch("gender"),
            cl.DamerauLevenshteinAtThresholds("national_id", [1]).configure(
                term_frequency_adjustments=True
            ),
            phone_comparison(),
            cl.EmailComparison("email_normalised"),
            street_comparison(),
            locality_comparison(),
            cl.ExactMatch("company_name").configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[blocking_rule(name) for name in BLOCKING_KEYS],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


@contextmanager
def splink_linker(
    records: pa.Table,
    settings: SettingsCreator | dict,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
) -> Iterator[tuple[Linker, duckdb.DuckDBPyConnection]]:
    """A Linker over `records` (MATCH_COLUMNS), one input data set per source system, and the
    in-memory connection it runs in (holding `match_input`, the records with blocking keys)."""
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
            )
        )
        con.unregister("_records")
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
        elif len(frames) == 1:
            settings.link_type = "dedupe_only"
        yield (
            Linker(frames if len(frames) > 1 else frames[0], settings, log_level=logging.WARNING),
            con,
        )
    finally:
        con.close()


@dataclass
class TrainingReport:
    model: dict
    em_blocks: list[str]
    skipped_em_blocks: list[str]
    positive_labels: int
    m_from_labels: bool
    # "comparison: level" for levels the data never showed, set to no evidence either way.
    neutral_levels: list[str]


# EM blocks: each leaves other comparisons free to be estimated; together every comparison is
# estimated in at least one. Blocks with too few pairs (no phones in FEBRL) are skipped.
EM_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("name_sorted_key", "date_of_birth"),
    ("mobile_phone_e164",),
    ("national_id",),
    ("email_normalised",),
    ("date_of_birth", "postal_code"),
)
MIN_EM_BLOCK_PAIRS = 200


def train_model(
    records: pa.Table,
    *,
    labels: pa.Table | None = None,
    seed: int = 42,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
) -> TrainingReport:
    """Estimate u by random sampling (fixed seed), m by EM over several blocks, then m from
    steward labels when there are enough of them.

    `labels`: (record_key_l, record_key_r, is_match) decisions by stewards.
    """
    with splink_linker(records, build_settings(), max_records_per_block_key) as (linker, con):
        training = linker.training
        training.estimate_probability_two_random_records_match(
            [
                block_on("national_id"),
                block_on("email_normalised"),
                block_on("mobile_phone_e164"),
                block_on("name_sorted_key", "date_of_birth"),
            ],
            recall=0.7,
        )
        training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        used, skipped = [], []
        for columns in EM_BLOCKS:
            label = "+".join(columns)
            pairs = _block_pair_count(con, columns, max_records_per_block_key)
            if pairs < MIN_EM_BLOCK_PAIRS:
                skipped.append(f"{label} ({pairs} pairs)")
                continue
            training.estimate_parameters_using_expectation_maximisation(
                block_on(*columns), estimate_without_term_frequencies=True
            )
            used.append(label)
        positives = 0
        from_labels = False
        if labels is not None and labels.num_rows:
            positives = _register_positive_labels(con, labels)
            if positives >= MIN_POSITIVE_LABELS_FOR_M:
                training.estimate_m_from_pairwise_labels("steward_labels")
                from_labels = True
        model = linker.misc.save_model_to_json()
    neutral = _neutralise_untrained_levels(model)
    return TrainingReport(model, used, skipped, positives, from_labels, neutral)


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
    present = " and ".join(f"{column} is not null" for column in columns)
    return con.execute(
        f"""
        select coalesce(sum(n * (n - 1) // 2), 0) from (
            select count(*) as n from match_input where {present}
            group by {", ".join(columns)}
        ) where n <= ?
        """,
        [max_records_per_block_key],
    ).fetchone()[0]


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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class ModelError(RuntimeError):
    """The saved model is missing or does not fit the match columns; retraining fixes it."""


def load_model(path: Path) -> dict:
    if not path.is_file():
        raise ModelError(
            f"no match model at {path}. Train one with `custodian train` (or the "
            "retrain_match_model job in Dagster), which writes it there."
        )
    model = json.loads(path.read_text(encoding="utf-8"))
    known = set(MATCH_COLUMNS) | {block_column(name) for name in BLOCKING_KEYS}
    used = _columns_referenced(model)
    unknown = sorted(used - known)
    if unknown:
        raise ModelError(
            f"the match model at {path} compares columns matching no longer provides "
            f"({', '.join(unknown)}). Retrain it with `custodian train`."
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
    -- is the next number in a series (family passports issued together).
    and not coalesce(damerau_levenshtein(l.national_id, r.national_id) <= 1
        and not consecutive_numbers(l.national_id, r.national_id), false),
    false)"""


def predict_pairs(
    records: pa.Table,
    model: dict,
    *,
    review_threshold: float,
    auto_link_threshold: float,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    review_name_conflicts: bool = True,
) -> pa.Table:
    """Score candidate pairs; keep those at or above `review_threshold`.

    Returns record_key_l, record_key_r, match_weight, match_probability, is_auto_linked,
    has_name_conflict and, for pairs not linked automatically (the ones a steward reviews),
    `match_explanation`: the waterfall, a list of (comparison, level, match_weight) in model
    order. With `review_name_conflicts` (the default) a pair whose full names conflict is never
    auto-linked; without it, the probability alone decides (for data without households, where
    a different given name is an error rather than a relative).
    """
    with splink_linker(records, model, max_records_per_block_key) as (linker, con):
        predictions = linker.inference.predict(threshold_match_probability=review_threshold)
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
            [auto_link_threshold, review_name_conflicts],
        ).to_arrow_table()


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
