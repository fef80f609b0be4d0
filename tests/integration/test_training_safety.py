"""Training that cannot break the model: real Splink and DuckDB on small synthetic records unlike
the demo (names and birth dates only; a block where EM drives a level below float range; no
deterministic rule that holds), a model that fails validation leaving the working one byte for
byte, and a new config's daily run using the shipped model until it trains its own."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.defs.resolution.assets import record_clusters
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.resolve.clustering import auto_linked_edges, cluster_records
from dagster_project.lib.resolve.estimation import COLLAPSED_LEVEL_WEIGHT
from dagster_project.lib.resolve.model_checks import (
    SHIPPED_MODEL_PATH,
    ModelValidation,
    ModelValidationError,
    install_model,
    max_match_probability,
    validate_model,
)
from dagster_project.lib.resolve.splink_model import (
    ModelError,
    load_model,
    match_input_sql,
    model_parameter_problems,
    predict_pairs,
)
from dagster_project.lib.resolve.training import TrainingOutcome, train_and_report
from dagster_project.settings import PROJECT_ROOT
from tests.integration.test_resolution import FILLER, RECORDS, write_records
from tests.support.database import open_database

runner = CliRunner()
SOURCE_RELATION = "intermediate.int_customer_records"
MODELS_YML = PROJECT_ROOT / "dbt" / "models" / "intermediate" / "_intermediate__models.yml"

# --- Synthetic records: int_customer_records' columns as its dbt contract types them ----------

SURNAMES = ["SMITH", "JONES", "BROWN", "TAYLOR", "WILSON", "DAVIES", "EVANS", "THOMAS",
            "JOHNSON", "ROBERTS", "WALKER", "WRIGHT", "THOMPSON", "WHITE", "HUGHES", "EDWARDS",
            "GREEN", "HALL", "WOOD", "HARRIS", "LEWIS", "MARTIN", "JACKSON", "CLARKE", "CLARK",
            "TURNER", "HILL", "SCOTT", "COOPER", "MORRIS"]  # fmt: skip
GIVEN = ["JAMES", "JOHN", "ROBERT", "MICHAEL", "WILLIAM", "DAVID", "RICHARD", "JOSEPH", "THOMAS",
         "CHARLES", "MARY", "PATRICIA", "JENNIFER", "LINDA", "ELIZABETH", "BARBARA", "SUSAN",
         "JESSICA", "SARAH", "KAREN", "NANCY", "LISA", "BETTY", "MARGARET", "SANDRA", "ASHLEY",
         "EMILY", "DONNA", "MICHELLE", "CAROL"]  # fmt: skip
CITIES = [f"CITY {i}" for i in range(40)]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def contract_types() -> dict[str, str]:
    models = yaml.safe_load(MODELS_YML.read_text(encoding="utf-8"))["models"]
    model = next(m for m in models if m["name"] == "int_customer_records")
    return {column["name"]: column.get("data_type", "varchar") for column in model["columns"]}


def write_customer_records(con: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """int_customer_records with every contract column, null where a record has no value."""
    types = contract_types()
    con.execute("create schema if not exists intermediate; create schema if not exists er")
    columns = ", ".join(f"{name} {kind}" for name, kind in types.items())
    con.execute(f"create or replace table {SOURCE_RELATION} ({columns})")
    if records:
        con.executemany(
            f"insert into {SOURCE_RELATION} values ({', '.join('?' * len(types))})",
            [[record.get(name) for name in types] for record in records],
        )


def person(key: str, tokens: list[str], **fields) -> dict:
    source, record_id = key.split(":")
    return {
        "record_key": key,
        "source_name": source,
        "source_record_id": record_id,
        "full_name": " ".join(tokens),
        "name_tokens": tokens,
        "name_sorted_key": " ".join(sorted(tokens)),
        "name_joined_key": "".join(tokens),
        **fields,
    }


def birth_date(rng: random.Random) -> str:
    return f"19{rng.randrange(40, 99)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"


def transposed(text: str, rng: random.Random) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def names_and_birth_dates(people: int, seed: int = 1) -> list[dict]:
    """Two systems with nothing but a name and a birth date; half the people in both, some
    with a transposed surname or a birth date a day off."""
    rng = random.Random(seed)
    records = []
    for i in range(people):
        tokens = [rng.choice(GIVEN), rng.choice(SURNAMES)]
        born = birth_date(rng)
        records.append(person(f"crm:{i}", tokens, date_of_birth=born))
        if rng.random() < 0.5:
            other = list(tokens)
            if rng.random() < 0.3:
                other[1] = transposed(other[1], rng)
            if rng.random() < 0.2 and born[-1] != "9":
                born = born[:-1] + str(int(born[-1]) + 1)
            records.append(person(f"web:{i}", other, date_of_birth=born))
    return records


def households_and_a_switchboard(seed: int = 3) -> list[dict]:
    """Families sharing a mobile, a street and a surname, most members also in a second system
    (a few fields dropped or moved), and 40 strangers calling from one switchboard number: in
    the mobile block a birth-date level only the strangers show is driven by EM through 1e-300
    at iteration 15 (Splink: "m_probability value ... is below the minimum allowed value")."""
    rng = random.Random(seed)
    records, number, noise = [], 0, 0.05
    for household in range(50):
        surname = rng.choice(SURNAMES)
        shared = {
            "mobile_phone_e164": f"+86139{household:08d}",
            "city_key": rng.choice(CITIES),
            "street_line": f"{rng.randrange(1, 200)} {rng.choice(SURNAMES)} ROAD",
            "postal_code": f"{rng.randrange(10000, 99999)}",
            "company_name": f"CO {rng.randrange(30)}",
        }
        for _ in range(rng.randrange(2, 5)):
            tokens = [rng.choice(GIVEN), surname]
            fields = dict(shared, date_of_birth=birth_date(rng), gender=rng.choice("MF"))
            fields["email_normalised"] = f"p{number}@example.org"
            fields["national_id"] = f"ID{number:08d}"
            records.append(person(f"crm:{number}", tokens, **fields))
            if rng.random() < 0.7:
                copy, other = dict(fields), list(tokens)
                if rng.random() < noise:
                    copy.pop("email_normalised", None)
                if rng.random() < noise:
                    copy["city_key"] = rng.choice(CITIES)
                    copy["postal_code"] = f"{rng.randrange(10000, 99999)}"
                    copy["street_line"] = "1 NEW ROAD"
                if rng.random() < noise:
                    other[0] = transposed(other[0], rng)
                if rng.random() < noise:
                    copy["date_of_birth"] = None
                if rng.random() < noise:
                    copy["company_name"] = None
                if rng.random() < noise:
                    copy.pop("national_id", None)
                records.append(person(f"web:{number}", other, **copy))
            number += 1
    rng = random.Random(seed)
    for caller in range(40):
        tokens = [rng.choice(GIVEN) + str(caller), rng.choice(SURNAMES) + "0"]
        records.append(
            person(
                f"call:0_{caller}",
                tokens,
                date_of_birth=birth_date(rng),
                mobile_phone_e164="+864000000000",
                gender=rng.choice("MF"),
                city_key=f"TOWN 0_{caller}",
                email_normalised=f"c0_{caller}@x.org",
                street_line=f"{caller} LANE 0",
                postal_code=f"P0{caller}",
                company_name="CALLCO",
            )
        )
    return records


def never_exactly_equal(people: int = 400, seed: int = 5) -> tuple[list[dict], int]:
    """Duplicates that agree on no identifier and no name exactly (a typo in every second
    surname, a new e-mail and mobile), only on birth date, city and postcode: no deterministic
    rule finds a pair. Returns the records and the number of true pairs."""
    rng = random.Random(seed)
    records, pairs = [], 0
    for i in range(people):
        surname = rng.choice(SURNAMES) + LETTERS[i % 26] + LETTERS[i // 26 % 26]
        tokens = [rng.choice(GIVEN), surname]
        born = birth_date(rng)
        place = {"city_key": rng.choice(CITIES), "postal_code": f"{rng.randrange(10000, 99999)}"}
        records.append(
            person(f"crm:{i}", tokens, date_of_birth=born, email_normalised=f"a{i}@example.org",
                   mobile_phone_e164=f"+86139{i:08d}", **place)
        )  # fmt: skip
        if rng.random() < 0.7:
            typo = transposed(surname, rng)
            other = [tokens[0], typo if typo != surname else surname + "E"]
            records.append(
                person(f"web:{i}", other, date_of_birth=born, email_normalised=f"b{i}@example.net",
                       mobile_phone_e164=f"+86138{i:08d}", **place)
            )  # fmt: skip
            pairs += 1
    return records, pairs


def typos_in_most_duplicates(people: int = 600, seed: int = 9) -> tuple[list[dict], int]:
    """Names and birth dates; four in five duplicates carry a typo in one of them, so the rule
    "same name and birth date" finds a fifth of the true pairs, not the 70% its prior assumes.
    Returns the records and the number of true pairs."""
    rng = random.Random(seed)
    records, pairs = [], 0
    for i in range(people):
        tokens = [rng.choice(GIVEN), rng.choice(SURNAMES) + LETTERS[i % 26]]
        born = birth_date(rng)
        records.append(person(f"crm:{i}", tokens, date_of_birth=born))
        if rng.random() < 0.8:
            other, other_born = list(tokens), born
            if rng.random() < 0.8:
                if rng.random() < 0.5:
                    other[1] = other[1] + "E"
                else:
                    other_born = born[:-1] + ("1" if born[-1] != "1" else "2")
            records.append(person(f"web:{i}", other, date_of_birth=other_born))
            pairs += 1
    return records, pairs


def names_places_and_employers(people: int = 500, seed: int = 11) -> list[dict]:
    """A name, a city and an employer, nothing else; some duplicates with a surname typo."""
    rng = random.Random(seed)
    records = []
    for i in range(people):
        tokens = [rng.choice(GIVEN), rng.choice(SURNAMES) + LETTERS[i % 26]]
        place = {"city_key": rng.choice(CITIES), "company_name": f"CO {rng.randrange(60)}"}
        records.append(person(f"crm:{i}", tokens, **place))
        if rng.random() < 0.7:
            other = list(tokens)
            if rng.random() < 0.3:
                other[1] = transposed(other[1], rng)
            records.append(person(f"web:{i}", other, **place))
    return records


# --- Helpers ------------------------------------------------------------------------------------


def train(tmp_path: Path, records: list[dict], **options) -> TrainingOutcome:
    con = open_database(tmp_path / "w.duckdb")
    try:
        write_customer_records(con, records)
        return train_and_report(
            con,
            source_relation=SOURCE_RELATION,
            labels=None,
            model_path=tmp_path / "models" / "customer_model.json",
            charts_dir=tmp_path / "charts",
            **options,
        )
    finally:
        con.close()


def train_with_labels(
    tmp_path: Path,
    records: list[dict],
    matches: list[tuple[str, str]],
    strangers: list[tuple[str, str]],
) -> TrainingOutcome:
    """Train with steward decisions: `matches` decided the same customer, `strangers` not."""
    pairs = matches + strangers
    labels = pa.table(
        {
            "record_key_l": [left for left, _ in pairs],
            "record_key_r": [right for _, right in pairs],
            "is_match": [True] * len(matches) + [False] * len(strangers),
        }
    )
    con = open_database(tmp_path / "w.duckdb")
    try:
        write_customer_records(con, records)
        return train_and_report(
            con, source_relation=SOURCE_RELATION, labels=labels,
            model_path=tmp_path / "models" / "customer_model.json", charts_dir=tmp_path / "c",
        )  # fmt: skip
    finally:
        con.close()


def levels_by_name(model: dict) -> dict[str, dict]:
    return {
        f"{comparison['output_column_name']}: {level['label_for_charts']}": level
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
    }


def new_deployment(tmp_path: Path, records: list[dict], **gates: dict) -> Path:
    """A config of its own (the shipped one without model_path, as `custodian init` leaves it)
    and a warehouse holding `records`, both in tmp_path; returns the config's path."""
    config = yaml.safe_load((PROJECT_ROOT / "governance.yaml").read_text(encoding="utf-8"))
    config["matching"].pop("model_path")
    if gates:
        config.setdefault("quality", {})["gates"] = {"candidate.golden_customers": gates}
    path = tmp_path / "governance.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (tmp_path / "warehouse").mkdir()
    con = open_database(tmp_path / "warehouse" / "custodian.duckdb")
    try:
        write_customer_records(con, records)
    finally:
        con.close()
    return path


