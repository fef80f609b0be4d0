"""The true people behind the source records, generated column-wise with numpy.

A `People` instance holds one list per attribute (index = person number). Addresses live in an
`AddressBook` and people point at them by id, so household members can share one address and a
move is just a new id.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np

from . import rates
from .pools import LocalePool
from .reference import (
    CN_COMMUNITIES,
    CN_COMPANY_TRADES,
    CN_COMPANY_WORDS,
    CN_MOBILE_PREFIXES,
    CN_STREET_DIRECTIONS,
    CN_STREET_STEMS,
    CN_STREET_SUFFIXES,
    COMMON_CN_NAMES_FEMALE,
    COMMON_CN_NAMES_MALE,
    COMMON_INTL_NAMES,
    COMPOUND_SURNAMES,
    DIVISIONS,
    EMAIL_DOMAINS_CN,
    EMAIL_DOMAINS_INTL,
    FEMALE_GIVEN_CHARS,
    GIVEN_PINYIN,
    LINE2_TEMPLATES,
    LOCALE_COUNTRY,
    MALE_GIVEN_CHARS,
    PHONE_PLANS,
    SURNAMES,
)
from .text import ascii_fold, id_check_digits

SURNAME_PINYIN: dict[str, str] = {h: p for h, p, _ in SURNAMES + COMPOUND_SURNAMES}
DIVISIONS_BY_PROVINCE: dict[str, tuple[int, ...]] = {}
for _i, _d in enumerate(DIVISIONS):
    DIVISIONS_BY_PROVINCE.setdefault(_d.province, ())
    DIVISIONS_BY_PROVINCE[_d.province] += (_i,)
DIVISIONS_BY_CITY: dict[str, tuple[int, ...]] = {}
for _i, _d in enumerate(DIVISIONS):
    DIVISIONS_BY_CITY.setdefault(_d.city, ())
    DIVISIONS_BY_CITY[_d.city] += (_i,)


def _probabilities(weights: list[float]) -> np.ndarray:
    arr = np.asarray(weights, dtype=float)
    return arr / arr.sum()


@dataclass
class AddressBook:
    """All addresses ever held by anybody; `division` is -1 outside mainland China."""

    line1: list[str] = field(default_factory=list)
    line2: list[str] = field(default_factory=list)
    district: list[str] = field(default_factory=list)
    city: list[str] = field(default_factory=list)
    province: list[str] = field(default_factory=list)
    postcode: list[str] = field(default_factory=list)
    country: list[str] = field(default_factory=list)
    division: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.line1)

    def street_line(self, a: int) -> str:
        if self.division[a] >= 0:
            return self.line1[a] + self.line2[a]
        return f"{self.line1[a]}, {self.line2[a]}" if self.line2[a] else self.line1[a]

    def full_address(self, a: int) -> str:
        """One-line address as a Chinese system prints it: province, city, district, street."""
        if self.division[a] >= 0:
            city = "" if self.city[a] == self.province[a] else self.city[a]
            return self.province[a] + city + self.district[a] + self.street_line(a)
        parts = [self.street_line(a), self.city[a], self.province[a], self.postcode[a]]
        return ", ".join(p for p in parts if p)


class Draws:
    """Uniform numbers for per-item Python code.

    Batches come from numpy in one call; single items (a move, a new mobile during the daily
    changes) come from a Python generator seeded from numpy, because a numpy call per scalar
    costs more than the work it feeds. Both are deterministic for a seed.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.py = random.Random(int(rng.integers(2**63)))

    def rows(self, n: int, k: int) -> list[list[float]]:
        if n >= 32:
            return self.rng.random((n, k)).tolist()
        r = self.py.random
        return [[r() for _ in range(k)] for _ in range(n)]

    def one(self) -> float:
        return self.py.random()


def _pick(cumulative: tuple[float, ...], u: float) -> int:
    return min(bisect.bisect_right(cumulative, u), len(cumulative) - 1)


def _cumulative(weights: list[float]) -> tuple[float, ...]:
    return tuple(np.cumsum(_probabilities(weights)).tolist())


def _pareto(u: float, shape: float, scale: float, cap: int) -> int:
    # Inverse CDF of numpy's Lomax/Pareto II: house numbers cluster low, as on real streets.
    return int(min(max(((1.0 - u) ** (-1.0 / shape) - 1.0) * scale + 1, 1), cap))


_CN_LINE2_KINDS = _cumulative([0.45, 0.3, 0.15, 0.1])


