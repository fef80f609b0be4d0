"""Panel data sets made with the demo generator (`custodian demo-data`), then reshaped file by file.

- demo: the default `make demo` shape, with the repository's governance.yaml.
- names_dob_typos: a person register: every record a full name and a birth date, nothing else,
  typos in both.
- names_places_employer: names, places and employer only; names from a small pool, and a few
  people holding hundreds of records.
- invalid_prefix_phones: a fifth of the mainland mobiles rewritten to prefixes the numbering
  plan does not have (phonenumbers rejects them), consistently per person.
- no_email: the e-mail columns removed from every source and mapping.

Every random choice is seeded and keyed by the record or person it changes, so one record's
re-deliveries on later days get the same change and a rerun builds the same files.
"""

from __future__ import annotations

import copy
import math
import random
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from panel import landing as lf
from panel.common import (
    CLUSTER_SIZE_CHECK,
    GOLDEN_SUITE_KEY,
    BuiltDataset,
    matching_block,
    repository_config,
    repository_sources,
    source_block,
    truth_table,
    write_config,
)

START = date(2026, 11, 1)
# "A few thousand people each" at --scale 1 keeps the whole panel well under an hour on 2 cores:
# a daily run costs ~75 s of fixed overhead (dbt, gates, Dagster) before the data matter.
VARIANT_CUSTOMERS = 2000
VARIANT_DAYS = 2
DEMO_CUSTOMERS = 3000  # the Makefile's DEMO_CUSTOMERS, DEMO_DAYS, DEMO_SEED
DEMO_DAYS = 4
DEMO_SEED = 42

TYPO_RATE = 0.2
INVALID_PHONE_PEOPLE_RATE = 0.2
# Total records of the people made to hold hundreds (their own records included).
HEAVY_HOLDER_RECORDS = (300, 200, 100)
EMPLOYER_RECORDED_RATE = 0.85  # a system that has an employer column does not always fill it


def _rng(*key: object) -> random.Random:
    # A string seed is hashed with SHA-512: the same on every run and process.
    return random.Random("|".join(str(part) for part in key))


def generate(work: Path, customers: int, days: int, seed: int) -> Path:
    """The demo generator through its command, as a user would run it."""
    landing = work / "landing"
    custodian = Path(sys.executable).parent / "custodian"
    subprocess.run(
        [
            str(custodian), "demo-data", "--out", str(landing), "--customers", str(customers),
            "--days", str(days), "--start", START.isoformat(), "--seed", str(seed),
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return landing


def demo_truth(landing: Path, extra: list[tuple[str, str, str]] | None = None) -> Any:
    person_map = lf.read_person_map(landing)
    rows = [(source, record_id, person) for (source, record_id), person in person_map.items()]
    return truth_table(rows + (extra or []))


def _config(
    work: Path,
    sources: list[dict[str, Any]],
    header: str,
    gates: dict[str, Any] | None = None,
    full: bool = False,
) -> Path:
    """A governance.yaml for the data set. `full`: the repository's whole config (survivorship,
    monitoring, retention) as a user of the demo shape would keep it; otherwise only what a
    config of one's own needs (sources and matching)."""
    config = copy.deepcopy(repository_config()) if full else {}
    config["landing_root"] = "landing"
    if not full:
        config["schedule"] = repository_config().get("schedule", {})
    config["sources"] = sources
    config["matching"] = matching_block(work)
    if gates:
        config.setdefault("quality", {}).setdefault("gates", {}).update(gates)
    path = work / "governance.yaml"
    write_config(path, config, header)
    return path


# --- demo -----------------------------------------------------------------------------------------


def build_demo(work: Path, scale: float) -> BuiltDataset:
    customers = round(DEMO_CUSTOMERS * scale)
    landing = generate(work, customers, DEMO_DAYS, DEMO_SEED)
    days = lf.day_range(START, DEMO_DAYS)
    config = copy.deepcopy(repository_config())
    config["landing_root"] = "landing"
    config["matching"]["model_path"] = matching_block(work)["model_path"]
    path = work / "governance.yaml"
    write_config(
        path, config, "The repository's governance.yaml; landing_root and model_path moved."
    )
    return BuiltDataset(
        path,
        days[0],
        days[-1],
        demo_truth(landing),
        {"customers": customers, "days": DEMO_DAYS, "seed": DEMO_SEED},
    )


# --- names_dob_typos ------------------------------------------------------------------------------

# The "person register with names and birth dates only": the systems that record a full
# name and a birth date. The call centre's log (王女士, Mrs Holder, birth date rarely asked) is not
# a register and is not delivered; a birth date a register's record lacks is the person's.
REGISTER_SOURCES = ("crm", "erp_billing", "web_signup")


def _is_han(character: str) -> bool:
    return "\u4e00" <= character <= "\u9fff"


def _other_character(character: str, rng: random.Random, han_pool: list[str]) -> str:
    """A different character of the same script (a mis-hit key, a wrong homophone)."""
    if _is_han(character):
        return rng.choice([c for c in han_pool if c != character])
    letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != character.lower()])
    return letter.upper() if character.isupper() else letter


