"""Phone numbers to E.164 with type, region and a reason when invalid (R13).

`standardise_phone` returns exactly what the plain `phonenumbers` pipeline says about the
normalised text (`parse`, `is_valid_number`, `number_type`, `region_code_for_number`, E.164
formatting, `is_possible_number_with_reason`), but that pipeline costs ~50-70 µs a number and
a 1,000,000-record run standardises ~1.3M distinct phone strings with a budget of ~5 µs each
(20 s for ~8 fields). Three shortcuts bring it to ~2-4 µs; each is exact, and each hands the
number back to `phonenumbers` itself whenever its preconditions do not hold:

1. Canonical digits. Text made only of ASCII digits, a leading `+` and the separators
   ` -.()/` parses exactly as its digits do: phonenumbers drops those separators, and none of
   them can start an extension, an RFC 3966 field or a letter word. Anything else (letters,
   `x`, `#`, `,`, tabs, Arabic-Indic digits, a second `+`) goes through `parse`.
2. Parsing without `parse`. For such digits the steps of `parse` that can matter are replayed:
   the calling code after `+` (codes are prefix-free, so the first three digits decide it), the
   region's international dialling prefix (then `parse` takes over), the region's own code
   written without `+` (phonenumbers' own helpers decide) and the national prefix (the `0` of
   `010-62345678`, `+86 (0)10 ...`). A two-digit opening screen, computed from each prefix
   pattern's automaton (below), skips all of it for openings those patterns can never match:
   a mainland mobile goes straight to step 3.
3. Validity, type and region by prefix. Those answers are regex full matches of the national
   number against the metadata patterns of its calling code, gated by lengths. Each pattern is
   compiled into a digit automaton from `re._parser`'s parse of the pattern itself; for a
   number of length L the walk stops at the first prefix after which every pattern accepts
   all completions to length L or none, so (code, L, that prefix) decides the answer for all
   numbers sharing it, and phonenumbers computes it once. CN mobiles are decided after 3
   digits, US numbers mostly after 4; no code/length needs more than 8. A pattern the builder
   does not model (none in phonenumbers 9.0) makes its code ask phonenumbers every time.

Not done, measured: a cache keyed by (region, canonical digits), so that `138 0013 8000` and
`13800138000` share one answer. The caller feeds distinct values in hash order, so hits need the
whole working set held; on 432k shuffled strings (150k mobiles in 2-4 formats each) it held
+51 MiB and was slower (5.5 against 3.8 µs a call): a lookup in a dict that large costs what
the digit path does.

Input rules, applied before anything else (the reference in the tests applies them too):
- NFKC first (full-width digits, `＋`, `（`, ideographic spaces), then surrounding whitespace
  is stripped; None, empty or whitespace only is "not given" and every field is None.
- A leading `00` is an international prefix in every region (`0086 138...`, `0044 7554...`):
  the sources write it so even for records whose country dials out with `011`.
- `default_region` is the record's country as ISO alpha-2 in any case (`cn` works); anything
  else (None, "", "ZZ", a name) is unknown, and then only numbers with `+`/`00` can be read.
- Extensions phonenumbers knows (`x12`, `ext. 12`, `#12`, `;ext=12`) are kept apart in
  `extension`: E.164 has no room for them, and matching keys on the line itself. Chinese
  markers (`转123`, `分机123`) are not among them: such values are `not_a_number`.
- phonenumbers' leniency stays: text before the number is skipped (`Tel: 138...`) and 3+
  letters are read as keypad digits (`1-800-FLOWERS`).
- Validity is phonenumbers': a mainland mobile that lost 2-3 digits usually still has a
  possible length (landlines have 9-10), so its reason is `invalid_for_region`, not
  `too_short`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, PhoneNumberType
from phonenumbers import phonenumberutil as _pnu
from phonenumbers.phonenumberutil import ValidationResult

try:  # Python 3.11 renamed sre_parse / sre_constants to private modules of `re`.
    from re import _constants as _sre_constants
    from re import _parser as _sre_parser
except ImportError:  # pragma: no cover - older interpreters
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]

# phonenumbers recompiles every metadata pattern through `re`'s 512-entry cache unless told to
# keep them; other standardisers' regexes would evict them and cost ~100 µs per recompile.
phonenumbers.re_util.enable_pattern_cache()


class PhoneResult(NamedTuple):
    """One phone value, standardised."""

    e164: str | None  # "+8613800138000" when valid, else None
    phone_type: str | None  # one of PHONE_TYPES when given, None when not given
    region: str | None  # ISO alpha-2 of the number when phonenumbers can tell
    extension: str | None  # digits after "ext", "x", "#"..., kept apart from e164
    is_valid: bool | None
    invalid_reason: str | None  # one of INVALID_REASONS when is_valid is False


# Why a given value is not a valid number, most basic first.
INVALID_REASONS: tuple[str, ...] = (
    "not_a_number",  # no phone number in the text: no or too few digits, stray symbols
    "unknown_region",  # written without +/00 and the record's country is missing or unknown
    "invalid_country_code",  # +/00 followed by a calling code no country uses
    "too_short",  # fewer digits than any number of that country
    "too_long",  # more digits than any number of that country
    "invalid_length",  # between shortest and longest, but no number has that many digits
    "missing_area_code",  # the length of a local number dialled without its area code
    "invalid_for_region",  # a possible length, but no allocated range starts that way
)

_TYPE_NAMES: dict[int, str] = {
    value: PhoneNumberType.to_string(value).lower() for value in PhoneNumberType.values()
}
# phonenumbers' type names, lower case: "fixed_line", "mobile", ..., "unknown" (invalid).
PHONE_TYPES: tuple[str, ...] = tuple(_TYPE_NAMES.values())
_UNKNOWN_TYPE = _TYPE_NAMES[PhoneNumberType.UNKNOWN]

_LENGTH_REASONS: dict[int, str] = {
    ValidationResult.IS_POSSIBLE: "invalid_for_region",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "missing_area_code",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.INVALID_LENGTH: "invalid_length",
    ValidationResult.TOO_LONG: "too_long",
}
_PARSE_REASONS: dict[int, str] = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}

_NOT_GIVEN = PhoneResult(None, None, None, None, None, None)
_UNKNOWN_REGION = PhoneResult(None, _UNKNOWN_TYPE, None, None, False, "unknown_region")
_SUPPORTED_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_NON_GEOGRAPHIC = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY  # "001": +800, +882 ...

# Only separators phonenumbers drops wherever they stand (its VALID_PUNCTUATION) and that
# cannot start an extension or a second number; `x`, `~`, `#`, `,` and `;` can.
_DROP_SEPARATORS = str.maketrans("", "", " -.()/")
_MAX_INPUT_LENGTH = _pnu._MAX_INPUT_STRING_LENGTH  # 250: longer text is TOO_LONG for parse
_MIN_NSN_LENGTH = _pnu._MIN_LENGTH_FOR_NSN  # 2
_MAX_NSN_LENGTH = _pnu._MAX_LENGTH_FOR_NSN  # 17
# Two adjacent digits alone pass phonenumbers' viability check but "1 2" does not, so the
# digit path starts at three digits, where separators no longer matter.
_MIN_FAST_DIGITS = 3
# Learned prefixes per (calling code, length): real data stays far below (CN mobiles need
# ~30, US numbers ~1,000), the bound only stops a pathological stream growing it forever.
_MAX_PREFIXES_PER_TABLE = 200_000


def standardise_phone(raw: str | None, default_region: str | None = "CN") -> PhoneResult:
    """A phone value as E.164 with its type, region and validity.

    Args:
        raw: the value as the source wrote it, in any of the formats in the module docstring.
        default_region: ISO alpha-2 country of the record, used for numbers written without
            a country code; None or an unknown code leaves those numbers unreadable.
    """
    if raw is None:
        return _NOT_GIVEN
    text = (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip()
    if not text:
        return _NOT_GIVEN
    if text.startswith("00"):
        text = "+" + text[2:]
    region = default_region if default_region in _SUPPORTED_REGIONS else _region_key(default_region)
    if len(text) <= _MAX_INPUT_LENGTH:
        # translate costs ~0.3 µs even with nothing to drop, and most values are bare digits.
        digits = text if text.isdigit() else text.translate(_DROP_SEPARATORS)
        if len(digits) >= _MIN_FAST_DIGITS and digits.isascii():
            found: PhoneResult | None = None
            if digits.isdigit():
                if region is None:
                    return _UNKNOWN_REGION  # parse: "Missing or invalid default region"
                plan = _REGION_PLANS.get(region) or _region_plan(region)
                if digits[:2] in plan.direct_openings and len(digits) <= _MAX_NSN_LENGTH:
                    return _describe(plan.country_code, digits)
                found = _from_national_digits(digits, plan)
            elif digits[0] == "+" and len(digits) > _MIN_FAST_DIGITS and digits[1:].isdigit():
                found = _from_international_digits(digits)
            if found is not None:
                return found
    return _from_text(text, region)


def to_e164(raw: str | None, default_region: str | None = "CN") -> str | None:
    """E.164 form of a valid number, or None; `standardise_phone(...).e164`."""
    return standardise_phone(raw, default_region).e164


def _region_key(region: object) -> str | None:
    """The region phonenumbers knows, from any spelling of an alpha-2 code; else None."""
    if not isinstance(region, str):
        return None
    key = region.strip()
    # ASCII only: "ß".upper() is "SS", which would silently become South Sudan.
    if not key.isascii():
        return None
    key = key.upper()
    return key if key in _SUPPORTED_REGIONS else None


# --- Parsing canonical digits ---------------------------------------------------------------

_OPENINGS = frozenset(f"{first}{second}" for first in range(10) for second in range(10))
_SHORT_FOR_PREFIX = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)


class _ParsePlan:
    """What parsing needs from one metadata record, with its patterns compiled once.

    Opening screens list the first two digits after which a prefix pattern can still match
    (its automaton is not dead); the regex runs only after those. A pattern the automaton does
    not model (JP's national prefix ends in `$`) always runs.
    """

    __slots__ = (
        "country_code",
        "country_code_text",
        "dial_out",
        "direct_openings",
        "general",
        "keeps_trunk_at_length",
        "metadata",
        "trunk",
        "trunk_free_openings",
        "trunk_transforms",
    )

    def __init__(self, metadata: PhoneMetadata) -> None:
        self.metadata = metadata
        self.country_code: int = metadata.country_code
        self.country_code_text = str(metadata.country_code)
        self.dial_out = _compile(metadata.international_prefix)
        self.trunk = _compile(metadata.national_prefix_for_parsing)
        self.trunk_transforms = bool(metadata.national_prefix_transform_rule)
        general = metadata.general_desc
        self.general = _compile(general.national_number_pattern if general else None)
        # parse keeps a national prefix when the rest would be too short, a local-only length
        # or an impossible one; _test_number_length looks at the length alone.
        self.keeps_trunk_at_length = tuple(
            _pnu._test_number_length("1" * length, metadata) in _SHORT_FOR_PREFIX
            for length in range(_MAX_NSN_LENGTH + 1)
        )
        self.trunk_free_openings = _OPENINGS - _openings(metadata.national_prefix_for_parsing)
        # Bare national digits with these openings need no parse step at all: no dial-out
        # prefix, no national prefix, and they do not start with the region's own code.
        self.direct_openings = frozenset(
            opening
            for opening in self.trunk_free_openings - _openings(metadata.international_prefix)
            if not opening.startswith(self.country_code_text[:2])
        )


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    # The same compiled object phonenumbers itself uses (its pattern cache is on).
    return phonenumbers.re_util.re_compile(pattern) if pattern else None


def _openings(pattern: str | None) -> frozenset[str]:
    """Two-digit openings of digit strings `pattern.match` may accept (all when unsure)."""
    if not pattern:
        return frozenset()
    try:
        automaton = _Automaton(pattern, prefix_match=True)
    except _UnsupportedPatternError:
        return _OPENINGS
    return frozenset(
        f"{first}{second}"
        for first, after_first in enumerate(automaton.step(automaton.start))
        for second, after_second in enumerate(automaton.step(after_first))
        if not automaton.is_dead(after_second)
    )


_REGION_PLANS: dict[str, _ParsePlan] = {}
_CODE_PLANS: dict[int, _ParsePlan] = {}


def _region_plan(region: str) -> _ParsePlan:
    plan = _REGION_PLANS.get(region)
    if plan is None:
        plan = _REGION_PLANS[region] = _ParsePlan(PhoneMetadata.metadata_for_region(region))
    return plan


def _code_plan(country_code: int) -> _ParsePlan:
    """The metadata `parse` switches to once it knows the calling code: its main region's."""
    plan = _CODE_PLANS.get(country_code)
    if plan is None:
        main_region = phonenumbers.region_code_for_country_code(country_code)
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, main_region)
        plan = _CODE_PLANS[country_code] = _ParsePlan(metadata)
    return plan