@pytest.fixture
def deployment_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE", str(tmp_path / "warehouse" / "custodian.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("COLUMNS", "1000")  # the console wraps no path
    return tmp_path


def terminal_text(result) -> str:
    """What the command printed (stdout and stderr), whitespace runs as one space."""
    return " ".join(result.output.split())


# --- Tests --------------------------------------------------------------------------------------


def test_names_and_birth_dates_alone_train_both(tmp_path: Path) -> None:
    outcome = train(tmp_path, names_and_birth_dates(600))
    # The identifier blocks find nothing here; the joined name frees the birth date and the
    # birth date frees the name, so each is estimated where it is not the blocking key.
    assert "name_joined_key" in outcome.em_blocks
    assert "date_of_birth" in outcome.em_blocks
    assert not [warning for warning in outcome.warnings if "no EM block" in warning]
    levels = levels_by_name(load_model(outcome.model_path))
    # EM's estimates, not Splink's default spread (0.05 / 7 for this level).
    assert levels["name: Same name parts (any order, any script)"]["m_probability"] > 0.5
    assert levels["date_of_birth: Exact match on date of birth"]["m_probability"] > 0.5
    assert outcome.validation.auto_linked_pairs > 0
    assert 0 < outcome.validation.linked_record_share < 1


def test_names_places_and_employers_alone_train_the_name(tmp_path: Path) -> None:
    outcome = train(tmp_path, names_places_and_employers())
    # Name + city, name + employer and the joined name all hold the name fixed; a block on the
    # employer or the place alone is what estimates it.
    assert {"company_name+city_key", "company_name", "city_key"} & set(outcome.em_blocks)
    assert not [warning for warning in outcome.warnings if warning.startswith("name: no EM")]
    levels = levels_by_name(load_model(outcome.model_path))
    assert levels["name: Same name parts (any order, any script)"]["m_probability"] > 0.5