def typo(text: str, rng: random.Random, han_pool: list[str]) -> str:
    """One character edit: substitution, deletion, insertion or transposition of neighbours."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if not letters:
        return text
    operation = rng.choice(("substitute", "delete", "insert", "transpose"))
    swappable = [
        i for i in letters if i + 1 < len(text) and text[i + 1].isalpha() and text[i] != text[i + 1]
    ]
    if operation == "transpose" and not swappable:
        operation = "substitute"
    # A two-character Chinese name losing one is a surname alone: a different kind of record.
    if operation == "delete" and len(letters) < 3:
        operation = "substitute"
    if operation == "transpose":
        i = rng.choice(swappable)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    i = rng.choice(letters)
    if operation == "delete":
        return text[:i] + text[i + 1 :]
    if operation == "insert":
        return text[:i] + _other_character(text[i], rng, han_pool) + text[i:]
    return text[:i] + _other_character(text[i], rng, han_pool) + text[i + 1 :]


DATE_TEXT = re.compile(r"^(\d{4})([-/]?)(\d{2})([-/]?)(\d{2})$")


def _is_real_date(year: int, month: int, day: int) -> bool:
    try:
        return date(1900, 1, 1) <= date(year, month, day) <= START
    except ValueError:
        return False


def date_typo(year: int, month: int | None, day: int | None, rng: random.Random) -> tuple:
    """A day/month swap (when both read as a month) or one mistyped digit of the year's last two,
    the month or the day; the first two year digits are left alone (nobody types 2985)."""
    if month is not None and day is not None and day <= 12 and day != month and rng.random() < 0.5:
        return year, day, month, "swap"
    digits = f"{year:04d}" + (f"{month:02d}" if month is not None else "")
    digits += f"{day:02d}" if day is not None and month is not None else ""
    position = rng.choice(range(2, len(digits)))
    new = rng.choice([d for d in "0123456789" if d != digits[position]])
    digits = digits[:position] + new + digits[position + 1 :]
    new_month = int(digits[4:6]) if month is not None else None
    new_day = int(digits[6:8]) if day is not None and month is not None else day
    return int(digits[:4]), new_month, new_day, "digit"


def build_names_dob_typos(work: Path, scale: float) -> BuiltDataset:
    seed = 101
    customers = round(VARIANT_CUSTOMERS * scale)
    landing = generate(work, customers, VARIANT_DAYS, seed)
    days = lf.day_range(START, VARIANT_DAYS)
    people = lf.read_people(landing)
    person_of = lf.read_person_map(landing)
    for source, _, path in lf.landing_files(landing, days):
        if source not in REGISTER_SOURCES:
            path.unlink()
    # Substitutes for Han characters come from the data's own given names and must survive GBK.
    han_pool = sorted(
        {
            c
            for person in people.values()
            for c in person["given_name"]
            if _is_han(c) and _encodes_in_gbk(c)
        }
    )
    counts = {"records": 0, "name_typos": 0, "dob_filled_from_person": 0, "dob_values": 0}
    counts["dob_typos"] = 0
    counts |= {"dob_swaps": 0, "dob_digit_changes": 0, "dob_typos_not_a_real_date": 0}

    def change(file: lf.SourceFile) -> None:
        source = file.source
        record_id = lf.RECORD_ID[source]
        lf.keep_columns(file, (record_id, *lf.NAME_COLUMNS[source], *lf.DOB_COLUMNS[source]))
        dob_column = lf.DOB_COLUMNS[source][0]
        for row in file.rows:
            key = (seed, source, row[record_id])
            counts["records"] += 1
            if not (row.get(dob_column) or "").strip():
                row[dob_column] = people[person_of[(source, row[record_id].strip())]][
                    "date_of_birth"
                ]
                counts["dob_filled_from_person"] += 1
            if _rng(*key, "name").random() < TYPO_RATE:
                counts["name_typos"] += _name_typo(source, row, _rng(*key, "which"), han_pool)
            for name, value in _dob_typo(source, row, _rng(*key, "dob")).items():
                counts[name] += value

    records = lf.rewrite_all(landing, days, change)
    sources = repository_sources()
    keep = {"source_record_id", "full_name", "family_name", "given_name", "date_of_birth"}
    config = _config(
        work,
        [source_block(sources[s], keep) for s in REGISTER_SOURCES],
        "A person register from the demo people: names and birth dates only, typos in both;\n"
        "bench/bench_panel.py.",
    )
    truth = demo_truth(landing)
    not_delivered = pc.starts_with(truth.column("record_key"), "call_center:")
    return BuiltDataset(
        config,
        days[0],
        days[-1],
        truth.filter(pc.invert(not_delivered)),
        {
            "customers": customers,
            "days": VARIANT_DAYS,
            "seed": seed,
            "sources": list(REGISTER_SOURCES),
            "records_per_source": records,
            "typo_rate": TYPO_RATE,
            "injected": counts,
            "note": "counts are over every delivered row (a record re-sent on day 2 counts twice, "
            "with the same typo); the call centre's log is not delivered (not a register)",
        },
    )


def _encodes_in_gbk(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def _name_typo(source: str, row: dict[str, Any], rng: random.Random, han_pool: list[str]) -> int:
    """One edit in the record's name; 1 if a name was there to edit."""
    if source == "crm":
        column = "given_name" if rng.random() < 0.7 else "family_name"
    elif source == "web_signup":
        column = "first_name" if rng.random() < 0.7 else "last_name"
    else:
        column = lf.NAME_COLUMNS[source][0]
    value = row.get(column)
    if not value or not value.strip():
        return 0
    token = value.strip()
    new = typo(token, rng, han_pool)
    row[column] = value.replace(token, new, 1)
    if source == "web_signup" and row.get("display_name"):
        # The display name repeats the name; the same slip is in both where it can be found.
        display = row["display_name"]
        at = display.lower().find(token.lower())
        if at >= 0:
            found = display[at : at + len(token)]
            cased = new.lower() if found.islower() else new.upper() if found.isupper() else new
            row["display_name"] = display[:at] + cased + display[at + len(token) :]
    return 1