class AddressFactory:
    """Creates addresses in batches; single addresses (for moves) go through the same code."""

    def __init__(self, draws: Draws, book: AddressBook, pools: dict[str, LocalePool]):
        self.draws = draws
        self.book = book
        self.pools = pools

    def cn(self, divisions: np.ndarray | list[int]) -> list[int]:
        division_list = np.asarray(divisions, dtype=np.int64).tolist()
        book = self.book
        start = len(book)
        for div_index, u in zip(
            division_list, self.draws.rows(len(division_list), 10), strict=True
        ):
            div = DIVISIONS[div_index]
            kind = _pick(_CN_LINE2_KINDS, u[0])
            building = 1 + int(u[1] * 30)
            room = f"{1 + int(u[2] * 32)}{1 + int(u[3] * 4):02d}室"
            if kind == 0:
                line2 = f"{building}栋{room}"
            elif kind == 1:
                line2 = f"{building}号楼{1 + int(u[4] * 4)}单元{room}"
            elif kind == 2:
                community = CN_COMMUNITIES[int(u[4] * len(CN_COMMUNITIES))]
                line2 = f"{community}{building}栋{room}"
            else:
                line2 = ""
            stem = CN_STREET_STEMS[int(u[5] * len(CN_STREET_STEMS))]
            direction = CN_STREET_DIRECTIONS[int(u[6] * len(CN_STREET_DIRECTIONS))]
            suffix = CN_STREET_SUFFIXES[int(u[7] * len(CN_STREET_SUFFIXES))]
            book.line1.append(f"{stem}{direction}{suffix}{_pareto(u[8], 1.2, 40, 999)}号")
            book.line2.append(line2)
            book.district.append(div.district)
            book.city.append(div.city)
            book.province.append(div.province)
            book.postcode.append(div.postcode)
            book.country.append("CN")
            book.division.append(div_index)
        return list(range(start, len(book)))

    def intl(self, locale: str, n: int) -> list[int]:
        pool = self.pools[locale]
        templates = LINE2_TEMPLATES[locale]
        country = LOCALE_COUNTRY[locale]
        book = self.book
        start = len(book)
        for u in self.draws.rows(n, 8):
            street = pool.streets[int(u[0] * len(pool.streets))]
            number = _pareto(u[1], 1.0, 30, 2999)
            if locale == "de_DE":
                line1 = f"{street} {number}"
            elif locale == "fr_FR":
                line1 = f"{number}, {street}"
            else:
                line1 = f"{number} {street}"
            line2 = ""
            if u[2] < 0.15:
                flat = 1 + int(u[3] * 59)
                template = templates[int(u[4] * len(templates))]
                line2 = template.format(n=flat, l="ABCDEFGH"[flat % 8])
            book.line1.append(line1)
            book.line2.append(line2)
            book.district.append("")
            book.city.append(pool.cities[int(u[5] * len(pool.cities))])
            book.province.append(pool.regions[int(u[6] * len(pool.regions))])
            book.postcode.append(pool.postcodes[int(u[7] * len(pool.postcodes))])
            book.country.append(country)
            book.division.append(-1)
        return list(range(start, len(book)))

    def moved(self, address: int, locale: str, *, same_province_as: int = -1) -> int:
        """A new address for someone who moves: same province in China, same country abroad.

        `same_province_as` (a division index) pins the province, which keeps unlabelled
        people's addresses in their ID-card province.
        """
        if locale == "zh_CN":
            anchor = same_province_as if same_province_as >= 0 else self.book.division[address]
            options = DIVISIONS_BY_PROVINCE[DIVISIONS[anchor].province]
            return self.cn([options[int(self.draws.one() * len(options))]])[0]
        return self.intl(locale, 1)[0]


_CN_PREFIX_CUMULATIVE = _cumulative([w for _, w in CN_MOBILE_PREFIXES])


class MobileFactory:
    """Unique mobile numbers (national significant numbers) per country."""

    def __init__(self, draws: Draws):
        self.draws = draws
        self.seen: set[str] = set()

    def _draw(self, country: str, u: list[float]) -> str:
        if country == "CN":
            prefix = CN_MOBILE_PREFIXES[_pick(_CN_PREFIX_CUMULATIVE, u[0])][0]
            return f"{prefix}{int(u[1] * 10**8):08d}"
        plan = PHONE_PLANS[country]
        prefix = plan.mobile_prefixes[int(u[0] * len(plan.mobile_prefixes))]
        width = plan.mobile_length - len(prefix)
        return prefix + f"{int(u[1] * 10**width):0{width}d}"

    def batch(self, countries: list[str]) -> list[str]:
        out = []
        for country, u in zip(countries, self.draws.rows(len(countries), 2), strict=True):
            number = self._draw(country, u)
            while number in self.seen:
                number = self._draw(country, self.draws.rows(1, 2)[0])
            self.seen.add(number)
            out.append(number)
        return out

    def one(self, country: str) -> str:
        return self.batch([country])[0]