def _code_by_opening() -> dict[str, tuple[int, int]]:
    """Calling code and its length for each three-digit opening that starts with one.

    The same search as phonenumbers' _extract_country_code (1, 2, then 3 digits; codes are
    prefix-free and never start with 0), done once for all 1,000 openings.
    """
    codes = {str(code): code for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
    table = {}
    for opening in (f"{number:03d}" for number in range(1000)):
        for size in (1, 2, 3):
            if opening[:size] in codes:
                table[opening] = (codes[opening[:size]], size)
                break
    return table


_CODE_BY_OPENING = _code_by_opening()


def _from_international_digits(digits: str) -> PhoneResult | None:
    """`+` and at least three digits; None when only `parse` can tell.

    The default region plays no part once the code after `+` is a real one.
    """
    found = _CODE_BY_OPENING.get(digits[1:4])
    if found is None:
        # An unassigned code (or a 0) makes parse retry the digits as a national number.
        return None
    country_code, size = found
    plan = _CODE_PLANS.get(country_code) or _code_plan(country_code)
    national = digits[1 + size :]
    if national[:2] in plan.trunk_free_openings and len(national) <= _MAX_NSN_LENGTH:
        return _describe(country_code, national)
    return _from_national_number(country_code, national, plan)


def _from_national_digits(digits: str, plan: _ParsePlan) -> PhoneResult | None:
    """At least three digits, no `+`, a known region; None when only `parse` can tell."""
    if plan.dial_out is not None and plan.dial_out.match(digits):
        # Dialled out of the region (011 44 ... from the US): parse decides what follows.
        return None
    if digits.startswith(plan.country_code_text):
        # The region's own code without "+" (8613800..., 1 415 ...): parse takes it as the
        # code when the rest fits the region better; the same test with the same helpers.
        metadata = plan.metadata
        general = metadata.general_desc
        rest = _pnu._maybe_strip_national_prefix_carrier_code(
            digits[len(plan.country_code_text) :], metadata
        )[1]
        if (
            not _pnu._match_national_number(digits, general, False)
            and _pnu._match_national_number(rest, general, False)
        ) or _pnu._test_number_length(digits, metadata) == ValidationResult.TOO_LONG:
            return _from_national_number(plan.country_code, rest, _code_plan(plan.country_code))
    return _from_national_number(plan.country_code, digits, plan)


def _from_national_number(country_code: int, national: str, plan: _ParsePlan) -> PhoneResult:
    """The end of `parse` (national prefix, length limits), then validity from the tables."""
    if len(national) < _MIN_NSN_LENGTH:
        return _unparsed("too_short")
    if plan.trunk is not None and (match := plan.trunk.match(national)):
        national = _strip_national_prefix(national, match, plan)
    if len(national) > _MAX_NSN_LENGTH:
        return _unparsed("too_long")
    return _describe(country_code, national)


def _strip_national_prefix(national: str, match: re.Match[str], plan: _ParsePlan) -> str:
    """The national number after a national prefix such as the 0 of 010-62345678.

    phonenumbers' _maybe_strip_national_prefix_carrier_code and parse's length check after
    it, replayed with compiled patterns and a length table; regions whose prefix rule rewrites
    digits (AR, BR, JP, MX ...) use the phonenumbers functions themselves.
    """
    if plan.trunk_transforms:
        metadata = plan.metadata
        stripped = _pnu._maybe_strip_national_prefix_carrier_code(national, metadata)[1]
        if _pnu._test_number_length(stripped, metadata) in _SHORT_FOR_PREFIX:
            return national
        return stripped
    stripped = national[match.end() :]
    general = plan.general
    if general is not None and general.fullmatch(national) and not general.fullmatch(stripped):
        return national  # the prefix digits belong to a number that is whole as written
    length = len(stripped)
    if length <= _MAX_NSN_LENGTH:
        keeps_trunk = plan.keeps_trunk_at_length[length]
    else:
        keeps_trunk = _pnu._test_number_length(stripped, plan.metadata) in _SHORT_FOR_PREFIX
    return national if keeps_trunk else stripped


def _from_text(text: str, region: str | None) -> PhoneResult:
    """Anything the digit path does not cover, through phonenumbers.parse itself."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        reason = _PARSE_REASONS.get(error.error_type, "not_a_number")
        if reason == "invalid_country_code" and not _pnu._check_region_for_parsing(
            _pnu._build_national_number_for_parsing(text), region
        ):
            reason = "unknown_region"
        return _unparsed(reason)
    # parse keeps leading zeros (Italian numbers) apart from the integer; the significant
    # number puts them back, as every validity function does.
    result = _describe(number.country_code, _pnu.national_significant_number(number))
    if number.extension:
        result = result._replace(extension=number.extension)
    return result


@lru_cache(maxsize=len(INVALID_REASONS))
def _unparsed(reason: str) -> PhoneResult:
    return PhoneResult(None, _UNKNOWN_TYPE, None, None, False, reason)


# --- Validity, type and region by prefix ----------------------------------------------------

_new_tuple = tuple.__new__


def _describe(country_code: int, national: str) -> PhoneResult:
    """The result for +<country_code><national>; national: 2-17 digits, leading zeros kept.

    A valid prefix stores the plain tuple (type, region), an invalid one its whole result.
    """
    table = _TABLES.get(country_code * 32 + len(national))
    if table is None:
        table = _TABLES[country_code * 32 + len(national)] = _PrefixTable(
            country_code, len(national)
        )
    prefixes = table.prefixes
    for depth in table.depths:
        found = prefixes.get(national[:depth])
        if found is not None:
            if found.__class__ is tuple:
                # tuple.__new__ directly: NamedTuple's own __new__ is a Python call, +0.3 µs.
                return _new_tuple(
                    PhoneResult,
                    (table.e164_prefix + national, found[0], found[1], None, True, None),
                )
            return found  # type: ignore[return-value]
    return table.learn(national)


class _PrefixTable:
    """Answers for numbers of one calling code and length, keyed by deciding prefix.

    Every key is the shortest prefix after which each pattern that can affect the answer
    accepts all completions to this length or none. Such keys never prefix one another (the
    shorter one would have ended the longer one's walk), so at most one key matches a number,
    whichever depth is tried first.
    """

    def __init__(self, country_code: int, length: int) -> None:
        self.country_code = country_code
        self.e164_prefix = f"+{country_code}"
        self.depths: tuple[int, ...] = ()
        self.prefixes: dict[str, PhoneResult | tuple[str, str | None]] = {}
        self.automata = _automata_for(country_code, length)
        # is_possible_number_with_reason looks at the calling code and the length only.
        probe = PhoneNumber(country_code=country_code, national_number=int("1" * length))
        possible = phonenumbers.is_possible_number_with_reason(probe)
        self.invalid_reason = _LENGTH_REASONS.get(possible, "invalid_for_region")

    def learn(self, national: str) -> PhoneResult:
        """Ask phonenumbers about this number and remember the answer for its prefix."""
        number = PhoneNumber(country_code=self.country_code, national_number=int(national))
        _pnu._set_italian_leading_zeros_for_phone_number(national, number)
        phone_type = _TYPE_NAMES[phonenumbers.number_type(number)]
        region = phonenumbers.region_code_for_number(number)
        if region == _NON_GEOGRAPHIC:
            region = None
        stored: PhoneResult | tuple[str, str | None]
        if phonenumbers.is_valid_number(number):
            answer = PhoneResult(self.e164_prefix + national, phone_type, region, None, True, None)
            stored = (phone_type, region)
        else:
            answer = PhoneResult(None, phone_type, region, None, False, self.invalid_reason)
            stored = answer
        if self.automata is not None and len(self.prefixes) < _MAX_PREFIXES_PER_TABLE:
            depth = _deciding_depth(self.automata, national)
            self.prefixes[national[:depth]] = stored
            if depth not in self.depths:
                self.depths = (*self.depths, depth)
        return answer


_TABLES: dict[int, _PrefixTable] = {}  # key: calling code * 32 + national length (2-17)

# The metadata fields _number_type_helper tests, in any order: each is one pattern here.
_DESC_FIELDS = (
    "general_desc",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _automata_for(country_code: int, length: int) -> list[_Automaton] | None:
    """Automata of every pattern number_type, is_valid_number or region_code_for_number can
    consult for a number of this calling code and length; None if one is not modelled.

    A description whose possible lengths exclude `length` is rejected before its pattern is
    tried, so its pattern cannot matter. With several regions on one code (+1, +44, +7 ...)
    region_code_for_number also tries each region's leading-digits pattern as a prefix match.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code]
    automata: list[_Automaton] = []
    try:
        for region in regions:
            if region == _NON_GEOGRAPHIC:
                metadata = PhoneMetadata.metadata_for_nongeo_region(country_code)
            else:
                metadata = PhoneMetadata.metadata_for_region(region)
            if metadata is None:
                continue
            for field in _DESC_FIELDS:
                desc = getattr(metadata, field)
                if desc is None or not desc.national_number_pattern:
                    continue
                if desc.possible_length and length not in desc.possible_length:
                    continue
                automata.append(_automaton(desc.national_number_pattern, False))
            if len(regions) > 1 and metadata.leading_digits:
                automata.append(_automaton(metadata.leading_digits, True))
    except _UnsupportedPatternError:
        return None
    return automata


def _deciding_depth(automata: list[_Automaton], national: str) -> int:
    """Length of the shortest prefix of `national` that decides every pattern's answer."""
    length = len(national)
    states = [automaton.start for automaton in automata]
    depth = 0
    while True:
        remaining = length - depth
        if all(
            automaton.verdict(state, remaining) != _MIXED
            for automaton, state in zip(automata, states, strict=True)
        ):
            return depth
        digit = ord(national[depth]) - 48
        states = [
            automaton.step(state)[digit] for automaton, state in zip(automata, states, strict=True)
        ]
        depth += 1


# --- Digit automata of metadata patterns ----------------------------------------------------

_ALL_DIGITS = (1 << 10) - 1  # bit d set: the transition accepts digit d
_NONE, _ALL, _MIXED = 0, 1, 2  # verdicts: no, every, or some completions match


class _UnsupportedPatternError(Exception):
    """A regex construct the automaton builder does not model (anchors, look-around ...)."""


class _Automaton:
    """The language of one metadata pattern over the digits 0-9, as a lazy subset automaton.

    Built from the pattern's own parse tree (Thompson construction), so it accepts a digit
    string exactly when `pattern.fullmatch` does (or, with `prefix_match`, `pattern.match`:
    the accepting state then loops on every digit). phonenumbers only ever matches national
    numbers, which are ASCII digits, so `\\d` is [0-9] here and other characters never match.
    """

    def __init__(self, pattern: str, prefix_match: bool) -> None:
        self._edges: list[list[tuple[int, int]]] = []  # state -> [(digit mask, next state)]
        self._empty_moves: list[list[int]] = []
        entry = self._new_state()
        self._accept = self._sequence(_sre_parser.parse(pattern), entry)
        if prefix_match:
            self._edges[self._accept].append((_ALL_DIGITS, self._accept))
        self._ids: dict[frozenset[int], int] = {}
        self._sets: list[frozenset[int]] = []
        self._steps: list[tuple[int, ...] | None] = []
        self._verdicts: dict[int, int] = {}
        self.start = self._intern(self._closure([entry]))

    # Thompson construction over the sre parse tree.
    def _new_state(self) -> int:
        self._edges.append([])
        self._empty_moves.append([])
        return len(self._edges) - 1

    def _sequence(self, items: object, state: int) -> int:
        for op, argument in items:  # type: ignore[attr-defined]
            state = self._item(op, argument, state)
        return state

    def _item(self, op: object, argument: object, state: int) -> int:
        c = _sre_constants
        if op is c.LITERAL or op is c.NOT_LITERAL or op is c.ANY or op is c.IN:
            if op is c.LITERAL:
                mask = _digit_bit(argument)  # type: ignore[arg-type]
            elif op is c.NOT_LITERAL:
                mask = _ALL_DIGITS & ~_digit_bit(argument)  # type: ignore[arg-type]
            elif op is c.ANY:
                mask = _ALL_DIGITS
            else:
                mask = _class_mask(argument)  # type: ignore[arg-type]
            end = self._new_state()
            self._edges[state].append((mask, end))
            return end
        if op is c.SUBPATTERN:
            return self._sequence(argument[3], state)  # type: ignore[index]
        if op is c.BRANCH:
            end = self._new_state()
            for alternative in argument[1]:  # type: ignore[index]
                begin = self._new_state()
                self._empty_moves[state].append(begin)
                self._empty_moves[self._sequence(alternative, begin)].append(end)
            return end
        if op is c.MAX_REPEAT or op is c.MIN_REPEAT:
            # Greedy or lazy changes which match is found, never whether one exists.
            low, high, body = argument  # type: ignore[misc]
            for _ in range(low):
                state = self._sequence(body, state)
            if high is c.MAXREPEAT:
                loop = self._new_state()
                self._empty_moves[state].append(loop)
                self._empty_moves[self._sequence(body, loop)].append(loop)
                return loop
            end = self._new_state()
            self._empty_moves[state].append(end)
            for _ in range(high - low):
                state = self._sequence(body, state)
                self._empty_moves[state].append(end)
            return end
        raise _UnsupportedPatternError(str(op))

    # Subset automaton, built only as far as it is walked.
    def _closure(self, states: list[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(states)
        while stack:
            for following in self._empty_moves[stack.pop()]:
                if following not in seen:
                    seen.add(following)
                    stack.append(following)
        return frozenset(seen)

    def _intern(self, states: frozenset[int]) -> int:
        number = self._ids.get(states)
        if number is None:
            number = self._ids[states] = len(self._sets)
            self._sets.append(states)
            self._steps.append(None)
        return number

    def step(self, state: int) -> tuple[int, ...]:
        """The state after each digit 0-9."""
        steps = self._steps[state]
        if steps is None:
            members = self._sets[state]
            edges = [edge for member in members for edge in self._edges[member]]
            steps = tuple(
                self._intern(self._closure([end for mask, end in edges if mask >> digit & 1]))
                for digit in range(10)
            )
            self._steps[state] = steps
        return steps

    def is_dead(self, state: int) -> bool:
        """No string continues from here to a match (the empty state set)."""
        return not self._sets[state]

    def verdict(self, state: int, remaining: int) -> int:
        """Whether all, none or some digit strings of length `remaining` lead to a match."""
        key = state * 32 + remaining
        found = self._verdicts.get(key)
        if found is None:
            if not self._sets[state]:
                found = _NONE
            elif remaining == 0:
                found = _ALL if self._accept in self._sets[state] else _NONE
            else:
                kinds = {self.verdict(after, remaining - 1) for after in self.step(state)}
                found = kinds.pop() if len(kinds) == 1 else _MIXED
            self._verdicts[key] = found
        return found


def _digit_bit(code_point: int) -> int:
    return 1 << (code_point - 48) if 48 <= code_point <= 57 else 0


def _class_mask(items: list[tuple[object, object]]) -> int:
    """Digits matched by a character class such as [0-35-9] or [^4] or \\d."""
    c = _sre_constants
    mask = 0
    negate = False
    for op, argument in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            mask |= _digit_bit(argument)  # type: ignore[arg-type]
        elif op is c.RANGE:
            low, high = argument  # type: ignore[misc]
            mask |= sum(1 << digit for digit in range(10) if low <= 48 + digit <= high)
        elif op is c.CATEGORY and argument is c.CATEGORY_DIGIT:
            mask |= _ALL_DIGITS
        elif op is c.CATEGORY and argument is c.CATEGORY_NOT_DIGIT:
            pass
        else:
            raise _UnsupportedPatternError(str(op))
    return _ALL_DIGITS & ~mask if negate else mask


_AUTOMATA: dict[tuple[str, bool], _Automaton] = {}


def _automaton(pattern: str, prefix_match: bool) -> _Automaton:
    """One automaton per pattern, shared by every calling code and length that uses it."""
    key = (pattern, prefix_match)
    automaton = _AUTOMATA.get(key)
    if automaton is None:
        automaton = _AUTOMATA[key] = _Automaton(pattern, prefix_match)
    return automaton