def _dob_typo(source: str, row: dict[str, Any], rng: random.Random) -> dict[str, int]:
    counts = {"dob_values": 0, "dob_typos": 0, "dob_swaps": 0, "dob_digit_changes": 0}
    counts["dob_typos_not_a_real_date"] = 0
    column = lf.DOB_COLUMNS[source][0]
    match = DATE_TEXT.match((row.get(column) or "").strip())
    if not match:
        return counts
    counts["dob_values"] = 1
    if rng.random() >= TYPO_RATE:
        return counts
    first, sep1, second, sep2, third = match.groups()
    year, month, day, kind = date_typo(int(first), int(second), int(third), rng)
    row[column] = f"{year:04d}{sep1}{month:02d}{sep2}{day:02d}"
    counts["dob_typos"] = 1
    counts["dob_swaps" if kind == "swap" else "dob_digit_changes"] = 1
    if month is not None and day is not None and not _is_real_date(year, month, day):
        counts["dob_typos_not_a_real_date"] = 1
    return counts


# --- names_places_employer ------------------------------------------------------------------------

# Small pools, so that many strangers share one name: 6 surnames x 12 given names per sex and
# culture. With 2,000 people about a fifth share their name and city with a stranger, while
# name + city + employer leaves under 1% of people ambiguous (measured on the generator's people).
CN_SURNAMES = (("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"))
CN_SURNAMES += (("杨", "Yang"),)
CN_GIVEN = {
    "M": (
        ("伟", "Wei"), ("强", "Qiang"), ("磊", "Lei"), ("军", "Jun"),
        ("杰", "Jie"), ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"),
        ("勇", "Yong"), ("斌", "Bin"), ("浩", "Hao"), ("鹏", "Peng"),
    ),
    "F": (
        ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"),
        ("丽", "Li"), ("艳", "Yan"), ("娟", "Juan"), ("霞", "Xia"),
        ("萍", "Ping"), ("玲", "Ling"), ("婷", "Ting"), ("雪", "Xue"),
    ),
}  # fmt: skip
LATIN_SURNAMES = ("Smith", "Jones", "Brown", "Miller", "Wilson", "Taylor")
LATIN_GIVEN = {
    "M": (
        "John", "David", "Michael", "James", "Robert", "Thomas",
        "William", "Richard", "Daniel", "Paul", "Mark", "Peter",
    ),
    "F": (
        "Mary", "Sarah", "Anna", "Laura", "Emma", "Julia",
        "Linda", "Susan", "Karen", "Lisa", "Nancy", "Helen",
    ),
}  # fmt: skip
# People without an employer of their own get one from the pool at this rate.
SYNTHESISED_EMPLOYER_RATE = 0.8