def landline_number(country: str, division: int, u1: float, u2: float, u3: float) -> str:
    """A landline national significant number; mainland ones use the division's area code."""
    if country == "CN":
        div = DIVISIONS[division]
        rest = div.local_digits - 1
        return f"{div.area_code}{'2345678'[int(u1 * 7)]}{int(u2 * 10**rest):0{rest}d}"
    plan = PHONE_PLANS[country]
    area, firsts = plan.landline_areas[int(u3 * len(plan.landline_areas))]
    rest = plan.landline_length - len(area) - 1
    return f"{area}{firsts[int(u1 * len(firsts))]}{int(u2 * 10**rest):0{rest}d}"


_DOMAIN_CUMULATIVE: dict[str, tuple[float, ...]] = {
    locale: _cumulative([w for _, w in domains]) for locale, domains in EMAIL_DOMAINS_INTL.items()
}


@lru_cache(maxsize=65536)
def _email_token(name: str) -> str:
    """Lower-case ASCII letters and digits of a name, for e-mail local parts."""
    return "".join(c for c in ascii_fold(name).lower() if c.isalnum())


_CN_DOMAIN_CUMULATIVE = _cumulative([w for _, w in EMAIL_DOMAINS_CN])


class EmailFactory:
    """Unique, plausible e-mail addresses derived from the person's name."""

    def __init__(self, draws: Draws):
        self.draws = draws
        self.seen: set[str] = set()

    def many(
        self, family: list[str], given: list[str], birth_years: list[int], locales: list[str]
    ) -> list[str]:
        out = []
        for i, u in enumerate(self.draws.rows(len(family), 5)):
            fam = _email_token(family[i]) or "user"
            giv = _email_token(given[i]) or "x"
            pattern = int(u[0] * 7)
            number = 1 + int(u[1] * 999)
            year = f"{birth_years[i] % 100:02d}"
            if locales[i] == "zh_CN":
                domain = EMAIL_DOMAINS_CN[_pick(_CN_DOMAIN_CUMULATIVE, u[2])][0]
                if pattern == 6:
                    # Plenty of mainland users only have their QQ number as an address.
                    local, domain = str(10**5 + int(u[3] * (10**10 - 10**5))), "qq.com"
                else:
                    local = (
                        f"{fam}{giv}",
                        f"{fam}.{giv}",
                        f"{giv}{fam}",
                        f"{fam}{giv}{year}",
                        f"{fam[0]}{giv[0]}{birth_years[i]}",
                        f"{fam}_{giv}{number}",
                    )[pattern]
            else:
                domains = EMAIL_DOMAINS_INTL[locales[i]]
                domain = domains[_pick(_DOMAIN_CUMULATIVE[locales[i]], u[2])][0]
                local = (
                    f"{giv}.{fam}",
                    f"{giv[0]}{fam}",
                    f"{giv}{fam}{number}",
                    f"{fam}.{giv}",
                    f"{giv}_{fam}",
                    f"{giv}.{fam}{year}",
                    f"{giv}{fam[0]}{number}",
                )[pattern]
            candidate = f"{local}@{domain}"
            salt = u[4]
            while candidate in self.seen:
                candidate = f"{local}{1 + int(salt * 9999)}@{domain}"
                salt = self.draws.one()
            self.seen.add(candidate)
            out.append(candidate)
        return out

    def one(self, family: str, given: str, birth_year: int, locale: str) -> str:
        return self.many([family], [given], [birth_year], [locale])[0]


