"""Phone standardiser: the demo sources' formats, the validity contract, and exactness against
the plain phonenumbers pipeline that `standardise_phone` shortcuts (digit path, prefix tables).
"""

from __future__ import annotations

import itertools
import random
import unicodedata

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonenumberutil import ValidationResult

from dagster_project.lib.standardise import phones
from dagster_project.lib.standardise.phones import (
    INVALID_REASONS,
    PHONE_TYPES,
    PhoneResult,
    standardise_phone,
    to_e164,
)

NOT_GIVEN = PhoneResult(None, None, None, None, None, None)

# --- The reference: one phonenumbers call per question, nothing cached or skipped -------------

_PARSE_REASON = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_POSSIBLE_REASON = {
    ValidationResult.IS_POSSIBLE: "invalid_for_region",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "missing_area_code",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.INVALID_LENGTH: "invalid_length",
    ValidationResult.TOO_LONG: "too_long",
}


def reference(raw: str | None, region: str | None) -> PhoneResult:
    """The module's documented input rules, then the straightforward phonenumbers calls."""
    if raw is None:
        return NOT_GIVEN
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return NOT_GIVEN
    if text.startswith("00"):
        text = "+" + text[2:]
    key = region.strip() if isinstance(region, str) else ""
    key = key.upper() if key.isascii() else ""
    region_code = key if key in phonenumbers.SUPPORTED_REGIONS else None
    try:
        number = phonenumbers.parse(text, region_code)
    except NumberParseException as error:
        reason = _PARSE_REASON[error.error_type]
        # parse raises INVALID_COUNTRY_CODE both for "+999" and for "no region, no +"; this is
        # the check it runs for the second.
        if reason == "invalid_country_code" and not pnu._check_region_for_parsing(
            pnu._build_national_number_for_parsing(text), region_code
        ):
            reason = "unknown_region"
        return PhoneResult(None, "unknown", None, None, False, reason)
    valid = phonenumbers.is_valid_number(number)
    number_region = phonenumbers.region_code_for_number(number)
    return PhoneResult(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164) if valid else None,
        phone_type=PhoneNumberType.to_string(phonenumbers.number_type(number)).lower(),
        region=None if number_region == "001" else number_region,
        extension=number.extension or None,
        is_valid=valid,
        invalid_reason=None
        if valid
        else _POSSIBLE_REASON[phonenumbers.is_possible_number_with_reason(number)],
    )


# --- Formats the sources send, and other countries -------------------------------------------

MOBILE = ("+8613800138000", "mobile", "CN", True, None)
LANDLINE = ("+861062345678", "fixed_line", "CN", True, None)
US_NUMBER = ("+14155550134", "fixed_line_or_mobile", "US", True, None)
UK_MOBILE = ("+447554944865", "mobile", "GB", True, None)