def _folded(text: str) -> str:
    """Böhm -> Bohm, as the generator folds names GBK cannot hold."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _cased_like(found: str, new: str) -> str:
    if len(found) > 1 and found.isupper():
        return new.upper()
    if found.islower():
        return new.lower()
    return new


@dataclass
class Rename:
    """One person's name parts, old -> new, in every spelling the sources use."""

    pattern: re.Pattern[str]
    replacements: dict[str, str]  # lower-cased old spelling -> new
    old_given: list[str]

    def apply(self, text: str) -> str:
        # One pass: a replaced part is never matched again (old family "Li", new given "Julia").
        return self.pattern.sub(
            lambda m: _cased_like(m.group(0), self.replacements[m.group(0).lower()]), text
        )


def _rename_for(person: dict[str, str], rng: random.Random) -> Rename:
    sex = "F" if person["gender"] == "F" else "M"
    pairs: list[tuple[str, str]] = []
    if person["locale"] == "zh_CN":
        (family_han, family_py), (given_han, given_py) = (
            rng.choice(CN_SURNAMES),
            rng.choice(CN_GIVEN[sex]),
        )
        old_family_py, _, old_given_py = person["name_pinyin"].partition(" ")
        pairs += [(person["family_name"], family_han), (person["given_name"], given_han)]
        pairs += [(old_family_py, family_py), (old_given_py.replace(" ", ""), given_py)]
        old_given = [person["given_name"], old_given_py]
    else:
        family, given = rng.choice(LATIN_SURNAMES), rng.choice(LATIN_GIVEN[sex])
        for old, new in ((person["family_name"], family), (person["given_name"], given)):
            pairs += [(old, new), (_folded(old), new)]
            # "Rolf-Peter" is written rolfpeter in a joined display name.
            pairs.append((re.sub(r"[\s\-']", "", old), new))
        old_given = [person["given_name"]]
    replacements = {old.lower(): new for old, new in pairs if old}
    alternatives = sorted(replacements, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(a) for a in alternatives), re.IGNORECASE)
    return Rename(pattern, replacements, [g for g in old_given if len(g) >= 2])