@dataclass
class People:
    """Truth about every person; lists are indexed by person number."""

    person_id: list[str]
    locale: list[str]
    country: list[str]
    is_cn: np.ndarray
    male: list[bool]
    dob: list[date]
    family: list[str]
    given: list[str]
    family_py: list[str]  # pinyin ("Ouyang") for Chinese people, the Latin name otherwise
    given_py: list[str]
    national_id: list[str]
    id_division: list[int]
    mobile: list[str]  # national significant number; country in `country`
    landline: list[str]
    email: list[str]
    address: list[int]
    company: list[str]
    company_address: list[int]
    household: np.ndarray  # household number; members of one household share an address
    household_size: np.ndarray
    twin_of: list[int]

    def __len__(self) -> int:
        return len(self.person_id)

    def full_name(self, p: int) -> str:
        if self.locale[p] == "zh_CN":
            return self.family[p] + self.given[p]
        return f"{self.given[p]} {self.family[p]}"

    def name_pinyin(self, p: int) -> str:
        if self.locale[p] != "zh_CN":
            return ""
        return f"{self.family_py[p].upper()} {self.given_py[p].upper()}"

    def household_id(self, p: int) -> str:
        return f"H{self.household[p] + 1:07d}" if self.household_size[p] > 1 else ""


def given_pinyin(given: str) -> str:
    return "".join(GIVEN_PINYIN[c] for c in given).capitalize()


def _draw_given(rng: np.random.Generator, male: list[bool]) -> list[str]:
    n = len(male)
    lengths = np.where(rng.random(n) < rates.SINGLE_CHAR_GIVEN_NAME_SHARE, 1, 2).tolist()
    first = rng.random(n).tolist()
    second = rng.random(n).tolist()
    out = []
    for i in range(n):
        pool = MALE_GIVEN_CHARS if male[i] else FEMALE_GIVEN_CHARS
        a = pool[int(first[i] * len(pool))][0]
        if lengths[i] == 1:
            out.append(a)
        else:
            b = pool[int(second[i] * len(pool))][0]
            out.append(a + b)
    return out