def test_a_customer_s_own_copies_do_not_make_her_name_look_common(tmp_path: Path) -> None:
    # One customer re-entered 150 times (a loyalty card swiped at every visit), beside people
    # with a name, a city and an employer. Counted over records, her name, city and employer
    # are the commonest values in the data and an exact copy of her scores below auto-link
    # (0.30 in the panel's names_places_employer); counted over distinct contents they are
    # hers alone.
    copies = [
        person(f"pos:{n}", ["KAREN", "SMITHQ"], city_key="CITY 1", company_name="CO 7")
        for n in range(150)
    ]
    records = names_places_and_employers() + copies
    # Her 150 records are one customer: the golden gate's bound is raised for her, as a user
    # with such customers does (README, "Gates that fit your data").
    outcome = train(tmp_path, records, max_cluster_size=200)
    con = open_database(tmp_path / "w.duckdb", read_only=True)
    try:
        match_input = con.execute(match_input_sql(SOURCE_RELATION)).to_arrow_table()
    finally:
        con.close()
    pairs = predict_pairs(
        match_input,
        load_model(outcome.model_path),
        review_threshold=0.7,
        auto_link_threshold=0.9,
    )
    clusters = cluster_records(
        match_input.column("record_key"), auto_linked_edges(pairs), threshold=0.9
    ).membership
    keys, cluster_ids = (clusters.column(c).to_pylist() for c in ("record_key", "cluster_id"))
    cluster_of = dict(zip(keys, cluster_ids, strict=True))
    assert len({cluster_of[f"pos:{n}"] for n in range(150)}) == 1
    # And nobody else joined her.
    hers = cluster_of["pos:0"]
    assert sum(1 for cluster in cluster_of.values() if cluster == hers) == 150


