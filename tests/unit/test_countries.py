"""Countries: ISO 3166-1 alpha-2 from codes and names in several languages."""

from __future__ import annotations

import pycountry
import pytest
from babel import Locale
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dagster_project.lib.standardise.countries import to_iso_country


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Codes, any case and width
        ("CN", "CN"),
        ("cn", "CN"),
        (" de ", "DE"),
        ("ＧＢ", "GB"),
        ("CHN", "CN"),
        ("deu", "DE"),
        ("USA", "US"),
        # English names, short, common and official, with stray spacing and punctuation
        ("China", "CN"),
        ("CHINA", "CN"),
        ("People's Republic of China", "CN"),
        ("United Kingdom", "GB"),
        ("united   kingdom", "GB"),
        ("United Kingdom of Great Britain and Northern Ireland", "GB"),
        ("United States of America", "US"),
        ("U.S.A.", "US"),
        ("South Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("Viet Nam", "VN"),
        ("Vietnam", "VN"),
        ("Bosnia & Herzegovina", "BA"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d Ivoire", "CI"),
        ("Czech Republic", "CZ"),
        ("the Netherlands", "NL"),
        ("The Gambia", "GM"),
        # Aliases
        ("PRC", "CN"),
        ("P.R. China", "CN"),
        ("UK", "GB"),
        ("England", "GB"),
        ("America", "US"),
        ("UAE", "AE"),
        # Chinese, simplified and traditional
        ("中国", "CN"),
        ("中國", "CN"),
        ("中华人民共和国", "CN"),
        ("中国大陆", "CN"),
        ("大陆", "CN"),
        ("美国", "US"),
        ("英国", "GB"),
        ("英國", "GB"),
        ("德国", "DE"),
        ("法国", "FR"),
        ("澳大利亚", "AU"),
        ("澳洲", "AU"),
        ("日本", "JP"),
        ("韩国", "KR"),
        ("新加坡", "SG"),
        # Hong Kong, Macao and Taiwan keep their own codes
        ("香港", "HK"),
        ("中国香港", "HK"),
        ("Hong Kong", "HK"),
        ("澳门", "MO"),
        ("Macau", "MO"),
        ("台湾", "TW"),
        ("臺灣", "TW"),
        ("Taiwan", "TW"),
        # German and French
        ("Deutschland", "DE"),
        ("Vereinigtes Königreich", "GB"),
        ("Vereinigte Staaten", "US"),
        ("Allemagne", "DE"),
        ("Royaume-Uni", "GB"),
        ("États-Unis", "US"),
        ("Etats Unis", "US"),
        ("Chine", "CN"),
        # Unknown or not given
        ("Narnia", None),
        ("N/A", None),  # a placeholder, not Namibia (NA)
        ("n.a.", None),
        ("-", None),
        ("XX", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_to_iso_country(raw: str | None, expected: str | None) -> None:
    assert to_iso_country(raw) == expected


def test_every_iso_entry_is_found_by_its_codes_and_names() -> None:
    english = Locale.parse("en").territories
    chinese = Locale.parse("zh").territories
    for country in pycountry.countries:
        code = country.alpha_2
        assert to_iso_country(code) == code
        assert to_iso_country(code.lower()) == code
        assert to_iso_country(country.alpha_3) == code
        assert to_iso_country(country.name) == code, country.name
        assert to_iso_country(english[code]) == code, english[code]
        assert to_iso_country(chinese[code]) == code, chinese[code]


@given(st.text(max_size=40))
@example("\x00")
@example("ＣＮ")
@example("中国\u200b")
@settings(max_examples=300, deadline=None)
def test_never_raises_and_a_code_maps_to_itself(text: str) -> None:
    code = to_iso_country(text)
    assert code is None or (len(code) == 2 and code.isupper())
    assert to_iso_country(code) == code
