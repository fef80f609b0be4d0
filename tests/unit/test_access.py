"""Roles and rights from the config, and literals kept out of the access log."""

from __future__ import annotations

import pytest

from dagster_project.config import AccessConfig
from dagster_project.lib.privacy.access import AccessDeniedError, authorise, redact_literals


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("select * from g where email = 'a@b.cn'", "select * from g where email = ?"),
        ("select 'it''s -- not a comment', 42", "select ?, ?"),
        ("select * from g where phone in ('138', '139') limit 5",
         "select * from g where phone in (?, ?) limit ?"),
        ("select full_name from golden_customers", "select full_name from golden_customers"),
        ("select 3.14 as pi, x from t", "select ? as pi, x from t"),
    ],
)  # fmt: skip
def test_literals_are_redacted_and_the_rest_kept(query: str, logged: str) -> None:
    assert redact_literals(query) == logged


def test_a_role_without_the_right_is_refused_naming_the_roles_that_have_it() -> None:
    access = AccessConfig(users={"li": "analyst", "wei": "engineer"})
    assert authorise(access, "wei", "query_warehouse").role == "engineer"
    with pytest.raises(AccessDeniedError) as refused:
        authorise(access, "li", "query_warehouse")
    assert "'analyst'" in str(refused.value)
    assert "admin, engineer" in str(refused.value)
    with pytest.raises(AccessDeniedError, match="has no role"):
        authorise(access, "zhao", "query_analytics")


def test_roles_can_be_redefined_in_the_config() -> None:
    access = AccessConfig(
        users={"li": "auditor"}, roles={"auditor": ["read_access_log", "query_analytics"]}
    )
    assert authorise(access, "li", "read_access_log").role == "auditor"
    with pytest.raises(AccessDeniedError, match="auditor"):
        authorise(access, "li", "review")


def test_a_user_with_an_unknown_role_or_a_role_with_an_unknown_right_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown role 'superuser'"):
        AccessConfig(users={"li": "superuser"})
    with pytest.raises(ValueError, match="query_analytics"):
        AccessConfig(roles={"analyst": ["read_everything"]})
