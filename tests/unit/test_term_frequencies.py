"""Term frequencies over distinct record contents (splink_model): a customer's copies do not make
her values common; with a model trained on data like these a value as common as the typical one
scores the level's own weight, with one trained elsewhere each value scores at its own share."""

from __future__ import annotations

import copy

import pytest

from dagster_project.lib.resolve.model_checks import SHIPPED_MODEL_PATH
from dagster_project.lib.resolve.splink_model import TF_SCALE_BOUND, load_model, splink_linker
from tests.unit.test_blocking import _records


def _person(key: str, name: str, born: str) -> dict:
    return {
        "record_key": key,
        "source_name": key.split(":")[0],
        "name_tokens": name.split(),
        "name_sorted_key": name,
        "name_joined_key": name.replace(" ", ""),
        "date_of_birth": born,
    }


def _name_tf(rows: list[dict], model: dict, **options) -> dict[str, float]:
    with splink_linker(_records(rows), model, **options) as (_, con):
        return dict(
            con.execute(
                "select name_sorted_key, tf_name_sorted_key from _content_tf_name_sorted_key"
            ).fetchall()
        )


def _with_name_u(model: dict, u: float) -> dict:
    model = copy.deepcopy(model)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("tf_adjustment_column") == "name_sorted_key":
                level["u_probability"] = u
    return model


# Ten people with names of their own, five different people sharing one name, and one customer
# entered four times, identically: 16 distinct contents, COMMON NAME in 5 of them.
ROWS = (
    [_person(f"crm:{n}", f"RARE {n}", "1980-01-01") for n in range(10)]
    + [_person(f"erp:{n}", "COMMON NAME", f"1970-01-0{n + 1}") for n in range(5)]
    + [_person(f"pos:{n}", "COPIED NAME", "1990-05-05") for n in range(4)]
)
SHARE = {name: (5 if name == "COMMON NAME" else 1) / 16 for name in ("COMMON NAME", "COPIED NAME")}
SHARE.update({f"RARE {n}": 1 / 16 for n in range(10)})
CHANCE_AGREEMENT = sum(share * share for share in SHARE.values())


def test_copies_count_once_and_the_typical_value_scores_the_level_weight() -> None:
    # A model whose u is within the bound of these records' own chance agreement.
    level_u = 1.5 * CHANCE_AGREEMENT
    tf = _name_tf(ROWS, _with_name_u(load_model(SHIPPED_MODEL_PATH), level_u))
    assert tf["COPIED NAME"] == pytest.approx(tf["RARE 0"])
    assert tf["COMMON NAME"] == pytest.approx(5 * tf["RARE 0"])
    # Weighted by how often each value occurs, the adjusted frequencies average to the level's
    # u: on average, agreement scores the level's weight.
    assert sum(SHARE[name] * tf[name] for name in tf) == pytest.approx(level_u)


@pytest.mark.parametrize("factor", [1e-3, 1e3])
def test_a_model_u_far_from_these_records_moves_a_frequency_one_bit_at_most(factor: float) -> None:
    tf = _name_tf(ROWS, _with_name_u(load_model(SHIPPED_MODEL_PATH), factor * CHANCE_AGREEMENT))
    bound = TF_SCALE_BOUND if factor > 1 else 1 / TF_SCALE_BOUND
    assert tf == pytest.approx({name: share * bound for name, share in SHARE.items()})


def test_a_model_trained_elsewhere_scores_each_value_at_its_share_of_these_records() -> None:
    # Eight customers sharing four names: the shipped model's u for a name (a demo of 20,000
    # varied names) would make every namesake a near-certain match.
    rows = [_person(f"shop:{n}", f"NAME {n % 4}", f"1980-01-0{n + 1}") for n in range(8)]
    model = load_model(SHIPPED_MODEL_PATH)
    tf = _name_tf(rows, model, model_fits_data=False)
    assert tf == pytest.approx({f"NAME {n}": 2 / 8 for n in range(4)})