def _invalid(reason: str, region: str | None = None) -> tuple[object, ...]:
    return (None, "unknown", region, False, reason)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        # Mainland mobiles in every shape the demo sources write.
        ("13800138000", "CN", MOBILE),
        ("138 0013 8000", "CN", MOBILE),
        ("138-0013-8000", "CN", MOBILE),
        ("+86 138 0013 8000", "CN", MOBILE),
        ("+8613800138000", "CN", MOBILE),
        ("+86-13800138000", "CN", MOBILE),
        ("0086 13800138000", "CN", MOBILE),
        ("0086-138-0013-8000", "CN", MOBILE),
        ("１３８００１３８０００", "CN", MOBILE),
        ("＋８６\u3000１３８\u3000００１３\u3000８０００", "CN", MOBILE),
        ("  138 0013 8000\t", "CN", MOBILE),
        ("8613800138000", "CN", MOBILE),  # the country code without +
        ("Tel: 138 0013 8000", "CN", MOBILE),  # phonenumbers skips leading text
        ("13800138000", "cn", MOBILE),  # region in any case
        ("+8613800138000", "US", MOBILE),  # +86 wins over the record's country
        ("0086 13800138000", "US", MOBILE),  # 00 is an international prefix everywhere
        # Mainland landlines.
        ("010-62345678", "CN", LANDLINE),
        ("(010)62345678", "CN", LANDLINE),
        ("+86 10 62345678", "CN", LANDLINE),
        ("+86 (0)10 6234 5678", "CN", LANDLINE),
        ("０１０－６２３４５６７８", "CN", LANDLINE),
        ("0755-86013388", "CN", ("+8675586013388", "fixed_line", "CN", True, None)),
        # United States.
        ("(415) 555-0134", "US", US_NUMBER),
        ("+1 415-555-0134", "CN", US_NUMBER),
        ("1 (415) 555-0134", "US", US_NUMBER),
        ("555-0134", "US", _invalid("missing_area_code")),
        # A US number on a record whose country says CN reads as a Dandong landline: the
        # record's country is trusted, as phonenumbers does.
        ("(415) 555-0134", "CN", ("+864155550134", "fixed_line", "CN", True, None)),
        # United Kingdom.
        ("+44 7554 944865", "CN", UK_MOBILE),
        ("+44-7554944865", "CN", UK_MOBILE),
        ("07554 944865", "GB", UK_MOBILE),
        ("+44 (0)7554 944865", "GB", UK_MOBILE),
        ("0044 7554 944865", "US", UK_MOBILE),
        ("011 44 7554 944865", "US", UK_MOBILE),  # the US international prefix
        ("020 7946 0018", "GB", ("+442079460018", "fixed_line", "GB", True, None)),
        # Germany, France, Australia, Japan, Singapore, Hong Kong, Italy.
        ("030 12345678", "DE", ("+493012345678", "fixed_line", "DE", True, None)),
        ("+49 151 23456789", "CN", ("+4915123456789", "mobile", "DE", True, None)),
        ("06 12 34 56 78", "FR", ("+33612345678", "mobile", "FR", True, None)),
        ("01 23 45 67 89", "FR", ("+33123456789", "fixed_line", "FR", True, None)),
        ("0412 345 678", "AU", ("+61412345678", "mobile", "AU", True, None)),
        ("(02) 9876 5432", "AU", ("+61298765432", "fixed_line", "AU", True, None)),
        ("090-1234-5678", "JP", ("+819012345678", "mobile", "JP", True, None)),
        ("03-1234-5678", "JP", ("+81312345678", "fixed_line", "JP", True, None)),
        ("9123 4567", "SG", ("+6591234567", "mobile", "SG", True, None)),
        ("+65 6123 4567", "CN", ("+6561234567", "fixed_line", "SG", True, None)),
        ("5123 4567", "HK", ("+85251234567", "mobile", "HK", True, None)),
        ("+852 2123 4567", "CN", ("+85221234567", "fixed_line", "HK", True, None)),
        ("06 1234 5678", "IT", ("+390612345678", "fixed_line", "IT", True, None)),
        ("+39 06 1234 5678", "CN", ("+390612345678", "fixed_line", "IT", True, None)),
        ("+800 1234 5678", "CN", ("+80012345678", "toll_free", None, True, None)),
        ("1-800-FLOWERS", "US", ("+18003569377", "toll_free", "US", True, None)),
        # Invalid values, each with its reason.
        ("138 0013 80", "CN", _invalid("invalid_for_region", "CN")),  # 2 digits lost
        ("1380013", "CN", _invalid("invalid_for_region", "CN")),
        ("+86 12345678901", "CN", _invalid("invalid_for_region", "CN")),  # no 12x mobiles
        ("623456", "CN", _invalid("missing_area_code", "CN")),
        ("+86 1", "CN", _invalid("too_short")),
        ("+86 1380013800012345678", "CN", _invalid("too_long")),
        ("138 0013 8000 / 139 0013 9000", "CN", _invalid("too_long")),
        ("1", "CN", _invalid("not_a_number")),
        ("+86", "CN", _invalid("not_a_number")),
        ("hello", "CN", _invalid("not_a_number")),
        ("n/a", "CN", _invalid("not_a_number")),
        ("+999 1234 5678", "CN", _invalid("invalid_country_code")),
        ("0099 1234 5678", "CN", _invalid("invalid_country_code")),
        ("13800138000", None, _invalid("unknown_region")),
        ("13800138000", "ZZ", _invalid("unknown_region")),
        ("13800138000", "", _invalid("unknown_region")),
        ("13800138000", "China", _invalid("unknown_region")),
    ],
)
def test_standardise_phone(raw: str, region: str | None, expected: tuple[object, ...]) -> None:
    result = standardise_phone(raw, region)
    e164, phone_type, number_region, is_valid, reason = expected
    assert (result.e164, result.phone_type, result.region) == (e164, phone_type, number_region)
    assert (result.is_valid, result.invalid_reason) == (is_valid, reason)
    assert result.extension is None
    assert result == reference(raw, region)


