"""Resident ID numbers: normalisation, GB 11643-1999 check character, legacy 15-digit numbers."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dagster_project.lib.standardise.addresses import _read_division_rows
from dagster_project.lib.standardise.national_id import (
    INVALID_REASONS,
    PROVINCE_CODES,
    NationalIdResult,
    standardise_national_id,
)

# The published algorithm, written out independently of the module's base-13 shortcut.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"


def with_check(first_17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first_17, WEIGHTS, strict=True))
    return first_17 + CHECK_CHARACTERS[total % 11]


def wrong_check(first_17: str) -> str:
    right = with_check(first_17)[-1]
    return first_17 + ("0" if right != "0" else "1")


# Synthetic numbers: real division codes, made-up sequences.
TIANHE_1990 = with_check("44010619900307123")  # 440106 天河区, 1990-03-07, sequence 123 (male)
HAIDIAN_2000 = with_check("11010820000229004")  # leap day, sequence 004 (female)
ENDS_IN_X = "11010519491231002X"  # the standard's own example


def test_the_standard_example_and_the_helper_agree() -> None:
    assert with_check("11010519491231002") == ENDS_IN_X
    assert with_check("13050319670401001") == "130503196704010016"


@pytest.mark.parametrize(
    ("raw", "national_id", "birth_date", "gender"),
    [
        (ENDS_IN_X, ENDS_IN_X, datetime.date(1949, 12, 31), "F"),
        (ENDS_IN_X.lower(), ENDS_IN_X, datetime.date(1949, 12, 31), "F"),
        ("110105 19491231 002x", ENDS_IN_X, datetime.date(1949, 12, 31), "F"),
        ("110105-19491231-002X", ENDS_IN_X, datetime.date(1949, 12, 31), "F"),
        ("  " + ENDS_IN_X + "\t", ENDS_IN_X, datetime.date(1949, 12, 31), "F"),
        ("１１０１０５１９４９１２３１００２ｘ", ENDS_IN_X, datetime.date(1949, 12, 31), "F"),
        ("１１０１０５\u300019491231\u200b002X", ENDS_IN_X, datetime.date(1949, 12, 31), "F"),
        (TIANHE_1990, TIANHE_1990, datetime.date(1990, 3, 7), "M"),
        (HAIDIAN_2000, HAIDIAN_2000, datetime.date(2000, 2, 29), "F"),
        # A Hong Kong resident's residence permit number (810000) has the same structure.
        (with_check("81000019851111031"), with_check("81000019851111031"), None, "M"),
        # A future birth date is not rejected here (no clock in a pure function): SQL does it.
        (with_check("44010620990101123"), with_check("44010620990101123"), None, "M"),
    ],
)
def test_valid_18_character_numbers(
    raw: str, national_id: str, birth_date: datetime.date | None, gender: str
) -> None:
    result = standardise_national_id(raw)
    assert result.is_valid is True
    assert result.invalid_reason is None
    assert result.national_id == national_id
    if birth_date is not None:
        assert result.birth_date == birth_date
    assert result.region_code == national_id[:6]
    assert result.province_code == national_id[:2]
    assert result.gender == gender
    assert result.was_legacy_15 is False


@pytest.mark.parametrize(
    ("raw", "converted", "birth_date", "gender"),
    [
        ("130503670401001", "130503196704010016", datetime.date(1967, 4, 1), "M"),
        ("440106900307124", with_check("44010619900307124"), datetime.date(1990, 3, 7), "F"),
        (
            "４４０１０６ 900307 124",
            with_check("44010619900307124"),
            datetime.date(1990, 3, 7),
            "F",
        ),
    ],
)
def test_valid_15_digit_numbers_become_18_characters(
    raw: str, converted: str, birth_date: datetime.date, gender: str
) -> None:
    result = standardise_national_id(raw)
    assert result == NationalIdResult(
        national_id=converted,
        is_valid=True,
        invalid_reason=None,
        birth_date=birth_date,
        region_code=converted[:6],
        province_code=converted[:2],
        gender=gender,
        was_legacy_15=True,
    )
    # The converted number is a valid 18-character number in its own right.
    again = standardise_national_id(result.national_id)
    assert again._replace(was_legacy_15=True) == result


@pytest.mark.parametrize(
    ("raw", "national_id", "reason"),
    [
        (wrong_check("44010619900307123"), wrong_check("44010619900307123"), "bad_check_digit"),
        ("110105194912310021", "110105194912310021", "bad_check_digit"),
        (TIANHE_1990[:17], TIANHE_1990[:17], "bad_length"),  # 17 digits
        (TIANHE_1990 + "1", TIANHE_1990 + "1", "bad_length"),  # 19 characters
        ("4401061990030712", "4401061990030712", "bad_length"),  # 16 digits
        ("12345", "12345", "bad_length"),
        ("11010519491231002A", "11010519491231002A", "bad_characters"),
        ("1101051949123100X2", "1101051949123100X2", "bad_characters"),  # X not last
        ("13050367040100X", "13050367040100X", "bad_characters"),  # a 15-digit number has no X
        ("ID 11010519491231002X", "ID11010519491231002X", "bad_characters"),
        ("n/a", "n/a", "bad_characters"),  # only x is uppercased: it is the one letter allowed
        ("٤٤٠١٠٦١٩٩٠٠٣٠٧١٢٣٤", "٤٤٠١٠٦١٩٩٠٠٣٠٧١٢٣٤", "bad_characters"),  # Arabic-Indic digits
        (with_check("99010119900101123"), with_check("99010119900101123"), "unknown_region"),
        (with_check("00010119900101123"), with_check("00010119900101123"), "unknown_region"),
        (with_check("44010619900230123"), with_check("44010619900230123"), "bad_birth_date"),
        (with_check("44010619901301123"), with_check("44010619901301123"), "bad_birth_date"),
        (with_check("44010619000229123"), with_check("44010619000229123"), "bad_birth_date"),
        (with_check("44010618991231123"), with_check("44010618991231123"), "bad_birth_date"),
        ("440106900230123", "440106900230123", "bad_birth_date"),  # legacy, Feb 30
        ("990101900101123", "990101900101123", "unknown_region"),  # legacy, province 99
    ],
)
def test_invalid_numbers(raw: str, national_id: str, reason: str) -> None:
    result = standardise_national_id(raw)
    assert result.is_valid is False
    assert result.invalid_reason == reason
    assert reason in INVALID_REASONS
    assert result.national_id == national_id
    assert result.was_legacy_15 is False


def test_an_invalid_number_still_carries_what_its_shape_allows() -> None:
    bad_check = standardise_national_id(wrong_check("44010619900307123"))
    assert bad_check.birth_date == datetime.date(1990, 3, 7)
    assert (bad_check.region_code, bad_check.province_code, bad_check.gender) == (
        "440106",
        "44",
        "M",
    )
    feb_30 = standardise_national_id(with_check("44010619900230123"))
    assert (feb_30.birth_date, feb_30.province_code) == (None, "44")
    unknown = standardise_national_id(with_check("99010119900101123"))
    assert (unknown.region_code, unknown.province_code) == ("990101", None)
    assert unknown.birth_date == datetime.date(1990, 1, 1)
    letters = standardise_national_id("11010519491231002A")
    assert letters.birth_date is letters.region_code is letters.gender is None


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n", " - ", "\u3000"])
def test_not_given(raw: str | None) -> None:
    assert standardise_national_id(raw) == NationalIdResult(
        None, None, None, None, None, None, None, None
    )


def test_province_codes_agree_with_the_division_data() -> None:
    data_provinces = {code[:2] for level, _, code, _ in _read_division_rows() if level == 0}
    # The residence-permit prefix 83 is the only code not in GB/T 2260.
    assert data_provinces == PROVINCE_CODES - {"83"}


# --- Properties ---------------------------------------------------------------------------------

COUNTY_CODES = sorted({code for level, _, code, _ in _read_division_rows() if level == 2})


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(COUNTY_CODES))
    born = draw(
        st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2030, 12, 31))
    )
    sequence = draw(st.integers(min_value=0, max_value=999))
    return with_check(f"{region}{born:%Y%m%d}{sequence:03d}")


@given(valid_ids())
@settings(max_examples=300, deadline=None)
def test_generated_numbers_are_valid_and_read_back(number: str) -> None:
    result = standardise_national_id(number)
    assert result.is_valid is True, result
    assert result.national_id == number
    assert result.birth_date == datetime.date(
        int(number[6:10]), int(number[10:12]), int(number[12:14])
    )
    assert result.gender == ("M" if int(number[16]) % 2 else "F")
    assert standardise_national_id(number.lower()) == result


@given(valid_ids(), st.integers(min_value=0, max_value=17), st.integers(min_value=1, max_value=10))
@settings(max_examples=300, deadline=None)
def test_any_single_character_change_is_caught_by_the_check_character(
    number: str, position: int, shift: int
) -> None:
    alphabet = "0123456789X" if position == 17 else "0123456789"
    old = alphabet.index(number[position])
    changed = alphabet[(old + shift) % len(alphabet)]
    if changed == number[position]:
        changed = alphabet[(old + 1) % len(alphabet)]
    mutated = number[:position] + changed + number[position + 1 :]
    result = standardise_national_id(mutated)
    assert result.is_valid is False
    # MOD 11-2 detects every single substitution, and the check character is tested first.
    assert result.invalid_reason == "bad_check_digit"


@given(valid_ids(), st.integers(min_value=0, max_value=15))
@settings(max_examples=200, deadline=None)
def test_swapping_two_adjacent_different_digits_is_caught(number: str, position: int) -> None:
    if number[position] == number[position + 1]:
        return
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    assert standardise_national_id(swapped).is_valid is False


@given(valid_ids().filter(lambda n: n[6:8] == "19"))
@settings(max_examples=200, deadline=None)
def test_a_legacy_number_converts_to_its_18_character_form(number: str) -> None:
    legacy = number[:6] + number[8:17]  # no century, no check character
    result = standardise_national_id(legacy)
    assert result.national_id == number
    assert result.was_legacy_15 is True


@given(st.text(max_size=40))
@example("\x00" * 18)
@example("１" * 18)
@example("1" * 10_000)
@example("ᄀ-ᅡ")  # Hangul jamo that compose once the hyphen between them is removed
@example("x\u0307")  # x with a combining dot: NFKC composes it, X would not
@settings(max_examples=500, deadline=None)
def test_never_raises_and_is_idempotent(text: str) -> None:
    result = standardise_national_id(text)
    assert (result.is_valid is None) == (result.national_id is None)
    assert (result.invalid_reason is not None) == (result.is_valid is False)
    assert result.invalid_reason is None or result.invalid_reason in INVALID_REASONS
    if result.is_valid:
        assert len(result.national_id or "") == 18
    again = standardise_national_id(result.national_id)
    assert again._replace(was_legacy_15=result.was_legacy_15) == result
