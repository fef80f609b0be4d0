"""The Splink model for customer records: match input, the linker, pair scoring and model files.

Splink runs in its own in-memory DuckDB, so its many intermediate `__splink__*` tables never land
in the warehouse file; only results are written back (lib/resolve/resolver.py).

The model links and de-duplicates across sources (`link_and_dedupe`: each source system is one
input data set). Which pairs are compared is blocking.py's, how they are compared
comparisons.py's, and how the model is trained estimation.py's; this module puts them together
for one set of records (splink_linker), scores pairs with a saved model (predict_pairs), and
reads and writes model files (load_model, save_model).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator

from dagster_project.lib.resolve.blocking import (
    BLOCKING_KEYS,
    CHANGED_COLUMN,
    DEFAULT_BLOCK_WINDOW,
    DEFAULT_MAX_PAIRS_PER_RECORD,
    DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    block_columns,
    blocking_rule_dicts,
    blocking_rules,
    choose_blocking_keys,
    with_blocking_keys_sql,
)
from dagster_project.lib.resolve.comparisons import (
    CONSECUTIVE_NUMBERS_MACRO,
    NAME_CONFLICT_SQL,
    NAME_PARTS_DISAGREE_MACRO,
)
from dagster_project.lib.warehouse import scratch_connection

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


@contextmanager
def splink_linker(
    records: pa.Table,
    settings: SettingsCreator | dict,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    *,
    block_window: int = DEFAULT_BLOCK_WINDOW,
    max_pairs_per_record: float = DEFAULT_MAX_PAIRS_PER_RECORD,
    sampled_pairs_rule: dict | None = None,
    model_fits_data: bool = True,
    changed_keys: pa.Array | None = None,
) -> Iterator[tuple[Linker, duckdb.DuckDBPyConnection]]:
    """A Linker over `records` (MATCH_COLUMNS), one input data set per source system, and the
    in-memory connection it runs in (holding `match_input`, the records with blocking keys, and
    `blocking_plan`, the keys chosen for these records and the ones left out).

    The settings' blocking rules are replaced by the keys these records' fields allow within
    the comparison budget (`choose_blocking_keys`): a saved model holds weights, and which
    pairs to score is a property of the data at hand. `sampled_pairs_rule` (a Splink rule
    dict) replaces those keys where a caller wants other pairs (a random sample, in training).
    `model_fits_data` is False for a model trained on other data (the shipped demo model on a
    new deployment's records): value frequencies are then this data's own, not scaled to the
    model's u (`_register_content_term_frequencies`). `changed_keys` (record keys): only the
    pairs with at least one of these records are scored; blocking keys, windows and value
    frequencies are still those of all the records, as in a run that scores every pair.
    """
    # At 1M records Splink's joins spill: into an encrypted spill folder, not ./.tmp.
    con = scratch_connection()
    try:
        con.register("_records", records.select(list(MATCH_COLUMNS)))
        changed = "false"
        if changed_keys is not None:
            con.register("_changed", pa.table({"record_key": changed_keys}))
            changed = "record_key in (select record_key from _changed)"
        con.execute(
            "create table match_input as "
            + with_blocking_keys_sql(
                f"(select *, source_name as source_dataset, {changed} as {CHANGED_COLUMN} "
                "from _records)",
                max_records_per_block_key,
                block_window,
            )
        )
        con.unregister("_records")
        if changed_keys is not None:
            con.unregister("_changed")
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
        rules = (
            ([sampled_pairs_rule] if sampled_pairs_rule else [])
            or blocking_rule_dicts(plan.keys, only_changed=changed_keys is not None)
            or blocking_rule_dicts([BLOCKING_KEYS[0]], only_changed=changed_keys is not None)
        )
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
            settings.blocking_rules_to_generate_predictions = (
                ([sampled_pairs_rule] if sampled_pairs_rule else [])
                or [rule for key in plan.keys for rule in blocking_rules(key)]
                or blocking_rules(BLOCKING_KEYS[0])
            )
        linker = Linker(
            frames if len(frames) > 1 else frames[0], settings, log_level=logging.WARNING
        )
        _register_content_term_frequencies(linker, con, db_api, scale_to_model_u=model_fits_data)
        yield linker, con
    finally:
        con.close()


# What a record says, for counting how common a value is: everything matching reads but the
# record's own identity.
_CONTENT_COLUMNS = tuple(c for c in MATCH_COLUMNS if c not in ("record_key", "source_name"))


# How far the model's u may move a value's frequency from its share of these records (a factor
# of 2, one bit of weight): see _register_content_term_frequencies.
TF_SCALE_BOUND = 2.0


def _register_content_term_frequencies(
    linker: Linker,
    con: duckdb.DuckDBPyConnection,
    db_api: DuckDBAPI,
    *,
    scale_to_model_u: bool = True,
) -> None:
    """Term frequencies that say how much more (or less) common a value is than the typical one,
    counted over distinct record contents.

    Splink scores agreement on value v at m / tf(v), tf(v) being v's share of the records. Two
    things bias that low on customer data, and both showed in the panel (bench/results/panel.json):
    - Copies count. A customer re-entered 300 times as KAREN SMITH at MILLER-MCKENZIE made her
      own name, city and employer the commonest values: an exact copy of her scored 0.30.
      Copies that agree on every field matching reads count once here.
    - tf(v) is a share of the records holding the column, while the level's u is a share of all
      pairs compared on the comparison: a Chinese name in the original script is held by half
      the records, so every such name scored as if twice as common as it is, and a register's
      迟安德 with a day and month swapped stayed below auto-link.
    So each value's frequency is scaled by the level's u over the frequencies' own average
    (tf'(v) = u * f(v) / sum(f^2)): a value as common as the typical one agreeing scores the
    level's weight, a commoner one (王伟, a switchboard number) less, a rarer one more.

    Within one bit (the factor u / sum(f^2) bounded to [1/2, 2], TF_SCALE_BOUND): the holders'
    correction above is a factor of 2, and where the model's u is further from these records'
    own chance agreement the records are not what it was fit on. Unbounded, at 1,000,000 demo
    records (bench/bench_resolution.py) the factor was 0.2 for names in the original
    script; 陈女士 (a caller's surname and title, 0.4% of the contents) agreeing then outweighed
    a disagreeing phone, and one caller with a short phone number chained 97 records of
    different women named Chen, past the golden gate's bound of 50.

    That holds only where the level's u was estimated on data like this. The shipped demo
    model's u for "same name" (3e-5, 20,000 people with varied Chinese names) applied to a shop
    whose 160 customers share 80 German names made every namesake a near-certain match, and
    halved the shop's customers. For a model trained elsewhere (`scale_to_model_u` False) each
    value scores at its own share of these records' distinct contents, as Splink's default does
    over records.
    """
    model = linker.misc.save_model_to_json()
    level_u: dict[str, float] = {}
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            column, u = level.get("tf_adjustment_column"), level.get("u_probability")
            if column and column not in level_u and isinstance(u, float | int) and u > 0:
                level_u[column] = float(u)
    if not level_u:
        return
    content = ", ".join(_CONTENT_COLUMNS)
    con.execute(
        f"create or replace temp table _record_contents as "
        f"select distinct {content} from match_input"
    )
    # The model's u over these records' own chance agreement, within a bit either way.
    factor = (
        f"greatest(least(? / sum(share * share) over (), {TF_SCALE_BOUND}), {1 / TF_SCALE_BOUND})"
    )
    scaled = f"least(share * {factor}, 1.0)"
    for column, u in sorted(level_u.items()):
        table = f"_content_tf_{column}"
        con.execute(
            f"""
            create or replace table {table} as
            with shares as (
                select {column}, count(*) / sum(count(*)) over () as share
                from _record_contents where {column} is not null group by {column}
            )
            select {column}, {scaled if scale_to_model_u else "share"} as tf_{column}
            from shares
            """,
            [u] if scale_to_model_u else [],
        )
        linker.table_management.register_term_frequency_lookup(db_api.register(table), column)


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
    model_fits_data: bool = True,
    changed_keys: pa.Array | None = None,
) -> pa.Table:
    """Score candidate pairs; keep those at or above `review_threshold`.

    `changed_keys`: score only the pairs with at least one of these records (an incremental
    run; see `splink_linker`); `estimates` are then left empty, as the pairs are not a sample.

    `model_fits_data`: False when the model was trained on other data (see `splink_linker`).

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
        model_fits_data=model_fits_data,
        changed_keys=changed_keys,
    ) as (linker, con):
        if blocking_plan is not None:
            cursor = con.execute("select * from blocking_plan")
            names = [column[0] for column in cursor.description]
            blocking_plan.extend(dict(zip(names, row, strict=True)) for row in cursor.fetchall())
        floor = min(review_threshold, ESTIMATE_FLOOR)
        predictions = linker.inference.predict(threshold_match_probability=floor)
        if estimates is not None and changed_keys is None:
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
