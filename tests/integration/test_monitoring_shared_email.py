"""The shared-contact rule on e-mails: a company mailbox on five households is shared; a
placeholder typed for five customers (noemail@test.com) is nobody's mailbox, so it is not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_monitoring import Warehouse, config_with

RULES = [
    {"name": "email_shared_by_strangers", "field": "email", "kind": "shared_contact",
     "threshold": 5, "points": 3},
]  # fmt: skip


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Warehouse]:
    built = Warehouse(tmp_path / "custodian.duckdb")
    yield built
    built.con.close()


def test_a_placeholder_typed_for_strangers_is_not_a_shared_email(
    shop: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES)
    for n in range(5):
        shop.customer(f"G-c{n}", f"winkel:c{n}", email="finance@bedrijf.nl")
    for n in range(6):
        shop.customer(f"G-p{n}", f"winkel:p{n}", email="noemail@test.com", placeholder_email=True)
    shop.monitor(config)
    shared = shop.rows(
        "select golden_customer_id, evidence from monitoring.risk_events "
        "where rule = 'email_shared_by_strangers' order by 1"
    )
    assert [golden for golden, _ in shared] == [f"G-c{n}" for n in range(5)]
    assert {evidence for _, evidence in shared} == {"one email on 5 customers in 5 households"}
