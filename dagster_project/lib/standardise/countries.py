"""Country codes and names to ISO 3166-1 alpha-2 (R13).

Sources write countries as ISO codes, English or local names, or in Chinese (the ERP writes
美国, the CRM 10% names: `China`, `中国`, `PRC`, `United Kingdom`, `Deutschland`). The country
matters beyond display: it is the region a phone number without a country code is read in, and
the country whose postal-code rules apply.

The table covers all 249 ISO 3166-1 entries: alpha-2 and alpha-3 codes and the English short,
common and official names from pycountry, the names babel's CLDR data gives in English, Chinese
(simplified and traditional), German and French, and the aliases below, which neither package
lists. Hong Kong, Macao and Taiwan keep their own codes (HK, MO, TW), as ISO 3166-1 has them.

Names are compared after NFKC (full-width to ASCII), case folding, accent stripping and removal
of everything but letters and digits, so `united   kingdom`, `U.K.`, `Etats-Unis` and `ＵＳＡ`
match. Codes are compared only as a whole value: `N/A` is a placeholder, not Namibia (`NA`).

Building the table takes about 0.3 s (pycountry and babel), once per process on first use;
after that a call is a cached dictionary look-up (under 1 µs).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Spellings the packages do not list, seen in customer data: abbreviations, older and informal
# names, constituent countries of the UK, and Chinese usage (大陆 and 内地 mean mainland China).
_ALIASES: dict[str, tuple[str, ...]] = {
    "CN": (
        "PRC",
        "P.R.C.",
        "PR China",
        "P.R. China",
        "China PR",
        "China, People's Republic of",
        "Mainland China",
        "China Mainland",
        "中华人民共和国",
        "中華人民共和國",
        "中国大陆",
        "中國大陸",
        "大陆",
        "大陸",
        "内地",
        "中国内地",
        "Volksrepublik China",
        "République populaire de Chine",
    ),
    "US": (
        "USA",
        "U.S.",
        "U.S.A.",
        "America",
        "United States of America",
        "美利坚合众国",
        "美利堅合眾國",
        "Amerika",
        "Vereinigte Staaten von Amerika",
        "États-Unis d'Amérique",
    ),
    "GB": (
        "UK",
        "U.K.",
        "Great Britain",
        "Britain",
        "England",
        "Scotland",
        "Wales",
        "Northern Ireland",
        "大不列颠",
        "英格兰",
        "Großbritannien",
        "Grande-Bretagne",
        "Angleterre",
    ),
    "DE": ("BRD", "Federal Republic of Germany", "Bundesrepublik Deutschland"),
    "AU": ("澳洲",),
    "HK": ("香港", "中国香港", "中國香港", "Hongkong", "HKSAR", "Hong Kong SAR"),
    "MO": ("澳门", "澳門", "中国澳门", "中國澳門", "Macau", "Macau SAR", "Macao SAR"),
    "TW": ("台湾", "臺灣", "中国台湾", "中國台灣", "中華民國", "Republic of China", "Taiwan ROC"),
    "KR": ("Korea", "Republic of Korea", "ROK", "韩国", "南韩", "大韩民国", "Südkorea"),
    "KP": ("DPRK", "North Korea", "朝鲜", "北韩", "Nordkorea"),
    "AE": ("UAE", "U.A.E."),
    "NL": ("Holland", "The Netherlands"),
    "RU": ("Russian Federation", "俄国"),
    "CZ": ("Czech Republic",),
    "TR": ("Turkey", "Türkei", "Turquie"),
    "CI": ("Ivory Coast",),
    "MM": ("Burma",),
    "SZ": ("Swaziland",),
    "MK": ("Macedonia",),
    "CV": ("Cape Verde",),
    "VA": ("Vatican", "Holy See"),
}

# Babel locales whose territory names are accepted, in order of precedence when two languages
# give the same spelling to different countries.
_LOCALES: tuple[str, ...] = ("en", "zh", "zh_Hant", "de", "fr")


def _name_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("&", "and")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if char.isalnum())


def _code_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(codes, names): alpha-2/alpha-3 code -> alpha-2, and name key -> alpha-2."""
    import pycountry  # imported here: loading its data costs 0.1 s, paid on first use only
    from babel import Locale

    codes: dict[str, str] = {}
    names: dict[str, str] = {}

    def add_name(name: str, alpha_2: str) -> None:
        key = _name_key(name)
        if key:
            names.setdefault(key, alpha_2)  # first source wins: see the order below

    countries = list(pycountry.countries)
    alpha_2_codes = {country.alpha_2 for country in countries}
    for country in countries:
        codes[country.alpha_2] = country.alpha_2
        codes[country.alpha_3] = country.alpha_2
    for alpha_2, aliases in _ALIASES.items():
        for alias in aliases:
            add_name(alias, alpha_2)
    for country in countries:
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                add_name(value, country.alpha_2)
    for locale in _LOCALES:
        for code, name in Locale.parse(locale).territories.items():
            if code in alpha_2_codes:  # skips regions (001, 419) and EU, XK, ZZ
                add_name(name, code)
    return codes, names


@lru_cache(maxsize=4096)
def to_iso_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code for a country code or name; None when unknown or not given.

    `CN`, `chn`, `China`, `中国`, `中華人民共和國`, `PRC`, `大陆` -> `CN`; `Deutschland`,
    `Allemagne` -> `DE`; `香港` -> `HK`; `Narnia`, `N/A`, `` -> None. The caller tells "not
    given" (None/blank input) from "given but unknown" (a non-blank input and a None result).
    """
    if value is None:
        return None
    codes, names = _tables()
    code = codes.get(_code_key(value))
    if code is not None:
        return code
    key = _name_key(value)
    found = names.get(key)
    if found is None and key.startswith("the"):
        found = names.get(key[3:])  # "the Bahamas", "The Gambia"
    return found