@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("+1 415 555 0134 ext. 12", "12"),
        ("(415) 555-0134 x305", "305"),
        ("+1-415-555-0134;ext=7", "7"),
    ],
)
def test_extensions_are_kept_apart_from_the_e164(raw: str, extension: str) -> None:
    result = standardise_phone(raw, "US")
    assert result.e164 == "+14155550134"
    assert result.extension == extension
    assert result.is_valid is True


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", "\t\n"])
def test_a_missing_value_is_not_given_rather_than_invalid(raw: str | None) -> None:
    assert standardise_phone(raw, "CN") == NOT_GIVEN


def test_to_e164_is_the_e164_field() -> None:
    assert to_e164("138-0013-8000") == "+8613800138000"
    assert to_e164("138 0013 80") is None
    assert to_e164(None) is None


def test_published_vocabularies_match_phonenumbers() -> None:
    assert set(PHONE_TYPES) == {
        PhoneNumberType.to_string(value).lower() for value in PhoneNumberType.values()
    }
    assert len(set(INVALID_REASONS)) == len(INVALID_REASONS)
    assert all(reason.isidentifier() and reason.islower() for reason in INVALID_REASONS)


# --- Contract on arbitrary input -------------------------------------------------------------

REGIONS = ["CN", "US", "GB", "DE", "FR", "AU", "JP", "SG", "HK", "IT", "IN", "BR"]
ODD_REGIONS = [None, "", "ZZ", "001", "cn", " us ", "gb", "China", "ß", "\u3000CN"]
any_region = st.one_of(st.sampled_from(REGIONS + ODD_REGIONS), st.text(max_size=4))


def assert_contract(result: PhoneResult) -> None:
    assert isinstance(result, PhoneResult)
    if result.is_valid is None:
        assert result == NOT_GIVEN
        return
    assert result.phone_type in PHONE_TYPES
    if result.is_valid:
        assert result.invalid_reason is None
        assert result.e164 is not None
        assert result.e164.startswith("+")
        assert result.e164[1:].isdigit()
        assert result.e164.isascii()
        assert 3 <= len(result.e164) <= 21
    else:
        assert result.invalid_reason in INVALID_REASONS
        assert result.e164 is None
    assert result.region is None or (len(result.region) == 2 and result.region.isupper())


@given(st.one_of(st.none(), st.text(max_size=40)), any_region)
@example("+" * 300, "CN")
@example("0" * 300, "CN")
@example("\x00\x1c\u200b138 0013 8000", "CN")
@example("tel:+86-10-62345678;phone-context=+86", None)
@example("13800138000;phone-context=", "CN")
@example("ﷺ" * 30, "CN")  # NFKC expands it to 18 characters each: past parse's 250
@settings(max_examples=1000, deadline=None)
def test_never_raises_and_keeps_the_contract(raw: str | None, region: str | None) -> None:
    result = standardise_phone(raw, region)
    assert_contract(result)
    assert standardise_phone(raw, region) == result  # deterministic, caches included


_PHONE_ALPHABET = st.sampled_from([*"0123456789+ -.()/x#,;", "０", "８", "＋", "\u3000"])


@given(st.text(alphabet=_PHONE_ALPHABET, max_size=24), any_region)
@settings(max_examples=1000, deadline=None)
def test_phone_like_text_agrees_with_phonenumbers(raw: str, region: str | None) -> None:
    # Digits with every separator and extension marker: where the digit path and parse meet.
    assert standardise_phone(raw, region) == reference(raw, region)


# --- Exactness against the reference on numbers in many shapes and regions -------------------


def _examples() -> list[tuple[str, int, str]]:
    """(region, calling code, national number) of every example phonenumbers ships."""
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.add((region, number.country_code, pnu.national_significant_number(number)))
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.add(("001", code, pnu.national_significant_number(number)))
    return sorted(found)