def build_people(
    rng: np.random.Generator, n: int, start: date, pools: dict[str, LocalePool]
) -> tuple[People, AddressBook, AddressFactory, MobileFactory, EmailFactory]:
    """Generate `n` people with households, twins, common names and valid resident IDs."""
    # Households: consecutive person numbers; sizes drawn per household.
    sizes_all = rng.choice(
        list(rates.HOUSEHOLD_SIZE_WEIGHTS),
        size=n,
        p=_probabilities(list(rates.HOUSEHOLD_SIZE_WEIGHTS.values())),
    )
    cum = np.cumsum(sizes_all)
    n_households = int(np.searchsorted(cum, n) + 1)
    sizes = sizes_all[:n_households].copy()
    sizes[-1] -= int(cum[n_households - 1] - n)
    household = np.repeat(np.arange(n_households), sizes)
    household_size = sizes[household]
    head = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    head_of = head[household]
    position = np.arange(n) - head_of

    # Locale per household, so a household is either Chinese or from one foreign locale.
    intl_names = list(rates.INTL_LOCALES)
    hh_is_cn = rng.random(n_households) < rates.CHINESE_SHARE
    hh_intl = rng.choice(
        len(intl_names), size=n_households, p=_probabilities(list(rates.INTL_LOCALES.values()))
    )
    is_cn = hh_is_cn[household]
    locale = [
        "zh_CN" if c else intl_names[k]
        for c, k in zip(is_cn.tolist(), hh_intl[household].tolist(), strict=True)
    ]
    country = [LOCALE_COUNTRY[loc] for loc in locale]
    male = (rng.random(n) < 0.5).tolist()

    start_ord = start.toordinal()
    # Customer ages bunch around the 30s-50s rather than spreading evenly over 18-85.
    ages_days = (rng.normal(42, 14, size=n).clip(18, 85) * 365.25).astype(np.int64)
    dob_ord = (start_ord - ages_days).astype(np.int64)

    # Twins: two members of a multi-person household (the children in households of 3+).
    twin_of = [-1] * n
    multi = np.flatnonzero(sizes >= 2)
    n_twins = min(len(multi), round(rates.TWIN_PAIRS_PER_PERSON * n))
    twin_households = np.sort(rng.choice(multi, size=n_twins, replace=False)) if n_twins else []
    twin_pairs: list[tuple[int, int]] = []
    for h in np.asarray(twin_households, dtype=int).tolist():
        first = int(head[h]) + (1 if sizes[h] >= 3 else 0)
        twin_pairs.append((first, first + 1))
        twin_of[first], twin_of[first + 1] = first + 1, first
        dob_ord[first + 1] = dob_ord[first]
    dob = [date.fromordinal(int(o)) for o in dob_ord.tolist()]

    # Names.
    singles = [(h, p, w) for h, p, w in SURNAMES]
    single_p = _probabilities([w for _, _, w in singles]) * (1 - rates.COMPOUND_SURNAME_SHARE)
    compound_p = _probabilities([w for _, _, w in COMPOUND_SURNAMES]) * (
        rates.COMPOUND_SURNAME_SHARE
    )
    surname_table = [h for h, _, _ in singles] + [h for h, _, _ in COMPOUND_SURNAMES]
    surname_idx = rng.choice(
        len(surname_table), size=n, p=np.concatenate([single_p, compound_p])
    ).tolist()
    family = [surname_table[i] for i in surname_idx]
    given = _draw_given(rng, male)

    intl_family_u = rng.random(n).tolist()
    intl_given_u = rng.random(n).tolist()
    for i in range(n):
        if locale[i] != "zh_CN":
            pool = pools[locale[i]]
            firsts = pool.first_male if male[i] else pool.first_female
            family[i] = pool.last[int(intl_family_u[i] * len(pool.last))]
            given[i] = firsts[int(intl_given_u[i] * len(firsts))]

    # Household members mostly share the head's family name (children take the father's).
    share_surname = (rng.random(n) < 0.65).tolist()
    for i in np.flatnonzero(position > 0).tolist():
        if share_surname[i] or twin_of[i] >= 0:
            family[i] = family[int(head_of[i])]
    for a, b in twin_pairs:
        family[b] = family[a]
        # Chinese twins often share the generation character: 张子涵 / 张子轩.
        two_chars = len(given[a]) == 2 and len(given[b]) == 2
        if locale[a] == "zh_CN" and two_chars and rng.random() < 0.5:
            given[b] = given[a][0] + given[b][1]
        attempts = 0
        while given[b] == given[a] and attempts < 20:
            given[b] = _draw_given(rng, [male[b]])[0]
            if locale[b] != "zh_CN":
                pool = pools[locale[b]]
                firsts = pool.first_male if male[b] else pool.first_female
                given[b] = firsts[int(rng.integers(len(firsts)))]
            attempts += 1

    # Very common full names for people living alone.
    common = (rng.random(n) < rates.COMMON_NAME_RATE) & (household_size == 1)
    for i in np.flatnonzero(common).tolist():
        if locale[i] == "zh_CN":
            options = COMMON_CN_NAMES_MALE if male[i] else COMMON_CN_NAMES_FEMALE
            family[i], given[i] = options[int(rng.integers(len(options)))]
        else:
            options_intl = [
                o for o in COMMON_INTL_NAMES[locale[i]] if (o[2] == "M") == bool(male[i])
            ]
            given[i], family[i], _ = options_intl[int(rng.integers(len(options_intl)))]

    family_py = [
        SURNAME_PINYIN[f] if loc == "zh_CN" else f for f, loc in zip(family, locale, strict=True)
    ]
    given_py = [
        given_pinyin(g) if loc == "zh_CN" else g for g, loc in zip(given, locale, strict=True)
    ]

    # Resident IDs and where people live. Heads live in their ID-card province; members live
    # with the head and hold an ID from the same province, so only injected events break it.
    div_p = _probabilities([d.weight for d in DIVISIONS])
    id_division = rng.choice(len(DIVISIONS), size=n, p=div_p)
    residence = id_division.copy()
    move_u = rng.random(n)
    pick_u = rng.random(n)
    for i in range(n):
        if not is_cn[i]:
            continue
        if position[i] == 0:
            if move_u[i] < 0.25:
                options = DIVISIONS_BY_PROVINCE[DIVISIONS[id_division[i]].province]
                residence[i] = options[int(pick_u[i] * len(options))]
        else:
            h = int(head_of[i])
            residence[i] = residence[h]
            options = DIVISIONS_BY_PROVINCE[DIVISIONS[residence[h]].province]
            if move_u[i] < 0.6 or twin_of[i] >= 0:
                id_division[i] = id_division[h]
            else:
                id_division[i] = options[int(pick_u[i] * len(options))]
    for a, b in twin_pairs:
        id_division[b] = id_division[a]

    national_id = _national_ids(rng, is_cn, male, dob, id_division, twin_pairs)
    id_division_list = [int(d) if c else -1 for d, c in zip(id_division, is_cn, strict=True)]

    # Addresses: one per household, created for the head.
    book = AddressBook()
    draws = Draws(rng)
    factory = AddressFactory(draws, book, pools)
    address = [-1] * n
    heads = head.tolist()
    cn_heads = [h for h in heads if is_cn[h]]
    for h, a in zip(cn_heads, factory.cn(residence[cn_heads]), strict=True):
        address[h] = a
    for loc in intl_names:
        loc_heads = [h for h in heads if locale[h] == loc]
        for h, a in zip(loc_heads, factory.intl(loc, len(loc_heads)), strict=True):
            address[h] = a
    for i in range(n):
        if address[i] < 0:
            address[i] = address[int(head_of[i])]

    mobiles = MobileFactory(draws)
    mobile = mobiles.batch(country)

    landline = [""] * n
    has_landline = rng.random(n_households).tolist()
    landline_u = rng.random((n_households, 3)).tolist()
    residence_list = residence.tolist()
    for h_index, h in enumerate(heads):
        share = rates.LANDLINE_SHARE["CN" if is_cn[h] else "INTL"]
        if has_landline[h_index] < share:
            landline[h] = landline_number(country[h], residence_list[h], *landline_u[h_index])
    for i in range(n):
        if position[i] > 0:
            landline[i] = landline[int(head_of[i])]

    emails = EmailFactory(draws)
    email = emails.many(family_py, given_py, [d.year for d in dob], locale)

    company = [""] * n
    company_address = [-1] * n
    employed = np.flatnonzero(rng.random(n) < rates.COMPANY_SHARE).tolist()
    word_idx = rng.integers(len(CN_COMPANY_WORDS), size=len(employed)).tolist()
    trade_idx = rng.integers(len(CN_COMPANY_TRADES), size=len(employed)).tolist()
    office_u = rng.random(len(employed)).tolist()
    cn_employed: list[tuple[int, int]] = []
    for k, i in enumerate(employed):
        if is_cn[i]:
            div = DIVISIONS[int(residence[i])]
            word, trade = CN_COMPANY_WORDS[word_idx[k]], CN_COMPANY_TRADES[trade_idx[k]]
            company[i] = f"{div.city_short}{word}{trade}有限公司"
            options = DIVISIONS_BY_CITY[div.city]
            cn_employed.append((i, options[int(office_u[k] * len(options))]))
        else:
            pool = pools[locale[i]]
            company[i] = pool.companies[int(office_u[k] * len(pool.companies))]
    offices = factory.cn(np.array([o for _, o in cn_employed], dtype=int))
    for (i, _), a in zip(cn_employed, offices, strict=True):
        company_address[i] = a
    for loc in intl_names:
        loc_employed = [i for i in employed if locale[i] == loc]
        for i, a in zip(loc_employed, factory.intl(loc, len(loc_employed)), strict=True):
            company_address[i] = a

    people = People(
        person_id=[f"P{i + 1:07d}" for i in range(n)],
        locale=locale,
        country=country,
        is_cn=is_cn,
        male=male,
        dob=dob,
        family=family,
        given=given,
        family_py=family_py,
        given_py=given_py,
        national_id=national_id,
        id_division=id_division_list,
        mobile=mobile,
        landline=landline,
        email=email,
        address=address,
        company=company,
        company_address=company_address,
        household=household,
        household_size=household_size,
        twin_of=twin_of,
    )
    return people, book, factory, mobiles, emails


