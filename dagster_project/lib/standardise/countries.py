"""Country names and codes to ISO 3166-1 alpha-2 (R13).

Sources write countries as codes, English or local names, or in Chinese (ERP exports: 美国).
The country matters beyond display: it is the region a phone number without a country code is
read in. Issue 4 replaces this table with a maintained package's full list.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_ALIASES = {
    "CN": ("CN", "CHN", "CHINA", "PRC", "PEOPLE'S REPUBLIC OF CHINA", "中国", "中华人民共和国"),
    "US": ("US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA", "AMERICA", "美国"),
    "GB": ("GB", "GBR", "UK", "UNITED KINGDOM", "GREAT BRITAIN", "ENGLAND", "英国"),
    "DE": ("DE", "DEU", "GERMANY", "DEUTSCHLAND", "德国"),
    "FR": ("FR", "FRA", "FRANCE", "法国"),
    "AU": ("AU", "AUS", "AUSTRALIA", "澳大利亚", "澳洲"),
    "JP": ("JP", "JPN", "JAPAN", "日本"),
    "SG": ("SG", "SGP", "SINGAPORE", "新加坡"),
    "HK": ("HK", "HKG", "HONG KONG", "香港"),
    "TW": ("TW", "TWN", "TAIWAN", "台湾"),
    "CA": ("CA", "CAN", "CANADA", "加拿大"),
    "KR": ("KR", "KOR", "SOUTH KOREA", "KOREA", "韩国"),
}
_LOOKUP = {alias: code for code, aliases in _ALIASES.items() for alias in aliases}


@lru_cache(maxsize=4096)
def to_iso_country(value: str | None) -> str | None:
    """ISO alpha-2 code for a known country name or code; None when unknown."""
    if value is None:
        return None
    key = " ".join(unicodedata.normalize("NFKC", value).upper().split())
    return _LOOKUP.get(key)