def build_names_places_employer(work: Path, scale: float) -> BuiltDataset:
    seed = 102
    customers = round(VARIANT_CUSTOMERS * scale)
    landing = generate(work, customers, VARIANT_DAYS, seed)
    days = lf.day_range(START, VARIANT_DAYS)
    people = lf.read_people(landing)
    person_of = lf.read_person_map(landing)
    renames = {p: _rename_for(person, _rng(seed, p, "name")) for p, person in people.items()}
    employer = _employers(people, seed)

    counts = {"records": 0, "name_values_with_old_given_name_left": 0, "employer_given": 0}

    def change(file: lf.SourceFile) -> None:
        source = file.source
        record_id = lf.RECORD_ID[source]
        company = lf.COMPANY_COLUMN.get(source, "employer")
        if company not in file.columns:
            file.columns.append(company)
        lf.keep_columns(
            file, [record_id, *lf.NAME_COLUMNS[source], *lf.PLACE_COLUMNS[source], company]
        )
        for row in file.rows:
            counts["records"] += 1
            person = person_of[(source, row[record_id].strip())]
            rename = renames[person]
            for column in lf.NAME_COLUMNS[source]:
                if row.get(column):
                    row[column] = rename.apply(row[column])
                    left = row[column].lower()
                    counts["name_values_with_old_given_name_left"] += any(
                        g.lower() in left for g in rename.old_given
                    )
            if source == "web_signup" and row.get("address"):
                address = row["address"]
                row["address"] = {"city": address.get("city"), "region": address.get("region")}
            recorded = _rng(seed, source, row[record_id], "employer").random()
            given = employer[person] if recorded < EMPLOYER_RECORDED_RATE else None
            # The ERP keeps its own 公司名称; a blank one takes the employer the other systems
            # know, so a person has one employer across sources, never a contradiction.
            if company == "employer" or not row.get(company):
                row[company] = given
            counts["employer_given"] += bool(row.get(company))

    records = lf.rewrite_all(landing, days, change)
    extra_truth, heavy = _add_heavy_holders(landing, days[0], person_of, seed)
    truth = demo_truth(landing, extra_truth)
    sizes: dict[str, int] = {}
    for entity in truth.column("entity_id").to_pylist():
        sizes[entity] = sizes.get(entity, 0) + 1
    largest = max(sizes.values())
    # A user whose customers really hold hundreds of records raises the golden gate's bound
    # (README "Gates that fit your data"): the largest true customer, rounded up to the next
    # hundred. Anything above it is a runaway cluster.
    bound = 100 * math.ceil((largest + 1) / 100)
    gates = {GOLDEN_SUITE_KEY: {CLUSTER_SIZE_CHECK: {"max_value": bound}}}
    sources = repository_sources()
    keep = {"source_record_id", "full_name", "family_name", "given_name"}
    keep |= {"district", "city", "province", "company_name"}
    blocks = [
        source_block(
            sources[s],
            keep,
            None if s in lf.COMPANY_COLUMN else {"company_name": "employer"},
        )
        for s in lf.SOURCES
    ]
    config = _config(
        work,
        blocks,
        "Demo people, names (from a small pool), places and employer only; some people hold\n"
        "hundreds of records. Written by bench/bench_panel.py.",
        gates=gates,
    )
    heavy_people = {h["person_id"] for h in heavy}
    others = truth.filter(pc.invert(pc.is_in(truth.column("entity_id"), pa.array(heavy_people))))
    return BuiltDataset(
        config,
        days[0],
        days[-1],
        truth,
        truth_subsets={"without_heavy_holders": others},
        facts={
            "customers": customers,
            "days": VARIANT_DAYS,
            "seed": seed,
            "records_per_source_before_heavy_holders": records,
            "name_pool": {
                "chinese_full_names": len(CN_SURNAMES) * len(CN_GIVEN["M"]) * 2,
                "latin_full_names": len(LATIN_SURNAMES) * len(LATIN_GIVEN["M"]) * 2,
                "people_per_name_largest": _people_per_name(renames),
            },
            "employer": {
                "people_with_employer": sum(1 for e in employer.values() if e),
                "people": len(employer),
                "synthesised_for_people_without_one_rate": SYNTHESISED_EMPLOYER_RATE,
                "recorded_rate_per_record": EMPLOYER_RECORDED_RATE,
            },
            "heavy_holders": heavy,
            "injected": counts,
            "gate_overrides": gates,
            "gate_override_reason": f"largest true customer holds {largest} records",
        },
    )


def _people_per_name(renames: dict[str, Rename]) -> int:
    """How many people share the most shared new name (by its set of replacements)."""
    counts: dict[tuple[str, ...], int] = {}
    for rename in renames.values():
        key = tuple(sorted(set(rename.replacements.values())))
        counts[key] = counts.get(key, 0) + 1
    return max(counts.values(), default=0)


def _employers(people: dict[str, dict[str, str]], seed: int) -> dict[str, str | None]:
    """Each person's employer: the generator's own (the ERP's 公司名称 comes from it), else, for
    most of the others, a company drawn from the same culture's employers, so colleagues share
    one and an employer is evidence, not an identifier."""
    pools: dict[bool, list[str]] = {True: [], False: []}
    for person in people.values():
        if person["company_name"]:
            pools[person["locale"] == "zh_CN"].append(person["company_name"])
    employer: dict[str, str | None] = {}
    for person_id, person in people.items():
        rng = _rng(seed, person_id, "employer")
        pool = pools[person["locale"] == "zh_CN"]
        if person["company_name"]:
            employer[person_id] = person["company_name"]
        elif pool and rng.random() < SYNTHESISED_EMPLOYER_RATE:
            employer[person_id] = rng.choice(pool)
        else:
            employer[person_id] = None
    return employer


