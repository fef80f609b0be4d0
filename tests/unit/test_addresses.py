"""Addresses: text cleaning, Chinese administrative divisions with codes, postal codes."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dagster_project.lib.demo.reference import DIVISIONS, PROVINCE_SHORT, Division
from dagster_project.lib.standardise.addresses import (
    POSTAL_CODE_INVALID_REASONS,
    AddressResult,
    _division_index,
    _read_division_rows,
    standardise_address,
)

# (address_line, district, city, province, postal_code, country) ->
# (province, city, district, admin_division_code, country_code, street_line)
CHINESE_CASES = [
    pytest.param(
        ("广东省广州市天河区天河路385号5栋1203室", "天河区", "广州市", "广东省", "510630", "中国"),
        ("广东省", "广州市", "天河区", "440106", "CN", "天河路385号5栋1203室"),
        id="erp-full-line-and-columns",
    ),
    pytest.param(
        ("天河路385号5栋1203室", "天河区", "广州", "广东", "510630", "CN"),
        ("广东省", "广州市", "天河区", "440106", "CN", "天河路385号5栋1203室"),
        id="crm-street-line-short-columns",
    ),
    pytest.param(
        ("广东广州天河区天河路385号", None, None, None, None, None),
        ("广东省", "广州市", "天河区", "440106", "CN", "天河路385号"),
        id="line-without-suffixes",
    ),
    pytest.param(
        ("广州市越秀区解放路78号3栋601室", None, None, None, None, None),
        ("广东省", "广州市", "越秀区", "440104", "CN", "解放路78号3栋601室"),
        id="line-from-the-city",
    ),
    pytest.param(
        ("北京市海淀区中关村大街27号", None, None, None, "100080", None),
        ("北京市", "北京市", "海淀区", "110108", "CN", "中关村大街27号"),
        id="beijing-municipality",
    ),
    pytest.param(
        ("上海市浦东新区世纪大道100号", None, None, None, None, "CN"),
        ("上海市", "上海市", "浦东新区", "310115", "CN", "世纪大道100号"),
        id="shanghai-municipality",
    ),
    pytest.param(
        ("幸福东巷21号紫荆苑9栋3201室", "河西区", "天津", "天津", "300202", "CN"),
        ("天津市", "天津市", "河西区", "120103", "CN", "幸福东巷21号紫荆苑9栋3201室"),
        id="tianjin-short-columns",
    ),
    pytest.param(
        ("重庆渝中区解放碑88号", None, None, None, None, None),
        ("重庆市", "重庆市", "渝中区", "500103", "CN", "解放碑88号"),
        id="chongqing-short-name-in-line",
    ),
    pytest.param(
        ("内蒙古呼和浩特市新城区新华大街1号", None, None, None, None, None),
        ("内蒙古自治区", "呼和浩特市", "新城区", "150102", "CN", "新华大街1号"),
        id="inner-mongolia-short-name",
    ),
    pytest.param(
        ("民族大道1号", "青秀区", "南宁", "广西", None, None),
        ("广西壮族自治区", "南宁市", "青秀区", "450103", "CN", "民族大道1号"),
        id="guangxi-columns-no-country",
    ),
    pytest.param(
        ("新疆维吾尔自治区乌鲁木齐市天山区解放南路1号", None, None, None, None, None),
        ("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "650102", "CN", "解放南路1号"),
        id="xinjiang-full-name",
    ),
    pytest.param(
        ("鼓楼区中山路1号", None, None, None, None, None),
        (None, None, "鼓楼区", None, None, "中山路1号"),
        id="gulou-without-context-gets-no-code",
    ),
    pytest.param(
        ("鼓楼区中山路1号", None, "南京", None, None, None),
        ("江苏省", "南京市", "鼓楼区", "320106", "CN", "中山路1号"),
        id="gulou-in-nanjing",
    ),
    pytest.param(
        ("鼓楼区五四路1号", None, None, "福建", None, None),
        ("福建省", "福州市", "鼓楼区", "350102", "CN", "五四路1号"),
        id="gulou-in-fujian-is-unique",
    ),
    pytest.param(
        ("江苏省鼓楼区中山路1号", None, None, None, None, None),
        ("江苏省", None, "鼓楼区", "320000", "CN", "中山路1号"),
        id="gulou-in-jiangsu-is-nanjing-or-xuzhou",
    ),
    pytest.param(
        ("", "海淀区", "北京", "北京", None, None),
        ("北京市", "北京市", "海淀区", "110108", "CN", None),
        id="empty-line-columns-only",
    ),
    pytest.param(
        (None, "西湖区", "杭州市", "浙江省", "310013", "CN"),
        ("浙江省", "杭州市", "西湖区", "330106", "CN", None),
        id="no-line-full-columns",
    ),
    pytest.param(
        (None, "西湖", "杭州", "浙江", None, None),
        ("浙江省", "杭州市", "西湖区", "330106", "CN", None),
        id="district-short-name-in-column",
    ),
    pytest.param(
        ("江苏省苏州市昆山市玉山镇1号", None, None, None, None, None),
        ("江苏省", "苏州市", "昆山市", "320583", "CN", "玉山镇1号"),
        id="county-level-city",
    ),
    pytest.param(
        ("湖北省仙桃市沔阳大道1号", None, None, None, None, None),
        ("湖北省", "仙桃市", None, "429004", "CN", "沔阳大道1号"),
        id="city-directly-under-the-province",
    ),
    pytest.param(
        ("广东省东莞市南城街道1号", None, None, None, None, None),
        ("广东省", "东莞市", None, "441900", "CN", "南城街道1号"),
        id="city-without-districts",
    ),
    pytest.param(
        ("山东省济南市市中区经十路1号", None, None, None, None, None),
        ("山东省", "济南市", "市中区", "370103", "CN", "经十路1号"),
        id="district-name-starting-with-shi",
    ),
    pytest.param(
        ("吉林省吉林市船营区1号", None, None, None, None, None),
        ("吉林省", "吉林市", "船营区", "220204", "CN", "1号"),
        id="jilin-city-in-jilin-province",
    ),
    pytest.param(
        ("山东省单县1号", None, None, None, None, None),
        ("山东省", "菏泽市", "单县", "371722", "CN", "1号"),
        id="two-character-county-inside-a-province",
    ),
    pytest.param(
        ("江苏省南京市鼓楼区中山路1号", None, "广州", "广东", None, None),
        ("广东省", "广州市", None, "440100", "CN", "江苏省南京市鼓楼区中山路1号"),
        id="columns-win-over-a-contradicting-line",
    ),
    pytest.param(
        ("中山路12号", None, None, None, None, None),
        (None, None, None, None, None, "中山路12号"),
        id="a-road-named-after-a-city-is-not-the-city",
    ),
    pytest.param(
        ("长安街1号", None, None, None, None, None),
        (None, None, None, None, None, "长安街1号"),
        id="a-road-named-after-a-district-is-not-the-district",
    ),
    pytest.param(
        ("天河路1号", None, None, None, None, None),
        (None, None, None, None, None, "天河路1号"),
        id="a-short-district-name-in-a-line-is-not-taken",
    ),
    pytest.param(
        ("城区路1号", None, None, None, None, None),
        (None, None, None, None, None, "城区路1号"),
        id="two-character-county-needs-context",
    ),
    pytest.param(
        ("天河路 3  85号", "天河区", "广州市", "广东省", None, "中国"),
        ("广东省", "广州市", "天河区", "440106", "CN", "天河路385号"),
        id="stray-blanks-in-a-chinese-line",
    ),
    pytest.param(
        ("广东省广州市天河区 天河路３８５号", None, None, None, None, "Narnia"),
        ("广东省", "广州市", "天河区", "440106", "CN", "天河路385号"),
        id="full-width-digits-unknown-country",
    ),
]


@pytest.mark.parametrize(("args", "expected"), CHINESE_CASES)
def test_chinese_addresses(
    args: tuple[str | None, ...],
    expected: tuple[str | None, ...],
) -> None:
    result = standardise_address(*args)
    province, city, district, code, country, street = expected
    assert result.province == province
    assert result.city == city
    assert result.district == district
    assert result.admin_division_code == code
    assert result.province_code == (code[:2] if code else None)
    assert result.country_code == country
    assert result.street_line == street


def test_the_address_line_keeps_its_division_prefix() -> None:
    result = standardise_address("广东省 广州市天河区天河路３８５号 ", None, None, None, None, None)
    assert result.address_line == "广东省广州市天河区天河路385号"
    assert result.street_line == "天河路385号"


@pytest.mark.parametrize(
    ("args", "line", "city", "province", "country"),
    [
        (
            ("  716   Heather Spur ", None, "New  Nathan", "Cheshire", "L5 7PZ", "GB"),
            "716 Heather Spur",
            "New Nathan",
            "Cheshire",
            "GB",
        ),
        (
            ("Karla-Jockel-Straße 182", "", "Wolgast", "Bremen", "76603", "Deutschland"),
            "Karla-Jockel-Straße 182",
            "Wolgast",
            "Bremen",
            "DE",
        ),
        (
            ("１０ Bates Brace", None, "Simmonsport", "WA", "4647", "Australia"),
            "10 Bates Brace",
            "Simmonsport",
            "WA",
            "AU",
        ),
        # A non-Chinese country keeps Chinese-looking column values as given: no division codes.
        (("1 Main St", None, "广州", "广东", "94105", "US"), "1 Main St", "广州", "广东", "US"),
        (
            ("1 Queen's Road", None, "Hong Kong", None, None, "香港"),
            "1 Queen's Road",
            "Hong Kong",
            None,
            "HK",
        ),
        (
            ("716 Heather Spur", None, "New Nathan", "Cheshire", None, None),
            "716 Heather Spur",
            "New Nathan",
            "Cheshire",
            None,
        ),
    ],
)
def test_international_addresses_keep_their_cleaned_values(
    args: tuple[str | None, ...],
    line: str,
    city: str | None,
    province: str | None,
    country: str | None,
) -> None:
    result = standardise_address(*args)
    assert result.address_line == line
    assert result.street_line == line
    assert (result.city, result.province, result.district) == (city, province, None)
    assert result.country_code == country
    assert result.admin_division_code is None
    assert result.province_code is None


@pytest.mark.parametrize(
    ("postal_code", "country", "expected", "is_valid"),
    [
        ("94105", "US", "94105", True),
        ("94105-1234", "US", "94105-1234", True),
        ("94105 1234", "US", "94105-1234", True),
        ("941051234", "US", "94105-1234", True),
        ("9410", "US", "9410", False),
        ("941O5", "US", "941O5", False),
        ("SW1A 1AA", "GB", "SW1A 1AA", True),
        ("sw1a1aa", "GB", "SW1A 1AA", True),
        ("  sw1a   1aa ", "GB", "SW1A 1AA", True),
        ("M2 5BQ", "GB", "M2 5BQ", True),
        ("SW1A 1AAX", "GB", "SW1A 1AAX", False),  # the package's pattern alone would accept it
        ("10115", "DE", "10115", True),
        ("1011", "DE", "1011", False),
        ("75008", "FR", "75008", True),
        ("75 008", "FR", "75008", True),
        ("2000", "AU", "2000", True),
        ("20000", "AU", "20000", False),
        ("100-0001", "JP", "100-0001", True),
        ("1000001", "JP", "100-0001", True),
        ("１００－０００１", "JP", "100-0001", True),
        ("100000", "CN", "100000", True),
        ("１００ ０００", "CN", "100000", True),
        ("10000", "CN", "10000", False),
        ("K1A 0B1", "CA", "K1A 0B1", True),
        ("k1a0b1", "CA", "K1A 0B1", True),
        ("K1A 0B", "CA", "K1A 0B", False),
        ("1234ab", "NL", "1234 AB", True),
        ("999077", "HK", "999077", None),  # Hong Kong has no postal codes to check against
        ("12345", None, "12345", None),  # no country: nothing to check against
        ("12345", "Narnia", "12345", None),
        ("   ", "US", None, None),
        (None, "US", None, None),
    ],
)
def test_postal_codes(
    postal_code: str | None, country: str | None, expected: str | None, is_valid: bool | None
) -> None:
    result = standardise_address(None, None, None, None, postal_code, country)
    assert result.postal_code == expected
    assert result.postal_code_is_valid is is_valid
    if is_valid is False:
        assert result.postal_code_invalid_reason == "bad_format"
        assert result.postal_code_invalid_reason in POSTAL_CODE_INVALID_REASONS
    else:
        assert result.postal_code_invalid_reason is None


def test_nothing_given() -> None:
    assert standardise_address(None, None, None, None, None, None) == AddressResult(
        *([None] * len(AddressResult._fields))
    )
    assert standardise_address(" ", "", "\t", "\u3000", "", "  ") == AddressResult(
        *([None] * len(AddressResult._fields))
    )


@pytest.mark.parametrize("division", DIVISIONS, ids=lambda d: d.code)
def test_every_demo_division_resolves_from_columns_and_from_a_full_line(division: Division) -> None:
    short_province = PROVINCE_SHORT[division.province]
    from_columns = standardise_address(
        "幸福路1号", division.district, division.city_short, short_province, division.postcode, ""
    )
    city = "" if division.city == division.province else division.city
    from_line = standardise_address(
        division.province + city + division.district + "幸福路1号", None, None, None, None, "中国"
    )
    for result in (from_columns, from_line):
        assert result.admin_division_code == division.code
        assert (result.province, result.city, result.district) == (
            division.province,
            division.city,
            division.district,
        )
        assert result.country_code == "CN"
    assert from_line.street_line == "幸福路1号"
    assert from_columns.postal_code_is_valid is True


def test_the_division_file_parse_agrees_with_jionlp_loader() -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # jionlp prints a banner on import
        import jionlp

    loaded = jionlp.china_location_loader()
    expected = set()
    for province, province_data in loaded.items():
        expected.add((0, province, province_data["_admin_code"]))
        for city, city_data in province_data.items():
            if city.startswith("_"):
                continue
            expected.add((1, city, city_data["_admin_code"]))
            for district, district_data in city_data.items():
                if not district.startswith("_") and district_data["_admin_code"]:
                    expected.add((2, district, district_data["_admin_code"]))
    parsed = {(level, name, code) for level, name, code, _ in _read_division_rows()}
    assert parsed == expected


def test_the_index_leaves_out_hk_macao_taiwan() -> None:
    # Its cost per address is bench/bench_standardise.py's (custodian_standardise_address).
    _division_index.cache_clear()
    index = _division_index()
    assert len({p.code for p in index.provinces.values()}) == 31
    assert "香港" not in index.provinces
    assert "台湾" not in index.provinces


# --- Properties ---------------------------------------------------------------------------------

DIVISION_WORDS = ["广东", "广东省", "广州", "天河区", "鼓楼区", "北京市", "海淀区", "内蒙古", "路"]
address_text = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.lists(st.sampled_from(DIVISION_WORDS), max_size=4).map("".join),
    st.tuples(st.sampled_from(DIVISION_WORDS), st.text(max_size=10)).map("".join),
)
country_text = st.one_of(st.none(), st.sampled_from(["CN", "中国", "US", "GB", "JP", "Narnia", ""]))
postal_text = st.one_of(st.none(), st.text(max_size=12), st.from_regex(r"[0-9A-Za-z \-]{0,10}"))


def _feed_back(result: AddressResult) -> AddressResult:
    return standardise_address(
        result.address_line,
        result.district,
        result.city,
        result.province,
        result.postal_code,
        result.country_code,
    )


@given(address_text, address_text, address_text, address_text, postal_text, country_text)
@example("广东 ᄀ ᅡ", None, None, None, None, None)  # jamo that compose once blanks go
@example("\x00广东省\u200b广州市", "\x85", None, None, "sw1a\u00a01aa", "GB")
@example("鼓楼区", "鼓楼区", None, "江苏", None, None)
@example("广东省", None, "南京", "广东", None, "Narnia")
@settings(max_examples=300, deadline=None)
def test_never_raises_and_is_idempotent(
    line: str | None,
    district: str | None,
    city: str | None,
    province: str | None,
    postal_code: str | None,
    country: str | None,
) -> None:
    result = standardise_address(line, district, city, province, postal_code, country)
    assert (result.postal_code_invalid_reason is not None) == (result.postal_code_is_valid is False)
    assert result.admin_division_code is None or len(result.admin_division_code) == 6
    assert _feed_back(result) == result


@given(st.sampled_from(DIVISIONS), st.text(alphabet="路街号栋室0123456789", max_size=12))
@settings(max_examples=200, deadline=None)
def test_a_division_prefix_is_found_whatever_street_follows(
    division: Division, street: str
) -> None:
    city = "" if division.city == division.province else division.city
    result = standardise_address(
        division.province + city + division.district + street, None, None, None, None, None
    )
    assert result.admin_division_code == division.code
    assert _feed_back(result) == result
