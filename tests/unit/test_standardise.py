"""Standardisation: names, phone numbers and countries as the matching step needs them."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dagster_project.lib.standardise.countries import to_iso_country
from dagster_project.lib.standardise.names import clean_name, name_tokens, to_pinyin
from dagster_project.lib.standardise.phones import to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＺＨＡＮＧ　ＳＡＮ", "ZHANG SAN"),  # full-width letters and ideographic space
        ("Ｊｏｈｎ　Ｓｍｉｔｈ", "John Smith"),
        ("张 三", "张三"),
        ("  张　三  ", "张三"),
        ("张三!!", "张三"),
        ("【张三】", "张三"),
        ("John   Smith", "John Smith"),
        ("John; Smith.", "John Smith"),
        ("O'Brien-Smith", "O'Brien-Smith"),
        ("李·四", "李·四"),
        ("", None),
        ("   ", None),
        ("!!!", None),
        (None, None),
    ],
)
def test_clean_name(raw: str | None, expected: str | None) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "ZHANG SAN"),
        ("张 三", "ZHANG SAN"),
        ("欧阳娜娜", "OU YANG NA NA"),
        ("john smith", "JOHN SMITH"),
        ("Ｚｈａｎｇ Ｓａｎ", "ZHANG SAN"),
        ("", None),
        (None, None),
    ],
)
def test_to_pinyin(raw: str | None, expected: str | None) -> None:
    assert to_pinyin(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三丰", ["ZHANG", "SANFENG"]),
        ("张三", ["ZHANG", "SAN"]),
        ("张 三 丰", ["ZHANG", "SANFENG"]),
        ("欧阳娜娜", ["OUYANG", "NANA"]),
        ("司马光", ["SIMA", "GUANG"]),
        ("王先生", ["WANG"]),
        ("李小姐", ["LI"]),
        ("欧阳女士", ["OUYANG"]),
        ("Smith, John", ["JOHN", "SMITH"]),
        ("Ms Booth", ["BOOTH"]),
        ("Mr. Smith", ["SMITH"]),
        ("Dr John Smith", ["JOHN", "SMITH"]),
        ("zhang san", ["ZHANG", "SAN"]),
        ("Mary-Jane Watson", ["MARY", "JANE", "WATSON"]),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_name_tokens(raw: str | None, expected: list[str] | None) -> None:
    assert name_tokens(raw) == expected


def test_han_and_latin_spellings_of_one_name_share_tokens() -> None:
    assert sorted(name_tokens("张三")) == sorted(name_tokens("San Zhang"))
    assert sorted(name_tokens("张三")) == sorted(name_tokens("Zhang, San"))


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("13800138000", "CN", "+8613800138000"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86-13800138000", "CN", "+8613800138000"),
        ("0086 138 0013 8000", "CN", "+8613800138000"),
        ("１３８００１３８０００", "CN", "+8613800138000"),
        ("+８６ １３８ ００１３ ８０００", "CN", "+8613800138000"),
        ("  138-0013-8000  ", "CN", "+8613800138000"),
        ("010-62345678", "CN", "+861062345678"),
        ("+1 (415) 555-0134", "CN", "+14155550134"),
        ("(415) 555-0134", "US", "+14155550134"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 20 7946 0018", "CN", "+442079460018"),
        ("+49 30 12345678", "CN", "+493012345678"),
        # A Chinese mobile read as a US number is not valid there: no silent re-reading.
        ("13800138000", "US", None),
        ("138 0013 800", "CN", None),  # one digit short
        ("12345", "CN", None),
        ("+86", "CN", None),
        ("00", "CN", None),
        ("hello", "CN", None),
        ("n/a", "CN", None),
        ("", "CN", None),
        (None, "CN", None),
    ],
)
def test_to_e164(raw: str | None, region: str, expected: str | None) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("中国", "CN"),
        ("中华人民共和国", "CN"),
        ("美国", "US"),
        ("United Kingdom", "GB"),
        ("united   kingdom", "GB"),
        ("usa", "US"),
        ("ＵＳＡ", "US"),
        ("  de ", "DE"),
        ("CHN", "CN"),
        ("Narnia", None),
        ("", None),
        (None, None),
    ],
)
def test_to_iso_country(raw: str | None, expected: str | None) -> None:
    assert to_iso_country(raw) == expected


# Hangul jamo joined by the removal of a space between Han characters compose under NFKC;
# a single pass once left them decomposed, so a second pass changed the name.
@given(st.text(max_size=40))
@example("张ᄀ!ᅡ")
@example("张 e\u0301")
@settings(max_examples=300, deadline=None)
def test_clean_name_never_raises_and_is_idempotent(text: str) -> None:
    cleaned = clean_name(text)
    assert cleaned is None or (cleaned and cleaned == cleaned.strip())
    assert clean_name(cleaned) == cleaned


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@example("+")
@example("00")
@example("0" * 300)
@example("+86" + "1" * 100)
@settings(max_examples=300, deadline=None)
def test_to_e164_never_raises_on_arbitrary_text(text: str) -> None:
    result = to_e164(text)
    assert result is None or (result.startswith("+") and result[1:].isdigit())


@given(st.from_regex(r"1(3[0-9]|8[0-9]|5[0-35-9])[0-9]{8}", fullmatch=True))
@settings(max_examples=100, deadline=None)
def test_to_e164_of_a_cn_mobile_in_an_allocated_block_keeps_every_digit(digits: str) -> None:
    spaced = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    assert to_e164(digits) == "+86" + digits
    assert to_e164(spaced) == "+86" + digits
    assert to_e164("+86" + digits, "US") == "+86" + digits