def _add_heavy_holders(
    landing: Path, first_day: date, person_of: dict[tuple[str, str], str], seed: int
) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]]]:
    """Copies of a few people's day-one records, each with small variations, appended to the
    day-one files until each holds its HEAVY_HOLDER_RECORDS total (loyalty-card swipes, a
    reseller re-entered on every order)."""
    files = {
        source: lf.read(source, day, path)
        for source, day, path in lf.landing_files(landing, [first_day])
    }
    records_of: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for source, file in files.items():
        for row in file.rows:
            person = person_of[(source, row[lf.RECORD_ID[source]].strip())]
            records_of.setdefault(person, []).append((source, row))
    total_of: dict[str, int] = {}
    for person in person_of.values():
        total_of[person] = total_of.get(person, 0) + 1
    rng = _rng(seed, "heavy")
    candidates = sorted(p for p, rows in records_of.items() if len({s for s, _ in rows}) >= 2)
    chosen = rng.sample(candidates, len(HEAVY_HOLDER_RECORDS))
    truth: list[tuple[str, str, str]] = []
    summary = []
    for person, target in zip(chosen, HEAVY_HOLDER_RECORDS, strict=True):
        originals = records_of[person]
        added = max(0, target - total_of[person])
        for n in range(added):
            source, original = originals[n % len(originals)]
            copy_rng = _rng(seed, person, n)
            row = _varied_copy(source, original, copy_rng)
            record_id = f"{original[lf.RECORD_ID[source]].strip()}-H{n + 1:04d}"
            row[lf.RECORD_ID[source]] = record_id
            files[source].rows.append(row)
            truth.append((source, record_id, person))
        summary.append(
            {
                "person_id": person,
                "records": total_of[person] + added,
                "copies_added": added,
                "sources": sorted({s for s, _ in originals}),
            }
        )
    for file in files.values():
        lf.write(file)
    return truth, summary


