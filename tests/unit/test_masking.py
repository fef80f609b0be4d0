"""Masking for display: each kind of personal data keeps its shape and loses its substance."""

from __future__ import annotations

import re

import pytest

from dagster_project.canonical import CANONICAL_FIELDS
from dagster_project.config import MaskingConfig
from dagster_project.lib.privacy.masking import (
    REDACTED,
    MaskingError,
    classified_masker,
    configure_masking,
    field_for_column,
    hmac_pads,
    mask_date,
    mask_email,
    mask_evidence,
    mask_name,
    mask_national_id,
    mask_phone,
    mask_value,
    pseudonym,
    pseudonym_key,
)


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "１３８００１３８０００",  # full-width digits, as typed on a Chinese keyboard
        "+86 138 0013 8000",
        "+8613800138000",
        "0086 138 0013 8000",
        "+８６ １３８ ００１３ ８０００",
    ],
)
def test_mask_phone_keeps_the_mobile_shape_whatever_the_writing(raw: str) -> None:
    masked = mask_phone(raw)
    assert masked == "138****8000"
    assert "0013" not in masked


@pytest.mark.parametrize(
    "raw",
    [
        "1234567",
        "62345678",
        "010-62345678",
        "+1 (415) 555-0134",
        "+44 20 7946 0018",
        "13912345678",
        "+49 30 12345678",
    ],
)
def test_mask_phone_hides_at_least_four_digits_of_any_length(raw: str) -> None:
    masked = mask_phone(raw)
    shown = re.sub(r"\D", "", masked)
    assert "****" in masked
    digits = re.sub(r"\D", "", raw)
    assert len(shown) <= len(digits) - 4, f"{raw!r} -> {masked!r} shows too much"
    # The middle of the number (what identifies the subscriber) never survives.
    middle = digits[len(digits) // 2 - 2 : len(digits) // 2 + 2]
    assert middle not in shown


def test_mask_phone_of_a_fragment_hides_everything() -> None:
    assert mask_phone("12345") == "*****"
    assert mask_phone("") == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zhangsan@qq.com", "z***@qq.com"),
        ("John.Smith+news@example.co.uk", "J***@example.co.uk"),
        ("@example.com", "***@example.com"),
    ],
)
def test_mask_email_keeps_first_letter_and_domain(raw: str, expected: str) -> None:
    assert mask_email(raw) == expected


def test_mask_email_without_at_sign_does_not_echo_the_value() -> None:
    masked = mask_email("zhangsan-qq.com")
    assert masked == "z" + "*" * (len("zhangsan-qq.com") - 1)
    assert "zhangsan" not in masked


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        (" 王小明 ", "王**"),
        ("John Smith", "J. S."),
        ("Mary Ann O'Brien", "M. A. O."),
        ("", ""),
    ],
)
def test_mask_name(raw: str, expected: str) -> None:
    assert mask_name(raw) == expected


def test_mask_national_id_keeps_region_prefix_and_check_digits_only() -> None:
    masked = mask_national_id("110101199003071234")
    assert masked == "110" + "*" * 13 + "34"
    assert "19900307" not in masked


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1990-03-07", "1990-**-**"), ("19900307", "1990-**-**"), ("90", "****")],
)
def test_mask_date_keeps_only_the_year(raw: str, expected: str) -> None:
    assert mask_date(raw) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("mobile_phone", "+8613800138000", "138****8000"),
        ("landline_phone", "010-62345678", "010****5678"),
        ("email", "zhangsan@qq.com", "z***@qq.com"),
        ("full_name", "张三", "张*"),
        ("given_name", "John", "J."),
        ("national_id", "110101199003071234", "110*************34"),
        ("date_of_birth", "1990-03-07", "1990-**-**"),
        # Direct identifiers without a dedicated masker keep two characters.
        ("address_line", "北京市海淀区中关村大街1号", "北京" + "*" * 11),
        ("billing_address_line", "Flat 2, 10 Downing St", "Fl" + "*" * 19),
        # Quasi-identifiers keep their coarse part; short ones are not identifying alone.
        ("postal_code", "100080", "10****"),
        ("city", "北京", "北京"),
        ("gender", "男", "男"),
        # Non-personal fields pass through untouched.
        ("company_name", "ACME Trading", "ACME Trading"),
        ("country_code", "CN", "CN"),
        ("source_record_id", "CRM-000123", "CRM-000123"),
        (
            "membership_level",
            "gold",
            "gold",
        ),
    ],
)
def test_mask_value_by_field_and_sensitivity(field: str, value: str, expected: str) -> None:
    assert mask_value(field, value) == expected


