"""The model's comparisons: how two records are compared, field by field, and the untrained
settings that put them together with the blocking keys (build_settings).

Some comparison levels call DuckDB macros (NAME_PARTS_DISAGREE_MACRO, CONSECUTIVE_NUMBERS_MACRO)
that the connection Splink runs in must define (splink_model.splink_linker creates them). The
name guard predict_pairs applies to scored pairs (NAME_CONFLICT_SQL) uses the same macros and
lives here with them.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator

from dagster_project.lib.resolve.blocking import BLOCKING_KEYS, blocking_rules

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
            # 梁嘉振 / 梁嘉晶: one character of a Chinese name mistyped changes a whole pinyin
            # syllable (JIAZHEN / JIAJING), which the letter-based levels below see as another
            # given name. All but one character shared (DuckDB's levenshtein counts UTF-8 bytes,
            # so characters are compared as lists), at least two, so a surname alone never is.
            cll.CustomLevel(
                "length(name_original_script_l) >= 3 and length(name_original_script_r) >= 3 "
                "and len(list_intersect(string_split(name_original_script_l, ''), "
                "string_split(name_original_script_r, ''))) "
                ">= greatest(length(name_original_script_l), length(name_original_script_r)) - 1",
                label_for_charts="All but one character of the original script",
            ),
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