EXAMPLES = _examples()
FOCUS = [entry for entry in EXAMPLES if entry[0] in REGIONS]
SEPARATORS = ["", "", "", "", " ", "-", ".", "(", ")", "/", " - "]
SHAPES = (
    "+{code}{national}",
    "+{code} {national}",
    "00{code}{national}",
    "{national}",
    "{trunk}{national}",
    "+{code} (0){national}",
    "+{code}0{national}",
    "{code}{national}",
    "011{code}{national}",
    "0{national}",
    "Tel: {trunk}{national}",
    "{trunk}{national} ext. 42",
)
FULL_WIDTH = str.maketrans("0123456789+()- ", "０１２３４５６７８９＋（）－\u3000")


@st.composite
def corrupted(draw: st.DrawFn, national: str) -> str:
    """The number as it is, or with digits lost, added, changed or its tail replaced."""
    digits = list(national)
    kind = draw(st.sampled_from(["keep", "keep", "drop", "add", "change", "tail"]))
    if kind == "drop":
        for _ in range(draw(st.integers(1, 3))):
            if len(digits) > 1:
                digits.pop(draw(st.integers(0, len(digits) - 1)))
    elif kind == "add":
        for _ in range(draw(st.integers(1, 2))):
            position = draw(st.integers(0, len(digits)))
            digits.insert(position, draw(st.sampled_from("0123456789")))
    elif kind == "change":
        digits[draw(st.integers(0, len(digits) - 1))] = draw(st.sampled_from("0123456789"))
    elif kind == "tail":
        keep = draw(st.integers(0, len(digits)))
        tail = draw(st.text("0123456789", min_size=len(digits) - keep, max_size=len(digits) - keep))
        digits = digits[:keep] + list(tail)
    return "".join(digits)


@st.composite
def written_numbers(draw: st.DrawFn, pool: list[tuple[str, int, str]]) -> tuple[str, str | None]:
    """(text, record region): an example number, maybe corrupted, in one of many shapes."""
    region, code, national = draw(st.sampled_from(pool))
    national = draw(corrupted(national))
    trunk = "" if region == "001" else phonenumbers.ndd_prefix_for_region(region, True) or ""
    text = draw(st.sampled_from(SHAPES)).format(code=code, national=national, trunk=trunk)
    gaps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(text), max_size=len(text)))
    text = "".join(char + gap for char, gap in zip(text, gaps, strict=True))
    if draw(st.integers(0, 9)) == 0:
        text = text.translate(FULL_WIDTH)
    record_region = draw(st.sampled_from([region, region, region, *REGIONS, *ODD_REGIONS]))
    return text, (None if record_region == "001" else record_region)


@given(written_numbers(FOCUS))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_agrees_with_phonenumbers_in_the_main_regions(case: tuple[str, str | None]) -> None:
    raw, region = case
    assert standardise_phone(raw, region) == reference(raw, region)


@given(written_numbers(EXAMPLES))
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_agrees_with_phonenumbers_in_every_region(case: tuple[str, str | None]) -> None:
    raw, region = case
    assert standardise_phone(raw, region) == reference(raw, region)


@given(st.from_regex(r"\+?[0-9]{1,18}", fullmatch=True), any_region)
@settings(max_examples=500, deadline=None)
def test_agrees_with_phonenumbers_on_bare_digit_strings(raw: str, region: str | None) -> None:
    assert standardise_phone(raw, region) == reference(raw, region)


def test_every_example_number_of_every_region_and_type() -> None:
    mismatches = []
    for region, code, national in EXAMPLES:
        record_region = None if region == "001" else region
        trunk = phonenumbers.ndd_prefix_for_region(record_region, True) if record_region else ""
        for raw in (f"+{code}{national}", f"+{code} {national}", f"{trunk or ''}{national}"):
            result = standardise_phone(raw, record_region)
            if result != reference(raw, record_region):
                mismatches.append((raw, record_region))
        assert standardise_phone(f"+{code}{national}", None).is_valid, (code, national)
    assert mismatches == []


def test_numbers_sharing_prefixes_get_their_own_answers() -> None:
    """The prefix tables' claim, tested where it is most likely to break: many numbers that
    share long prefixes with valid ones but differ in length or in a digit near the point where
    the table stops looking."""
    rng = random.Random(20261123)
    mismatches = []
    for _, code, national in FOCUS:
        for _ in range(12):
            keep = rng.randint(0, len(national))
            length = len(national) + rng.choice((-2, -1, 0, 0, 0, 1))
            tail = "".join(rng.choice("0123456789") for _ in range(max(0, length - keep)))
            raw = f"+{code}{national[:keep]}{tail}"
            if standardise_phone(raw, "CN") != reference(raw, "CN"):
                mismatches.append(raw)
    assert mismatches == []
    for table in phones._TABLES.values():
        keys = sorted(table.prefixes)
        # Prefix-free: sorted order puts a key right before any key it prefixes.
        assert not any(b.startswith(a) for a, b in itertools.pairwise(keys))