def test_every_direct_identifier_field_is_masked() -> None:
    value = "ABCDEFGHIJKLMNOP1234567890@example.com"
    for field, (_, sensitivity) in CANONICAL_FIELDS.items():
        if sensitivity == "direct":
            masked = mask_value(field, value)
            assert masked != value, field
            assert "GHIJKLMNOP" not in str(masked), field


def test_mask_value_fails_closed_for_unknown_fields() -> None:
    # A column nobody classified is treated as a direct identifier, never shown in full.
    assert mask_value("favourite_secret", "open sesame") == "op*********"


def test_mask_value_passes_none_and_stringifies_other_types() -> None:
    assert mask_value("email", None) is None
    assert mask_value("mobile_phone", 13800138000) == "138****8000"


@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("mobile_phone_e164", "mobile_phone"),
        ("landline_phone_e164", "landline_phone"),
        ("email_normalised", "email"),
        ("email_address", "email"),
        ("name_pinyin", "full_name"),
        ("name_sorted", "full_name"),
        ("FULL_NAME", "full_name"),
        ("national_id_clean", "national_id"),
        ("date_of_birth", "date_of_birth"),
        ("source_name", None),
        ("golden_customer_id", None),
        ("source_record_id", None),
        ("country_code", None),
        ("record_key", None),
    ],
)
def test_field_for_column(column: str, field: str | None) -> None:
    assert field_for_column(column) == field


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("mobile_phone_e164", "+8613800138000", "138****8000"),
        ("email_normalised", "zhangsan@qq.com", "z***@qq.com"),
        ("name_pinyin", "ZHANG SAN", "Z. S."),
        ("source_name", "crm", "crm"),
        ("golden_customer_id", "g-0001", "g-0001"),
    ],
)
def test_mask_evidence_by_column(column: str, value: str, expected: str) -> None:
    assert mask_evidence(column, value) == expected


def test_pseudonym_is_stable_and_distinguishes_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODIAN_MASKING_SALT", "a-secret")
    first = pseudonym("13800138000")
    assert first == pseudonym("13800138000")
    assert first != pseudonym("13800138001")
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert "13800138000" not in first


def test_pseudonym_depends_on_the_key_and_needs_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODIAN_MASKING_SALT", "salt-one")
    salted_one = pseudonym("zhangsan@qq.com")
    monkeypatch.setenv("CUSTODIAN_MASKING_SALT", "salt-two")
    assert pseudonym("zhangsan@qq.com") != salted_one
    monkeypatch.setenv("CUSTODIAN_MASKING_SALT", "salt-one")
    assert pseudonym("zhangsan@qq.com") == salted_one
    # No built-in key: a pseudonym under a key anyone can read is reversed by trying values.
    monkeypatch.delenv("CUSTODIAN_MASKING_SALT")
    with pytest.raises(MaskingError, match="CUSTODIAN_MASKING_SALT is not set"):
        pseudonym("zhangsan@qq.com")


@pytest.fixture
def policy():
    """Set a masking policy for one test; the default (partial) afterwards."""
    yield configure_masking
    configure_masking(MaskingConfig())