def _varied_copy(source: str, original: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    row = copy.deepcopy(original)
    if rng.random() < 0.1:
        # Name case or spacing changes from one entry to the next.
        for column in lf.NAME_COLUMNS[source]:
            value = row.get(column)
            if value and any(_is_han(c) for c in value) and len(value) >= 2:
                row[column] = value[0] + " " + value[1:]
            elif value:
                row[column] = value.upper()
    if rng.random() < 0.3:
        for column in ("district", "区县"):
            if column in row:
                row[column] = None
    if rng.random() < 0.1:
        for column in ("city", "城市"):
            if column in row:
                row[column] = None
        if isinstance(row.get("address"), dict):
            row["address"] = {**row["address"], "city": None}
    if rng.random() < 0.2:
        for column in ("employer", "公司名称"):
            if column in row:
                row[column] = None
    return row


# --- invalid_prefix_phones ------------------------------------------------------------------------

# Eleven digits like a mainland mobile, but prefixes China's numbering plan does not assign:
# phonenumbers (and so the pipeline's standardiser) rejects them. Checked per number below.
INVALID_PREFIXES = (*(f"12{d}" for d in range(10)), "100", "101", "102")
MAINLAND_MOBILE_DIGITS = re.compile(r"^(?:0086|86)?(1[3-9]\d{9})$")


def _digit_value(character: str) -> int | None:
    try:
        return unicodedata.digit(character)
    except (TypeError, ValueError):
        return None


def rewrite_mobile(text: str, prefix: str) -> tuple[str, str | None]:
    """`text` with a mainland mobile's first three digits replaced by `prefix`, keeping the
    formatting (spaces, dashes, +86, full-width digits); the new 11 digits, or None."""
    positions = [i for i, c in enumerate(text) if _digit_value(c) is not None]
    digits = "".join(str(_digit_value(text[i])) for i in positions)
    match = MAINLAND_MOBILE_DIGITS.match(digits)
    if not match:
        return text, None
    start = match.start(1)
    characters = list(text)
    for offset, new in enumerate(prefix):
        i = positions[start + offset]
        full_width = ord(characters[i]) >= 0xFF10
        characters[i] = chr(0xFF10 + int(new)) if full_width else new
    return "".join(characters), prefix + match.group(1)[3:]


def build_invalid_prefix_phones(work: Path, scale: float) -> BuiltDataset:
    seed = 103
    customers = round(VARIANT_CUSTOMERS * scale)
    landing = generate(work, customers, VARIANT_DAYS, seed)
    days = lf.day_range(START, VARIANT_DAYS)
    people = lf.read_people(landing)
    person_of = lf.read_person_map(landing)
    with_mobile = [p for p, person in people.items() if person["mobile_e164"]]
    mainland = [p for p in with_mobile if people[p]["mobile_e164"].startswith("+861")]
    # Only mainland numbers have a Chinese prefix to break, so they are drawn at the rate that
    # makes the rewritten ones a fifth of everybody's mobiles.
    rate = min(1.0, INVALID_PHONE_PEOPLE_RATE * len(with_mobile) / max(1, len(mainland)))
    prefix_of = {
        p: _rng(seed, p, "prefix").choice(INVALID_PREFIXES)
        for p in mainland
        if _rng(seed, p, "chosen").random() < rate
    }
    counts = {"records": 0, "records_rewritten": 0, "values_rewritten": 0}
    new_numbers: set[str] = set()

    def change(file: lf.SourceFile) -> None:
        source = file.source
        for row in file.rows:
            counts["records"] += 1
            person = person_of[(file.source, row[lf.RECORD_ID[source]].strip())]
            prefix = prefix_of.get(person)
            if prefix is None:
                continue
            changed = False
            for column in lf.PHONE_COLUMNS[source]:
                if not row.get(column):
                    continue
                row[column], number = rewrite_mobile(row[column], prefix)
                if number:
                    new_numbers.add(number)
                    counts["values_rewritten"] += 1
                    changed = True
            counts["records_rewritten"] += changed

    records = lf.rewrite_all(landing, days, change)
    still_valid = sorted(
        n for n in new_numbers if phonenumbers.is_valid_number(phonenumbers.parse(n, "CN"))
    )
    if still_valid:
        raise RuntimeError(f"rewritten numbers phonenumbers accepts: {still_valid[:5]}")
    # The shipped gate stops a day with more than 15% invalid mobiles in a source; a user whose
    # systems hold such numbers lowers it (README "Gates that fit your data").
    gates = {
        "intermediate.int_customer_records": {
            "gx_mobile_phone_is_valid__in_set__critical": {"mostly": 0.7}
        }
    }
    sources = repository_sources()
    config = _config(
        work,
        [sources[s] for s in lf.SOURCES],
        "The demo with a fifth of mainland mobiles on prefixes phonenumbers rejects;\n"
        "written by bench/bench_panel.py.",
        gates=gates,
        full=True,
    )
    return BuiltDataset(
        config,
        days[0],
        days[-1],
        demo_truth(landing),
        {
            "customers": customers,
            "days": VARIANT_DAYS,
            "seed": seed,
            "records_per_source": records,
            "people_with_mobile": len(with_mobile),
            "people_with_mainland_mobile": len(mainland),
            "people_rewritten": len(prefix_of),
            "share_of_people_with_mobile_rewritten": round(len(prefix_of) / len(with_mobile), 4),
            "prefixes": list(INVALID_PREFIXES),
            "distinct_numbers_rewritten": len(new_numbers),
            "all_rewritten_numbers_invalid_per_phonenumbers": True,
            "injected": counts,
            "gate_overrides": gates,
        },
    )


# --- no_email -------------------------------------------------------------------------------------


def build_no_email(work: Path, scale: float) -> BuiltDataset:
    seed = 104
    customers = round(VARIANT_CUSTOMERS * scale)
    landing = generate(work, customers, VARIANT_DAYS, seed)
    days = lf.day_range(START, VARIANT_DAYS)

    def change(file: lf.SourceFile) -> None:
        file.columns = [c for c in file.columns if c not in lf.EMAIL_COLUMNS[file.source]]

    records = lf.rewrite_all(landing, days, change)
    sources = repository_sources()
    blocks = []
    for name in lf.SOURCES:
        block = copy.deepcopy(sources[name])
        block["mapping"].pop("email", None)
        blocks.append(block)
    config = _config(
        work,
        blocks,
        "The demo without e-mail in any source; written by bench/bench_panel.py.",
        full=True,
    )
    return BuiltDataset(
        config,
        days[0],
        days[-1],
        demo_truth(landing),
        {
            "customers": customers,
            "days": VARIANT_DAYS,
            "seed": seed,
            "records_per_source": records,
            "columns_removed": {s: list(c) for s, c in lf.EMAIL_COLUMNS.items()},
        },
    )


BUILDERS: dict[str, Callable[[Path, float], BuiltDataset]] = {
    "names_dob_typos": build_names_dob_typos,
    "names_places_employer": build_names_places_employer,
    "invalid_prefix_phones": build_invalid_prefix_phones,
    "no_email": build_no_email,
    "demo": build_demo,
}