# --- E.164 round trip ------------------------------------------------------------------------


@given(written_numbers(FOCUS), any_region)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_valid_e164_standardises_to_itself(
    case: tuple[str, str | None], region: str | None
) -> None:
    first = standardise_phone(*case)
    if not first.is_valid:
        return
    again = standardise_phone(first.e164, region)
    assert (again.e164, again.phone_type, again.region) == (
        first.e164,
        first.phone_type,
        first.region,
    )
    assert again.is_valid is True
    assert again.invalid_reason is None


# --- The pieces the speed rests on -----------------------------------------------------------


def test_clean_shapes_never_reach_phonenumbers_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digit path covers what the sources send; once a prefix is known, a new number under
    it costs no phonenumbers call at all."""
    shapes = [
        "{m}",
        "{m3} {m4} {m4b}",
        "{m3}-{m4}-{m4b}",
        "+86 {m3} {m4} {m4b}",
        "+86{m}",
        "+86-{m}",
        "0086 {m}",
        "０{l}",
        "0{l2}-{l8}",
        "(0{l2}){l8}",
        "+86 {l2} {l8}",
    ]

    def render(shape: str, mobile: str, landline: str) -> str:
        return shape.format(
            m=mobile, m3=mobile[:3], m4=mobile[3:7], m4b=mobile[7:],
            l=landline, l2=landline[:2], l8=landline[2:],
        )  # fmt: skip

    for shape in shapes:  # learn the prefixes: no table needs all 10-11 digits to decide
        assert standardise_phone(render(shape, "13800138001", "1062345670"), "CN").is_valid

    def refuse(*args: object) -> None:
        raise AssertionError("phonenumbers was called")

    for name in ("parse", "number_type", "is_valid_number", "region_code_for_number"):
        monkeypatch.setattr(phonenumbers, name, refuse)
    for shape in shapes[:-4]:
        assert standardise_phone(render(shape, "13800138000", ""), "CN").e164 == "+8613800138000"
    for shape in shapes[-3:]:
        assert standardise_phone(render(shape, "", "1062345678"), "CN").e164 == "+861062345678"


def _walk_to_match(automaton: phones._Automaton, rng: random.Random) -> str:
    """A digit string the automaton accepts (or the dead end a random walk reaches)."""
    state, digits = automaton.start, ""
    for _ in range(20):
        if automaton.verdict(state, 0) == phones._ALL and rng.random() < 0.3:
            break
        steps = automaton.step(state)
        alive = [digit for digit, after in enumerate(steps) if not automaton.is_dead(after)]
        if not alive:
            break
        digit = rng.choice(alive)
        state, digits = steps[digit], digits + str(digit)
    return digits


def test_automata_accept_exactly_what_the_patterns_match() -> None:
    """Every metadata pattern of 40 calling codes (the focus regions' among them): its
    automaton against the regex itself, on strings it accepts and their near misses."""
    rng = random.Random(7)
    codes = {code for _, code, _ in FOCUS} | set(
        rng.sample(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE), 28)
    )
    for code in codes:
        for length in range(2, 18):
            assert phones._automata_for(code, length) is not None
    checked = 0
    for (pattern, prefix_match), automaton in list(phones._AUTOMATA.items()):
        compiled = phonenumbers.re_util.re_compile(pattern)
        matches = compiled.match if prefix_match else compiled.fullmatch
        for _ in range(8):
            accepted = _walk_to_match(automaton, rng)
            position = rng.randint(0, len(accepted))
            near = [
                accepted,
                accepted[:-1],
                accepted + rng.choice("0123456789"),
                accepted[:position] + rng.choice("0123456789") + accepted[position + 1 :],
                "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17))),
            ]
            for digits in near:
                state = automaton.start
                for char in digits:
                    state = automaton.step(state)[ord(char) - 48]
                in_language = automaton.verdict(state, 0) == phones._ALL
                assert in_language == (matches(digits) is not None), (pattern, digits)
                checked += 1
    assert checked > 20_000