def test_each_mode_of_the_masking_section(policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "k")
    phone, born = "+8613800138000", "1990-05-03"
    policy(MaskingConfig(direct="partial", quasi="partial"))
    assert (mask_value("mobile_phone", phone), mask_value("date_of_birth", born)) == (
        "138****8000", "1990-**-**")  # fmt: skip
    policy(MaskingConfig(direct="redact", quasi="none"))
    assert (mask_value("mobile_phone", phone), mask_value("date_of_birth", born)) == ("***", born)
    policy(MaskingConfig(direct="hash", quasi="redact", hash_salt_env="MY_KEY"))
    hashed = mask_value("mobile_phone", phone)
    assert re.fullmatch(r"[0-9a-f]{16}", hashed)
    assert hashed == mask_value("mobile_phone", phone) != mask_value("mobile_phone", phone + "1")
    assert mask_value("date_of_birth", born) == "***"
    # Fields of class none are never masked, whatever the modes.
    assert mask_value("country_code", "CN") == "CN"


def test_a_hash_mode_without_its_key_is_refused_with_what_to_do(
    policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(MaskingError, match="MY_KEY that holds the key is not set"):
        policy(MaskingConfig(quasi="hash", hash_salt_env="MY_KEY"))
    # Refused: the policy in force is unchanged.
    assert mask_value("date_of_birth", "1990-05-03") == "1990-**-**"


def test_a_sensitive_column_is_never_shown_in_part(policy) -> None:
    # corrected_value (a steward's correction of any field) is classed sensitive.
    assert mask_evidence("corrected_value", "110101199005031234") == REDACTED
    policy(MaskingConfig(direct="redact"))
    assert mask_evidence("corrected_value", "110101199005031234") == REDACTED


@pytest.mark.parametrize(
    ("column", "pii_class", "value", "stored"),
    [
        ("email", "direct identifier", "zhangsan@qq.com", "z***@qq.com"),
        ("mobile_phone_e164", "direct identifier", "+8613800138000", "138****8000"),
        ("national_id", "sensitive", "110101199005031234", REDACTED),
        ("postal_code", "quasi-identifier", "100020", "10****"),
        ("membership_level", "none", "Gold", "Gold"),
        # No class in the dictionary: masked as a direct identifier, whatever its name says.
        ("notes", None, "call Zhang San on 13800138000", "ca" + "*" * 27),
        ("email_backup", None, "zhangsan@qq.com", "zh" + "*" * 13),
    ],
)
def test_analyst_values_are_masked_by_their_class_failing_closed(
    column: str, pii_class: str | None, value: str, stored: str
) -> None:
    assert classified_masker(column, pii_class)(value) == stored


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("golden_customer_id", "GC0123456789ABCD", True),
        ("record_key", "crm:CRM0000001", True),
        ("email_is_valid", False, True),
        ("membership_level", "Gold", True),
        ("customer_secret_note", "lives with 张三", False),
        ("email_normalised", "zhang.san@qq.com", False),
    ],
)
def test_mask_evidence_masks_unknown_columns_and_shows_platform_keys(
    column: str, value: object, shown: bool
) -> None:
    from dagster_project.lib.privacy.masking import mask_evidence

    assert (mask_evidence(column, value) == value) is shown


@pytest.mark.parametrize("key", ["k", "a-secret-of-64-bytes-or-more-" * 3, "钥匙"])
def test_the_analyst_databases_sql_pseudonym_is_the_python_one(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    from dagster_project.lib.privacy.analytics import PSEUDONYM_SQL

    monkeypatch.setenv("CUSTODIAN_MASKING_SALT", key)
    values = ["crm:C100001", "陈女士", "", "x" * 200]
    inner, outer = hmac_pads(pseudonym_key())
    con = duckdb.connect()
    con.execute("create temp table _hmac_key as select ?::blob as ipad, ?::blob as opad",
                [inner, outer])  # fmt: skip
    in_sql = [
        con.execute(f"select {PSEUDONYM_SQL.format(value='?')} from _hmac_key", [value]).fetchone()[
            0
        ]
        for value in values
    ]
    assert in_sql == [pseudonym(value) for value in values]
