"""Small per-locale pools drawn from Faker once, then sampled with numpy.

Faker costs tens of microseconds per value; a million records would spend minutes in it. A few
thousand values per locale, combined with random house numbers, give enough variety while the
generator only indexes into tuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

from .rates import INTL_LOCALES

_REGION_METHOD = {
    "en_US": "state_abbr",
    "en_GB": "county",
    "de_DE": "state",
    "fr_FR": "region",
    "en_AU": "state_abbr",
}


@dataclass(frozen=True)
class LocalePool:
    locale: str
    first_male: tuple[str, ...]
    first_female: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[str, ...]
    regions: tuple[str, ...]
    postcodes: tuple[str, ...]
    companies: tuple[str, ...]


def _unique(values: list[str]) -> tuple[str, ...]:
    # dict.fromkeys keeps first-seen order, so the pool is the same for the same seed.
    return tuple(dict.fromkeys(v.replace("\n", " ").strip() for v in values if v.strip()))


def _simple_name(value: str) -> bool:
    # Faker has a few multi-word or hyphen-initial names; single tokens keep pinyin-style
    # matching tests meaningful and mirror what a form's first/last name field holds.
    return " " not in value and "." not in value


@lru_cache(maxsize=8)
def locale_pools(seed: int) -> dict[str, LocalePool]:
    """Pools for every international locale; cached per seed because tests regenerate often."""
    pools: dict[str, LocalePool] = {}
    for index, locale in enumerate(INTL_LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 101 + index)
        region = getattr(fake, _REGION_METHOD[locale])
        pools[locale] = LocalePool(
            locale=locale,
            first_male=_unique(
                [n for n in (fake.first_name_male() for _ in range(800)) if _simple_name(n)]
            ),
            first_female=_unique(
                [n for n in (fake.first_name_female() for _ in range(800)) if _simple_name(n)]
            ),
            last=_unique([n for n in (fake.last_name() for _ in range(1200)) if _simple_name(n)]),
            streets=_unique([fake.street_name() for _ in range(1200)]),
            cities=_unique([fake.city() for _ in range(500)]),
            regions=_unique([region() for _ in range(150)]),
            postcodes=_unique([fake.postcode() for _ in range(800)]),
            companies=_unique([fake.company() for _ in range(200)]),
        )
    return pools
