"""The data dictionary (R14, R27): every dbt model and column documented with its PII class.

The columns each model really produces are compared with the dictionary in the end-to-end
pipeline test (tests/e2e/test_pipeline.py), where the tables exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.lib.transform.source_models import source_model_files

PII_CLASSES = {"direct identifier": 3, "quasi-identifier": 2, "sensitive": 3, "none": 1}
# Each source's staging model and its dictionary entry are generated from the config
# (lib/transform/source_models.py): checked here as generated for the shipped one.
GENERATED = source_model_files(
    load_config(settings.PROJECT_ROOT / "governance.yaml"), settings.dbt_project_dir()
)


def _documented_models() -> dict[str, tuple[Path, dict]]:
    models = {}
    files = [
        (path, path.read_text(encoding="utf-8"))
        for path in sorted((settings.dbt_project_dir() / "models").rglob("_*.yml"))
    ]
    files += [(Path("source_models") / name, text) for name, text in GENERATED.items()]
    for path, text in files:
        if path.suffix == ".yml":
            for model in (yaml.safe_load(text) or {}).get("models", []):
                models[model["name"]] = (path, model)
    return models


DOCUMENTED = _documented_models()
SQL_MODELS = sorted(
    [p.stem for p in (settings.dbt_project_dir() / "models").rglob("*.sql")]
    + [Path(name).stem for name in GENERATED if name.endswith(".sql")]
)


def test_every_sql_model_is_documented() -> None:
    assert sorted(DOCUMENTED) == SQL_MODELS


@pytest.mark.parametrize("model_name", SQL_MODELS)
def test_model_says_what_one_row_is_and_documents_every_column(model_name: str) -> None:
    path, model = DOCUMENTED[model_name]
    assert model.get("description", "").startswith("One row per"), f"{path}: {model_name}"
    assert model.get("columns"), f"{path}: {model_name} documents no columns"
    problems = []
    for column in model["columns"]:
        where = f"{path.name}: {model_name}.{column.get('name')}"
        meta = column.get("meta") or {}
        if not column.get("description"):
            problems.append(f"{where}: no description")
        if not column.get("data_type"):
            problems.append(f"{where}: no data_type")
        if meta.get("pii") not in PII_CLASSES:
            problems.append(f"{where}: meta.pii {meta.get('pii')!r} not in {sorted(PII_CLASSES)}")
        elif meta.get("sensitivity") != PII_CLASSES[meta["pii"]]:
            problems.append(
                f"{where}: meta.sensitivity {meta.get('sensitivity')!r}, "
                f"expected {PII_CLASSES[meta['pii']]} for {meta['pii']}"
            )
        allowed = meta.get("allowed_values")
        tested = [
            test["accepted_values"]["arguments"]["values"]
            for test in column.get("data_tests", [])
            if isinstance(test, dict) and "accepted_values" in test
        ]
        if allowed is not None and tested and tested[0] != allowed:
            problems.append(f"{where}: accepted_values test differs from meta.allowed_values")
    names = [column["name"] for column in model["columns"]]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        problems.append(f"{path.name}: {model_name} documents {sorted(duplicates)} twice")
    assert not problems, "\n".join(problems)


def test_marts_enforce_their_contracts() -> None:
    for name, (path, model) in DOCUMENTED.items():
        if "/marts/" in path.as_posix():  # the candidate marts, published as copies
            assert model.get("config", {}).get("contract", {}).get("enforced") is True, name


def test_personal_columns_of_the_canonical_record_are_classified_as_personal() -> None:
    _, model = DOCUMENTED["int_customer_records"]
    pii = {column["name"]: column["meta"]["pii"] for column in model["columns"]}
    for column in ("full_name", "mobile_phone_e164", "email_normalised", "address_line"):
        assert pii[column] == "direct identifier", column
    assert pii["national_id"] == "sensitive"
    assert pii["date_of_birth"] == "quasi-identifier"


def test_reason_and_type_codes_in_the_dictionary_are_the_standardisers_own() -> None:
    """dbt's accepted_values tests on these columns come from the same lists the Python
    standardisers draw their codes from, so a new code cannot slip past either."""
    from dagster_project.lib.standardise import addresses, emails, names, national_id, phones

    expected = {
        "name_invalid_reason": names.INVALID_REASONS,
        "national_id_invalid_reason": national_id.INVALID_REASONS,
        "mobile_phone_invalid_reason": phones.INVALID_REASONS,
        "landline_phone_invalid_reason": phones.INVALID_REASONS,
        "email_invalid_reason": emails.INVALID_REASONS,
        "postal_code_invalid_reason": addresses.POSTAL_CODE_INVALID_REASONS,
        "mobile_phone_type": phones.PHONE_TYPES,
        "landline_phone_type": phones.PHONE_TYPES,
        "name_script": names.NAME_SCRIPTS,
    }
    _, model = DOCUMENTED["int_customer_records"]
    allowed = {c["name"]: c["meta"].get("allowed_values") for c in model["columns"]}
    for column, codes in expected.items():
        assert sorted(allowed[column] or []) == sorted(codes), column