def test_u_is_counted_among_non_matches_not_every_random_pair(tmp_path: Path) -> None:
    # Near-unique names, most people in two or three systems: among random pairs agreeing on
    # a full name, one person's own records outnumber strangers about ten to one, so Splink's
    # random sampling alone puts u an order of magnitude above the strangers' rate.
    rng = random.Random(21)
    records = []
    for i in range(800):
        tokens = [rng.choice(GIVEN), rng.choice(SURNAMES) + rng.choice(LETTERS)]
        born = birth_date(rng)
        for system in ["crm", "web", "erp"][: rng.choice((1, 2, 2, 3))]:
            records.append(person(f"{system}:{i}", tokens, date_of_birth=born))
    outcome = train(tmp_path, records)
    level = levels_by_name(load_model(outcome.model_path))[
        "name: Same name parts (any order, any script)"
    ]
    people_by_name: dict[str, list[str]] = {}
    for record in records:
        person_id = record["record_key"].split(":")[1]
        people_by_name.setdefault(record["name_sorted_key"], []).append(person_id)
    strangers_agreeing = sum(
        1
        for holders in people_by_name.values()
        for a, b in itertools.combinations(holders, 2)
        if a != b
    )
    person_ids = [record["record_key"].split(":")[1] for record in records]
    pairs = len(records) * (len(records) - 1) // 2
    same_person = sum(n * (n - 1) // 2 for n in Counter(person_ids).values())
    strangers_rate = strangers_agreeing / (pairs - same_person)
    records_rate = (strangers_agreeing + same_person) / pairs  # what plain sampling measures
    assert records_rate > 5 * strangers_rate  # the data set does what it is for
    assert strangers_rate / 2 < level["u_probability"] < strangers_rate * 2


def test_steward_labels_give_m_once_there_are_a_hundred_positives(tmp_path: Path) -> None:
    records = names_and_birth_dates(600)
    by_key = {record["record_key"]: record for record in records}
    matches = [(f"crm:{i}", f"web:{i}") for i in range(600) if f"web:{i}" in by_key][:120]
    strangers = [(f"crm:{i}", f"crm:{i + 1}") for i in range(30)]
    outcome = train_with_labels(tmp_path, records, matches, strangers)
    assert outcome.positive_labels == 120
    assert outcome.m_from_labels
    # m of the exact-name level is now the share of the labelled matches that agree on it.
    agreeing = sum(
        by_key[left]["name_sorted_key"] == by_key[right]["name_sorted_key"]
        for left, right in matches
    )
    level = levels_by_name(load_model(outcome.model_path))[
        "name: Same name parts (any order, any script)"
    ]
    assert level["m_probability"] == pytest.approx(agreeing / len(matches), abs=0.01)


def test_fewer_than_a_hundred_positive_labels_leave_em_s_m(tmp_path: Path) -> None:
    records = names_and_birth_dates(300)
    keys = {record["record_key"] for record in records}
    matches = [(f"crm:{i}", f"web:{i}") for i in range(300) if f"web:{i}" in keys][:50]
    outcome = train_with_labels(tmp_path, records, matches, [])
    assert outcome.positive_labels == 50
    assert not outcome.m_from_labels


def test_an_em_block_with_under_200_pairs_is_skipped_and_named(tmp_path: Path) -> None:
    records = names_and_birth_dates(600)
    # Forty people gave one system their mobile number, twice (a re-entered record each).
    extra = [
        {**record, "record_key": f"pos:{n}", "source_name": "pos", "source_record_id": str(n)}
        for n, record in enumerate(records[:40])
    ]
    for n, record in enumerate(records[:40]):
        record["mobile_phone_e164"] = extra[n]["mobile_phone_e164"] = f"+86139{n:08d}"
    outcome = train(tmp_path, records + extra)
    skipped = dict(entry.removesuffix(" pairs)").split(" (") for entry in outcome.skipped_em_blocks)
    # 40 pairs share a mobile: too few for EM, said so with the count; the others trained.
    assert skipped["mobile_phone_e164"] == "40"
    assert "mobile_phone_e164" not in outcome.em_blocks
    assert "name_sorted_key+date_of_birth" in outcome.em_blocks


def test_a_level_em_drives_below_float_range_is_floored_warned_and_saved(
    deployment_env: Path,
) -> None:
    config = new_deployment(deployment_env, households_and_a_switchboard())
    result = runner.invoke(app, ["train", "--config", str(config)])
    text = terminal_text(result)
    assert result.exit_code == 0, text
    # The terminal lists the underflow, the block's shorter run and the floored level.
    assert "the m of date_of_birth: Levenshtein distance <= 1 fell below 1e-300" in text
    assert "this block's EM stopped after iteration" in text
    assert f"EM drove m below 1e-100; set to weight {COLLAPSED_LEVEL_WEIGHT}" in text
    # Written beside the config (not over the shipped model), complete and usable.
    model = load_model(deployment_env / "models" / "customer_model.json")
    assert model_parameter_problems(model, complete=True) == []
    floored = levels_by_name(model)["date_of_birth: Levenshtein distance <= 1"]
    weight = math.log2(floored["m_probability"] / floored["u_probability"])
    assert weight == pytest.approx(COLLAPSED_LEVEL_WEIGHT)


def test_no_deterministic_match_falls_back_to_em_never_to_a_prior_of_zero(tmp_path: Path) -> None:
    records, true_pairs = never_exactly_equal()
    outcome = train(tmp_path, records)
    saved = json.loads(outcome.model_path.read_text(encoding="utf-8"))
    prior = saved["probability_two_random_records_match"]
    truth = true_pairs / (len(records) * (len(records) - 1) / 2)
    assert truth / 3 < prior < truth * 3
    assert any("no deterministic rule found a pair" in warning for warning in outcome.warnings)
    assert outcome.prior_source.startswith("EM")
    assert outcome.validation.auto_linked_pairs > 0


def test_the_prior_is_refined_to_what_the_model_predicts_not_left_at_the_rules_guess(
    tmp_path: Path,
) -> None:
    records, true_pairs = typos_in_most_duplicates()
    outcome = train(tmp_path, records)
    saved = json.loads(outcome.model_path.read_text(encoding="utf-8"))
    prior = saved["probability_two_random_records_match"]
    truth = true_pairs / (len(records) * (len(records) - 1) / 2)
    # The rules' guess (pairs found / 0.7) is under a third of the truth on this data.
    assert outcome.prior_source.startswith("deterministic rules")
    assert "refined to" in outcome.prior_source
    assert truth / 1.5 < prior < truth * 1.5


def test_a_model_failing_validation_leaves_the_working_one_byte_identical(
    deployment_env: Path,
) -> None:
    # The golden gate allows one record per customer: any link at all is a runaway cluster.
    config = new_deployment(
        deployment_env,
        names_and_birth_dates(600),
        gx_source_record_count__between__critical={"max_value": 1},
    )
    working = deployment_env / "models" / "customer_model.json"
    working.parent.mkdir()
    working.write_bytes(SHIPPED_MODEL_PATH.read_bytes())
    result = runner.invoke(app, ["train", "--config", str(config)])
    text = terminal_text(result)
    assert result.exit_code == 1, text
    assert f"the retrained match model failed validation; {working} is unchanged" in text
    assert "more than 1 (the golden_customers gate's bound)" in text
    assert working.read_bytes() == SHIPPED_MODEL_PATH.read_bytes()
    assert sorted(path.name for path in working.parent.iterdir()) == [working.name]


def test_a_prior_of_zero_is_never_installed_nor_loaded(tmp_path: Path) -> None:
    broken = json.loads(SHIPPED_MODEL_PATH.read_text(encoding="utf-8"))
    broken["probability_two_random_records_match"] = 0.0
    working = tmp_path / "customer_model.json"
    working.write_bytes(SHIPPED_MODEL_PATH.read_bytes())
    with pytest.raises(ModelValidationError, match="prior") as caught:
        install_model(broken, working, lambda model: ModelValidation())
    assert "is unchanged" in str(caught.value)
    assert working.read_bytes() == SHIPPED_MODEL_PATH.read_bytes()
    assert [path.name for path in tmp_path.iterdir()] == [working.name]
    # A file broken by other means is refused by the daily run with what to do, instead of
    # Splink's "math domain error".
    working.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ModelError, match="retrain it with `custodian train`"):
        load_model(working)