def _national_ids(
    rng: np.random.Generator,
    is_cn: np.ndarray,
    male: list[bool],
    dob: list[date],
    id_division: np.ndarray,
    twin_pairs: list[tuple[int, int]],
) -> list[str]:
    n = len(male)
    male_arr = np.asarray(male)
    # Sequence: odd for men, even for women (GB 11643-1999).
    seq = np.where(male_arr, 2 * rng.integers(0, 500, size=n) + 1, 2 * rng.integers(1, 500, size=n))
    for a, b in twin_pairs:
        # Twins registered together get neighbouring sequence numbers.
        step = 2 if male[a] == male[b] else 1
        seq[b] = seq[a] + step if seq[a] + step <= 999 else seq[a] - step
    codes = np.array([int(DIVISIONS[d].code) for d in id_division.tolist()], dtype=np.int64)
    ymd = np.array([d.year * 10000 + d.month * 100 + d.day for d in dob], dtype=np.int64)
    first17 = codes * 10**11 + ymd * 10**3 + seq
    cn_idx = np.flatnonzero(is_cn)
    # Re-draw the rare collisions so that an ID identifies exactly one person.
    seen: set[int] = set()
    for i in cn_idx.tolist():
        value = int(first17[i])
        while value in seen:
            s = int(rng.integers(1, 500)) * 2 - (1 if male[i] else 0)
            value = value - value % 1000 + s
        seen.add(value)
        first17[i] = value
    checks = id_check_digits(first17)
    return [f"{int(first17[i]):017d}{checks[i]}" if is_cn[i] else "" for i in range(n)]