def test_unreachable_auto_link_is_warned(tmp_path: Path) -> None:
    model = load_model(SHIPPED_MODEL_PATH)
    assert max_match_probability(model, {"name_tokens", "name_sorted_key", "date_of_birth"}) > 0.9
    con = duckdb.connect()
    write_customer_records(
        con, [person(f"crm:{i}", ["A", "B"], gender="MF"[i % 2]) for i in range(20)]
    )
    records = con.execute(match_input_sql(SOURCE_RELATION)).to_arrow_table()
    # Gender is all this data has: nothing can agree enough to auto-link.
    validation = validate_model(
        model, records, auto_link_threshold=0.9, populated_columns={"gender"}
    )
    assert validation.max_match_probability < 0.9
    assert any(
        "no combination of agreeing fields can reach auto-link" in warning
        and "lower the threshold or add fields" in warning
        for warning in validation.warnings
    )


def test_a_new_config_without_a_trained_model_runs_with_the_shipped_one_and_says_so(
    tmp_path: Path,
) -> None:
    config = new_deployment(tmp_path, [])
    con = open_database(tmp_path / "warehouse" / "custodian.duckdb")
    write_records(con, RECORDS + FILLER)
    con.close()
    configured = tmp_path / "models" / "customer_model.json"
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [record_clusters],
        instance=instance,
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "warehouse" / "custodian.duckdb")),
            "governance": GovernanceResource(config_path=str(config)),
        },
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("er__record_clusters")
    metadata = {
        name: getattr(value, "value", value) for name, value in materialization.metadata.items()
    }
    said = (
        f"no model trained for this config yet at {configured}: using the shipped demo model; "
        "run `custodian train`"
    )
    assert metadata["model_warning"] == said
    assert metadata["model"] == str(SHIPPED_MODEL_PATH)
    assert metadata["golden_customers"] < len(RECORDS + FILLER)  # the shipped model linked
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(said in message for message in logged)
    assert not configured.exists()
