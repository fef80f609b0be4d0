"""Source records and how each of the four systems writes a person down.

Each source gets a `SourceRecords` (which person, first delivery day, which address the record
shows) and a base rendering: one list per output column, with corruption applied column by
column at the rates in `rates.py`. Later versions of a record are stored as overrides of these
base values (see `schedule.py`), rendered by `render_change`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from .people import AddressBook, AddressFactory, Draws, EmailFactory, MobileFactory, People
from .rates import (
    CORRUPTION_RATES,
    DUPLICATE_RATES,
    MISSING_RATES,
    NEW_RECORD_RATE_PER_DAY,
    PRESENCE,
    SOURCES,
)
from .reference import COUNTRY_NAMES_EN, COUNTRY_NAMES_ZH, PROVINCE_SHORT
from .text import (
    format_phone,
    gbk_safe,
    invalid_email,
    name_typo,
    shorten_phone,
    stray_spaces,
    street_typo,
    to_full_width,
    transpose,
    wrong_check_digit,
)

CRM_COLUMNS: tuple[str, ...] = (
    "customer_no",
    "family_name",
    "given_name",
    "gender",
    "birth_date",
    "id_card_no",
    "mobile",
    "home_phone",
    "email",
    "address",
    "district",
    "city",
    "province",
    "zip_code",
    "country",
    "tags",
    "member_level",
    "marketing_consent",
    "updated_time",
)
ERP_COLUMNS: tuple[str, ...] = (
    "客户编号",
    "客户名称",
    "性别",
    "出生日期",
    "身份证号码",
    "手机号码",
    "固定电话",
    "电子邮箱",
    "联系地址",
    "账单地址",
    "省份",
    "城市",
    "区县",
    "邮政编码",
    "国家",
    "公司名称",
    "更新时间",
)
WEB_COLUMNS: tuple[str, ...] = (
    "user_id",
    "email",
    "display_name",
    "first_name",
    "last_name",
    "phone",
    "birthday",
    "gender",
    "address",  # rendered as a nested object; base value is a dict or None
    "newsletter_opt_in",
    "created_at",
    "updated_at",
)
CC_COLUMNS: tuple[str, ...] = (
    "contact_id",
    "caller_name",
    "phone_number",
    "alt_phone",
    "email",
    "city",
    "dob_year",
    "dob_month",
    "dob_day",
    "last_call_at",
    "call_count",
    "vip_flag",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "crm": CRM_COLUMNS,
    "erp_billing": ERP_COLUMNS,
    "web_signup": WEB_COLUMNS,
    "call_center": CC_COLUMNS,
}
# The column each source stamps with the record's last-change time.
TIMESTAMP_COLUMN: dict[str, str] = {
    "crm": "updated_time",
    "erp_billing": "更新时间",
    "web_signup": "updated_at",
    "call_center": "last_call_at",
}
TAGS: tuple[str, ...] = ("VIP", "new", "churn_risk", "wholesale")
TAG_RATES: tuple[float, ...] = (0.08, 0.10, 0.07, 0.04)
MEMBER_LEVELS: tuple[str, ...] = ("Bronze", "Silver", "Gold", "Platinum", "")
MEMBER_LEVEL_P: tuple[float, ...] = (0.35, 0.25, 0.12, 0.03, 0.25)
SHANGHAI_UTC_OFFSET = 8 * 3600  # the systems write local time; the web app writes UTC


@dataclass
class Context:
    """Everything renderers need: the random stream, the truth and the factories."""

    rng: np.random.Generator
    people: People
    book: AddressBook
    addresses: AddressFactory
    mobiles: MobileFactory
    emails: EmailFactory
    start: date
    days: int

    @property
    def draws(self) -> Draws:
        return self.addresses.draws

    @property
    def start_epoch(self) -> int:
        midnight = datetime(self.start.year, self.start.month, self.start.day)
        return int((midnight - _EPOCH).total_seconds())

    def day_time(self, day: int, n: int) -> np.ndarray:
        """Times during business hours on `day` (0 = start date), as epoch seconds."""
        return self.start_epoch + day * 86400 + self.rng.integers(8 * 3600, 22 * 3600, size=n)

    def one_day_time(self, day: int) -> int:
        return self.start_epoch + day * 86400 + 8 * 3600 + int(self.draws.one() * 14 * 3600)


_EPOCH = datetime(1970, 1, 1)


@dataclass
class SourceRecords:
    """One row per distinct source record; arrays are aligned with `ids`."""

    source: str
    ids: list[str]
    person: np.ndarray
    first_day: np.ndarray
    is_dup: np.ndarray
    address: np.ndarray  # address id the base version shows
    base_ts: np.ndarray  # epoch seconds of the base version
    created_ts: np.ndarray
    # Constraints set by injected events, so the event stays visible in the files.
    clean_email: np.ndarray = field(init=False)
    clean_mobile: np.ndarray = field(init=False)
    clean_id_province: np.ndarray = field(init=False)
    locked: np.ndarray = field(init=False)  # no regular changes (an event owns the record)
    mobile_override: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.clean_email = np.zeros(n, dtype=bool)
        self.clean_mobile = np.zeros(n, dtype=bool)
        self.clean_id_province = np.zeros(n, dtype=bool)
        self.locked = np.zeros(n, dtype=bool)

    def __len__(self) -> int:
        return len(self.ids)


def draw_presence(rng: np.random.Generator, n: int) -> np.ndarray:
    """Boolean matrix people x SOURCES; everybody is in at least one source."""
    p = np.array([PRESENCE[s] for s in SOURCES])
    present = rng.random((n, len(SOURCES))) < p
    nowhere = np.flatnonzero(~present.any(axis=1))
    picks = rng.choice(len(SOURCES), size=len(nowhere), p=p / p.sum())
    present[nowhere, picks] = True
    return present


def build_records(
    ctx: Context, source: str, persons: np.ndarray, *, quiet_day: int = -1
) -> SourceRecords:
    """Records for the people present in `source`, ordered by first delivery day.

    `quiet_day` (fault injection) is a day on which the source delivers nothing new: its
    records move to the day before, because that day's file is a re-delivery.
    """
    rng = ctx.rng
    dups = persons[rng.random(len(persons)) < DUPLICATE_RATES[source]]
    person = np.concatenate([persons, dups])
    is_dup = np.concatenate([np.zeros(len(persons), bool), np.ones(len(dups), bool)])
    order = rng.permutation(len(person))
    person, is_dup = person[order], is_dup[order]
    n = len(person)
    first_day = np.zeros(n, dtype=np.int64)
    if ctx.days > 1:
        later_share = min(NEW_RECORD_RATE_PER_DAY * (ctx.days - 1), 0.5)
        later = rng.random(n) < later_share
        first_day[later] = rng.integers(1, ctx.days, size=int(later.sum()))
        if quiet_day > 0:
            first_day[first_day == quiet_day] = quiet_day - 1
    sort = np.argsort(first_day, kind="stable")
    person, is_dup, first_day = person[sort], is_dup[sort], first_day[sort]

    base = int(rng.integers(1000, 9000))
    if source == "crm":
        ids = [f"CRM{base + k:07d}" for k in range(n)]
    elif source == "erp_billing":
        ids = [f"ERP-{base * 10 + k:08d}" for k in range(n)]
    elif source == "web_signup":
        ids = _unique_hex_ids(rng, n)
    else:
        ids = [f"CC-{base // 10 + k:06d}" for k in range(n)]

    # Base version time: day-one records were last touched some time before the extract.
    history_days = 365 if source == "call_center" else 1000
    base_ts = np.where(
        first_day == 0,
        ctx.start_epoch + 22 * 3600 - rng.integers(0, history_days * 86400, size=n),
        ctx.day_time(0, n) + first_day * 86400,
    )
    created_ts = np.where(first_day == 0, base_ts - rng.integers(0, 500 * 86400, size=n), base_ts)
    address = np.array([ctx.people.address[p] for p in person.tolist()], dtype=np.int64)
    return SourceRecords(source, ids, person, first_day, is_dup, address, base_ts, created_ts)


def _unique_hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    values = rng.integers(0, 2**48, size=n)
    seen: set[int] = set()
    out = []
    for v in values.tolist():
        while v in seen:
            v = int(rng.integers(0, 2**48))
        seen.add(v)
        out.append(f"W-{v:012x}")
    return out


# --- Shared column helpers -------------------------------------------------------------------


def _mask(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def _apply(
    rng: np.random.Generator,
    values: list[Any],
    rate: float,
    fn: Callable[..., Any],
    *,
    eligible: np.ndarray | None = None,
    n_args: int = 3,
) -> np.ndarray:
    """Apply `fn(value, u1..uk)` to a random `rate` share of the eligible, non-empty values."""
    n = len(values)
    mask = _mask(rng, n, rate)
    if eligible is not None:
        mask &= eligible
    idx = np.flatnonzero(mask)
    u = rng.random((len(idx), n_args)).tolist()
    for k, i in enumerate(idx.tolist()):
        if values[i]:
            values[i] = fn(values[i], *u[k])
    return mask


def _blank(values: list[Any], mask: np.ndarray, empty: Any = "") -> None:
    for i in np.flatnonzero(mask).tolist():
        values[i] = empty


def _choose(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> list[int]:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum()).tolist()


def _rate(kind: str, source: str) -> float:
    return CORRUPTION_RATES.get(kind, {}).get(source, 0.0)


def _missing(field_name: str, source: str) -> float:
    return MISSING_RATES.get(field_name, {}).get(source, 0.0)


def _birth_dates(
    ctx: Context, recs: SourceRecords, source: str
) -> list[tuple[int, int, int] | None]:
    """(year, month, day) per record, with day/month swaps and gaps at the source's rates."""
    rng = ctx.rng
    dobs = [ctx.people.dob[p] for p in recs.person.tolist()]
    swap = _mask(rng, len(dobs), _rate("dob_day_month_swapped", source))
    missing = _mask(rng, len(dobs), _missing("birth_date", source))
    out: list[tuple[int, int, int] | None] = []
    for i, d in enumerate(dobs):
        if missing[i]:
            out.append(None)
        elif swap[i] and d.day <= 12 and d.day != d.month:
            out.append((d.year, d.day, d.month))
        else:
            out.append((d.year, d.month, d.day))
    return out


def _national_ids(ctx: Context, recs: SourceRecords, source: str) -> list[str]:
    rng = ctx.rng
    people = ctx.people
    values = [people.national_id[p] for p in recs.person.tolist()]
    n = len(values)
    bad = _mask(rng, n, _rate("bad_id_check_digit", source)) & ~recs.clean_id_province
    u = rng.random(n).tolist()
    lower_x = (rng.random(n) < 0.3).tolist()
    missing = _mask(rng, n, _missing("national_id", source)) & ~recs.clean_id_province
    for i in range(n):
        value = values[i]
        if not value:
            continue
        if missing[i]:
            values[i] = ""
        elif bad[i]:
            values[i] = value[:17] + wrong_check_digit(value[:17], u[i])
        elif value[17] == "X" and lower_x[i]:
            values[i] = value[:17] + "x"
    return values


def _mobiles(
    ctx: Context,
    recs: SourceRecords,
    source: str,
    cn_styles: tuple[tuple[str, float], ...],
    intl_styles: tuple[tuple[str, float], ...],
    *,
    numbers: list[str] | None = None,
    allow_missing: bool = True,
) -> list[str]:
    """Rendered mobile numbers with the source's style mix and corruption."""
    rng = ctx.rng
    people = ctx.people
    pers = recs.person.tolist()
    n = len(pers)
    nsn = numbers if numbers is not None else [people.mobile[p] for p in pers]
    countries = [people.country[p] for p in pers]
    cn_pick = _choose(rng, n, tuple(w for _, w in cn_styles))
    intl_pick = _choose(rng, n, tuple(w for _, w in intl_styles))
    values = []
    for i in range(n):
        country = countries[i]
        number = nsn[i]
        if i in recs.mobile_override:
            # A shared number is a mainland mobile whoever it is recorded against.
            country, number = "CN", recs.mobile_override[i]
        style = cn_styles[cn_pick[i]][0] if country == "CN" else intl_styles[intl_pick[i]][0]
        values.append(format_phone(country, number, style))
    protected = recs.clean_mobile.copy()
    for i in recs.mobile_override:
        protected[i] = True
    _apply(
        rng, values, _rate("invalid_phone", source), shorten_phone, eligible=~protected, n_args=1
    )
    _apply(
        rng,
        values,
        _rate("full_width_digits", source),
        to_full_width,
        eligible=~protected,
        n_args=0,
    )
    if allow_missing:
        _blank(values, _mask(rng, n, _missing("mobile", source)) & ~protected)
    return values


def _landlines(
    ctx: Context, recs: SourceRecords, styles: tuple[tuple[str, float], ...]
) -> list[str]:
    people = ctx.people
    pers = recs.person.tolist()
    pick = _choose(ctx.rng, len(pers), tuple(w for _, w in styles))
    return [
        format_phone(people.country[p], people.landline[p], styles[pick[i]][0])
        if people.landline[p]
        else ""
        for i, p in enumerate(pers)
    ]


def _emails(
    ctx: Context, recs: SourceRecords, source: str, emails: list[str] | None = None
) -> list[str]:
    rng = ctx.rng
    values = emails if emails is not None else [ctx.people.email[p] for p in recs.person.tolist()]
    n = len(values)
    # Some systems keep what the customer typed: a capitalised first letter or all caps.
    case = rng.random(n).tolist()
    for i in range(n):
        if recs.clean_email[i]:
            continue
        if case[i] < 0.03:
            values[i] = values[i].upper()
        elif case[i] < 0.08:
            values[i] = values[i][:1].upper() + values[i][1:]
    _apply(
        rng,
        values,
        _rate("invalid_email", source),
        invalid_email,
        eligible=~recs.clean_email,
        n_args=2,
    )
    _blank(values, _mask(rng, n, _missing("email", source)) & ~recs.clean_email)
    return values


def _latin_case(rng: np.random.Generator, n: int) -> list[int]:
    """0 = as is ("Zhang"), 1 = upper ("ZHANG"), 2 = lower ("zhang")."""
    return _choose(rng, n, (0.75, 0.15, 0.10))


def _cased(value: str, case: int) -> str:
    return value.upper() if case == 1 else value.lower() if case == 2 else value


def _split_names(ctx: Context, recs: SourceRecords, source: str) -> tuple[list[str], list[str]]:
    """Family and given names per record: script choice, then typos, then order swaps."""
    rng = ctx.rng
    people = ctx.people
    pers = recs.person.tolist()
    n = len(pers)
    is_cn = people.is_cn[recs.person]
    pinyin = _mask(rng, n, _rate("pinyin_instead_of_hanzi", source)) & is_cn
    case = _latin_case(rng, n)
    family, given = [], []
    for i, p in enumerate(pers):
        if pinyin[i]:
            family.append(_cased(people.family_py[p], case[i]))
            given.append(_cased(people.given_py[p], case[i]))
        else:
            family.append(people.family[p])
            given.append(people.given[p])
    _apply(rng, given, _rate("name_typo", source), name_typo)
    _apply(rng, given, _rate("name_transposed", source), transpose, n_args=1)
    swap = _mask(rng, n, _rate("name_order_swapped", source))
    for i in np.flatnonzero(swap).tolist():
        family[i], given[i] = given[i], family[i]
    spaces = _mask(rng, n, _rate("stray_spaces", source))
    which = rng.random(n).tolist()
    u = rng.random((n, 2)).tolist()
    for i in np.flatnonzero(spaces).tolist():
        if which[i] < 0.5:
            family[i] = stray_spaces(family[i], *u[i])
        else:
            given[i] = stray_spaces(given[i], *u[i])
    return family, given


def _street_lines(ctx: Context, recs: SourceRecords, source: str, full: bool = False) -> list[str]:
    book = ctx.book
    addresses = recs.address.tolist()
    values = [book.full_address(a) if full else book.street_line(a) for a in addresses]
    _apply(ctx.rng, values, _rate("street_typo", source), street_typo)
    return values


def _short_forms(ctx: Context, values: list[str], kind: str, rate: float = 0.15) -> list[str]:
    """Chinese systems often drop the 省/市 suffix: 广东 for 广东省, 广州 for 广州市."""
    mask = _mask(ctx.rng, len(values), rate).tolist()
    out = []
    for v, m in zip(values, mask, strict=True):
        if m and v in PROVINCE_SHORT and kind == "province":
            out.append(PROVINCE_SHORT[v])
        elif m and kind == "city" and v.endswith("市"):
            out.append(v[:-1])
        else:
            out.append(v)
    return out


def format_time(seconds: int, style: str) -> str:
    """Scalar `format_times`, for the few values written during daily changes."""
    if style == "web":
        seconds -= SHANGHAI_UTC_OFFSET
    moment = _EPOCH + timedelta(seconds=seconds)
    if style == "crm":
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if style == "erp":
        return moment.strftime("%Y/%m/%d %H:%M")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_times(seconds: np.ndarray | list[int], style: str) -> list[str]:
    """Epoch seconds (local time) to the text each system writes."""
    arr = np.asarray(seconds, dtype=np.int64)
    if style == "web":
        arr = arr - SHANGHAI_UTC_OFFSET
    text = np.datetime_as_string(arr.astype("datetime64[s]"), unit="s").tolist()
    if style == "crm":
        return [t.replace("T", " ") for t in text]
    if style == "erp":
        return [t[:16].replace("-", "/").replace("T", " ") for t in text]
    return [t + "Z" for t in text]


# --- CRM -------------------------------------------------------------------------------------

CRM_MOBILE_CN = (("compact", 0.3), ("national", 0.3), ("dash", 0.2), ("intl", 0.1), ("e164", 0.1))
CRM_MOBILE_INTL = (("national", 0.5), ("intl", 0.3), ("e164", 0.1), ("dash", 0.1))
CRM_LANDLINE = (("national", 0.6), ("paren", 0.2), ("compact", 0.1), ("intl", 0.1))


def render_crm(ctx: Context, recs: SourceRecords) -> dict[str, list[Any]]:
    rng = ctx.rng
    people, book = ctx.people, ctx.book
    source = "crm"
    pers = recs.person.tolist()
    n = len(pers)
    is_cn = people.is_cn[recs.person].tolist()
    family, given = _split_names(ctx, recs, source)

    gender_style = rng.random(n).tolist()
    gender = []
    for i, p in enumerate(pers):
        male = people.male[p]
        if is_cn[i] and gender_style[i] < 0.5:
            gender.append("男" if male else "女")
        else:
            gender.append("M" if male else "F")
    _blank(gender, _mask(rng, n, _missing("gender", source)))

    birth = [
        f"{d[0]:04d}-{d[1]:02d}-{d[2]:02d}" if d else "" for d in _birth_dates(ctx, recs, source)
    ]
    national_id = _national_ids(ctx, recs, source)
    mobile = _mobiles(ctx, recs, source, CRM_MOBILE_CN, CRM_MOBILE_INTL)
    home_phone = _landlines(ctx, recs, CRM_LANDLINE)
    email = _emails(ctx, recs, source)

    addresses = recs.address.tolist()
    address = _street_lines(ctx, recs, source)
    _apply(rng, address, _rate("stray_spaces", source), stray_spaces, n_args=2)
    _blank(address, _mask(rng, n, _missing("address", source)))
    district = [book.district[a] for a in addresses]
    city = _short_forms(ctx, [book.city[a] for a in addresses], "city")
    province = _short_forms(ctx, [book.province[a] for a in addresses], "province")
    _blank(province, _mask(rng, n, _missing("province", source)) & ~recs.clean_id_province)
    zip_code = [book.postcode[a] for a in addresses]
    _blank(zip_code, _mask(rng, n, _missing("postcode", source)))

    country_style = rng.random(n).tolist()
    country_pick = rng.random(n).tolist()
    country = []
    for i, p in enumerate(pers):
        code = people.country[p]
        names = COUNTRY_NAMES_EN[code]
        if country_style[i] < 0.10:
            country.append(names[int(country_pick[i] * len(names))])
        else:
            country.append(code)
    _blank(country, _mask(rng, n, _missing("country", source)))

    tag_draw = rng.random((n, len(TAGS))) < np.asarray(TAG_RATES)
    tags = [";".join(t for t, on in zip(TAGS, row, strict=True) if on) for row in tag_draw.tolist()]
    level = [MEMBER_LEVELS[k] for k in _choose(rng, n, MEMBER_LEVEL_P)]
    consent = ["Y" if c else "N" for c in (rng.random(n) < 0.6).tolist()]
    return {
        "customer_no": list(recs.ids),
        "family_name": family,
        "given_name": given,
        "gender": gender,
        "birth_date": birth,
        "id_card_no": national_id,
        "mobile": mobile,
        "home_phone": home_phone,
        "email": email,
        "address": address,
        "district": district,
        "city": city,
        "province": province,
        "zip_code": zip_code,
        "country": country,
        "tags": tags,
        "member_level": level,
        "marketing_consent": consent,
        "updated_time": format_times(recs.base_ts, "crm"),
    }


# --- ERP (GBK) -------------------------------------------------------------------------------


def render_erp(ctx: Context, recs: SourceRecords) -> dict[str, list[Any]]:
    rng = ctx.rng
    people, book = ctx.people, ctx.book
    source = "erp_billing"
    pers = recs.person.tolist()
    n = len(pers)
    is_cn = people.is_cn[recs.person]
    pinyin = _mask(rng, n, _rate("pinyin_instead_of_hanzi", source)) & is_cn
    spaced = _mask(rng, n, 0.07).tolist()
    intl_style = _choose(rng, n, (0.4, 0.3, 0.3))
    swap = _mask(rng, n, _rate("name_order_swapped", source)).tolist()
    given = [people.given[p] if not pinyin[i] else people.given_py[p] for i, p in enumerate(pers)]
    _apply(rng, given, _rate("name_typo", source), name_typo)
    _apply(rng, given, _rate("name_transposed", source), transpose, n_args=1)
    names = []
    for i, p in enumerate(pers):
        if is_cn[i] and not pinyin[i]:
            fam = people.family[p]
            names.append(f"{fam} {given[i]}" if spaced[i] else fam + given[i])
            continue
        fam = people.family_py[p] if is_cn[i] else people.family[p]
        if is_cn[i]:
            # Pinyin in a Chinese ERP is typed in capitals, family name first.
            first, second = fam.upper(), given[i].upper()
            names.append(f"{second} {first}" if swap[i] else f"{first} {second}")
        elif swap[i]:
            names.append(f"{fam} {given[i]}")
        elif intl_style[i] == 0:
            names.append(f"{fam}, {given[i]}")
        elif intl_style[i] == 1:
            names.append(f"{given[i]} {fam}".upper())
        else:
            names.append(f"{given[i]} {fam}")
    _apply(rng, names, _rate("stray_spaces", source), stray_spaces, n_args=2)

    gender = ["男" if people.male[p] else "女" for p in pers]
    _blank(gender, _mask(rng, n, _missing("gender", source)))
    birth = [
        f"{d[0]:04d}/{d[1]:02d}/{d[2]:02d}" if d else "" for d in _birth_dates(ctx, recs, source)
    ]
    national_id = _national_ids(ctx, recs, source)
    mobile = _mobiles(ctx, recs, source, (("erp", 1.0),), (("erp", 1.0),))
    landline = _landlines(ctx, recs, (("national", 1.0),))
    for i, p in enumerate(pers):
        if landline[i] and not is_cn[i]:
            landline[i] = format_phone(people.country[p], people.landline[p], "erp")
    email = _emails(ctx, recs, source)

    addresses = recs.address.tolist()
    mailing = _street_lines(ctx, recs, source, full=True)
    billing_pick = rng.random(n).tolist()
    billing = []
    for i, p in enumerate(pers):
        office = people.company_address[p]
        billing.append(
            book.full_address(office) if office >= 0 and billing_pick[i] < 0.4 else mailing[i]
        )
    _blank(mailing, _mask(rng, n, _missing("address", source)))
    province = [book.province[a] for a in addresses]
    _blank(province, _mask(rng, n, _missing("province", source)) & ~recs.clean_id_province)
    city = [book.city[a] for a in addresses]
    district = [book.district[a] for a in addresses]
    postcode = [book.postcode[a] for a in addresses]
    _blank(postcode, _mask(rng, n, _missing("postcode", source)))
    code_style = rng.random(n).tolist()
    country = [
        people.country[p] if code_style[i] < 0.1 else COUNTRY_NAMES_ZH[people.country[p]]
        for i, p in enumerate(pers)
    ]
    company = [people.company[p] for p in pers]
    columns = {
        "客户编号": list(recs.ids),
        "客户名称": names,
        "性别": gender,
        "出生日期": birth,
        "身份证号码": national_id,
        "手机号码": mobile,
        "固定电话": landline,
        "电子邮箱": email,
        "联系地址": mailing,
        "账单地址": billing,
        "省份": province,
        "城市": city,
        "区县": district,
        "邮政编码": postcode,
        "国家": country,
        "公司名称": company,
        "更新时间": format_times(recs.base_ts, "erp"),
    }
    # The export is GBK: characters it cannot hold are folded (Böhm -> Bohm) at the source.
    for key in ("客户名称", "联系地址", "账单地址", "城市", "省份", "公司名称", "电子邮箱"):
        columns[key] = [gbk_safe(v) for v in columns[key]]
    return columns


# --- Web sign-ups (JSON Lines) ---------------------------------------------------------------

WEB_PHONE_CN = (("e164", 0.5), ("compact", 0.3), ("intl", 0.1), ("dash", 0.1))
WEB_PHONE_INTL = (("e164", 0.6), ("national", 0.3), ("intl", 0.1))


def web_address(book: AddressBook, a: int) -> dict[str, str | None]:
    return {
        "line1": book.line1[a],
        "line2": book.line2[a] or None,
        "city": book.city[a],
        "region": book.province[a] or None,
        "postcode": book.postcode[a] or None,
        "country": book.country[a],
    }


def render_web(ctx: Context, recs: SourceRecords) -> dict[str, list[Any]]:
    rng = ctx.rng
    people, book = ctx.people, ctx.book
    source = "web_signup"
    pers = recs.person.tolist()
    n = len(pers)
    is_cn = people.is_cn[recs.person].tolist()

    # A second sign-up needs a second e-mail: the web system is keyed on it.
    emails = [people.email[p] for p in pers]
    for i in np.flatnonzero(recs.is_dup).tolist():
        p = pers[i]
        emails[i] = ctx.emails.one(
            people.family_py[p], people.given_py[p], people.dob[p].year, people.locale[p]
        )
    email = _emails(ctx, recs, source, emails)

    last, first = _split_names(ctx, recs, source)
    display_pick = _choose(rng, n, (0.3, 0.2, 0.1, 0.15, 0.15, 0.1))
    number = rng.integers(1, 100, size=n).tolist()
    display: list[str | None] = []
    for i, p in enumerate(pers):
        fam, giv = people.family_py[p], people.given_py[p]
        k = display_pick[i]
        if k == 0:
            display.append(f"{giv} {fam}" if not is_cn[i] else f"{fam} {giv}")
        elif k == 1:
            display.append(f"{fam}{giv}".lower() if is_cn[i] else f"{giv}{fam}".lower())
        elif k == 2:
            display.append(f"{giv} {fam}" if is_cn[i] else f"{giv} {fam[0]}.")
        elif k == 3:
            display.append(people.full_name(p))
        elif k == 4:
            display.append(f"{fam}{giv}{number[i]}".lower())
        else:
            display.append(None)
    first_out: list[str | None] = list(first)
    last_out: list[str | None] = list(last)
    name_missing = _mask(rng, n, 0.03).tolist()
    for i in range(n):
        if name_missing[i]:
            first_out[i] = last_out[i] = None

    phone: list[str | None] = list(_mobiles(ctx, recs, source, WEB_PHONE_CN, WEB_PHONE_INTL))
    phone = [v or None for v in phone]
    dates = _birth_dates(ctx, recs, source)
    compact = _mask(rng, n, 0.3).tolist()
    birthday = [
        None
        if d is None
        else f"{d[0]:04d}{d[1]:02d}{d[2]:02d}"
        if compact[i]
        else f"{d[0]:04d}-{d[1]:02d}-{d[2]:02d}"
        for i, d in enumerate(dates)
    ]
    gender_draw = rng.random(n).tolist()
    gender_missing = _mask(rng, n, _missing("gender", source)).tolist()
    gender: list[str | None] = []
    for i, p in enumerate(pers):
        if gender_missing[i]:
            gender.append(None)
        elif gender_draw[i] < 0.005:
            gender.append("other")
        else:
            gender.append("male" if people.male[p] else "female")

    addresses = recs.address.tolist()
    line1 = [book.line1[a] for a in addresses]
    _apply(rng, line1, _rate("street_typo", source), street_typo)
    address_missing = _mask(rng, n, _missing("address", source)).tolist()
    postcode_missing = _mask(rng, n, _missing("postcode", source)).tolist()
    address: list[dict[str, str | None] | None] = []
    for i, a in enumerate(addresses):
        if address_missing[i]:
            address.append(None)
            continue
        obj = web_address(book, a)
        obj["line1"] = line1[i]
        if postcode_missing[i]:
            obj["postcode"] = None
        address.append(obj)
    newsletter = (rng.random(n) < 0.45).tolist()
    return {
        "user_id": list(recs.ids),
        "email": [v or None for v in email],
        "display_name": display,
        "first_name": first_out,
        "last_name": last_out,
        "phone": phone,
        "birthday": birthday,
        "gender": gender,
        "address": address,
        "newsletter_opt_in": newsletter,
        "created_at": format_times(recs.created_ts, "web"),
        "updated_at": format_times(recs.base_ts, "web"),
    }


# --- Call centre (Parquet) -------------------------------------------------------------------

CC_PHONE_CN = (
    ("compact", 0.45),
    ("national", 0.1),
    ("idd", 0.1),
    ("e164", 0.15),
    ("intl", 0.1),
    ("dash", 0.1),
)
CC_PHONE_INTL = (("e164", 0.4), ("intl", 0.3), ("idd", 0.2), ("national", 0.1))


def render_call_center(ctx: Context, recs: SourceRecords) -> dict[str, list[Any]]:
    rng = ctx.rng
    people, book = ctx.people, ctx.book
    source = "call_center"
    pers = recs.person.tolist()
    n = len(pers)
    is_cn = people.is_cn[recs.person].tolist()

    style = _choose(rng, n, (0.55, 0.25, 0.1, 0.1))
    pinyin = _mask(rng, n, _rate("pinyin_instead_of_hanzi", source)).tolist()
    title_pick = rng.random(n).tolist()
    names: list[str | None] = []
    for i, p in enumerate(pers):
        fam, giv, male = people.family[p], people.given[p], people.male[p]
        if is_cn[i]:
            if pinyin[i]:
                names.append(f"{people.family_py[p]} {people.given_py[p]}")
            elif style[i] == 0:
                names.append(fam + ("先生" if male else "女士"))
            elif style[i] == 1 or style[i] == 3:
                names.append(fam + giv)
            else:
                names.append(("小" if title_pick[i] < 0.5 else "老") + fam)
        elif style[i] == 0:
            title = "Mr" if male else ("Ms" if title_pick[i] < 0.6 else "Mrs")
            names.append(f"{title} {fam}")
        elif style[i] == 1 or style[i] == 3:
            names.append(f"{giv} {fam}")
        else:
            names.append(giv)
    typo_eligible = np.array([s in (1, 3) for s in style], dtype=bool)
    _apply(rng, names, _rate("name_typo", source), name_typo, eligible=typo_eligible)
    _apply(rng, names, _rate("stray_spaces", source), stray_spaces, n_args=2)
    _blank(names, _mask(rng, n, _missing("caller_name", source)), None)

    # A second contact record for the same person came in on another number.
    numbers = [people.mobile[p] for p in pers]
    for i in np.flatnonzero(recs.is_dup).tolist():
        p = pers[i]
        numbers[i] = people.landline[p] or ctx.mobiles.one(people.country[p])
    phone = _mobiles(
        ctx, recs, source, CC_PHONE_CN, CC_PHONE_INTL, numbers=numbers, allow_missing=False
    )
    alt_pick = rng.random(n).tolist()
    alt: list[str | None] = []
    for i, p in enumerate(pers):
        line = people.landline[p]
        alt.append(
            format_phone(people.country[p], line, "compact")
            if line and alt_pick[i] < 0.35
            else None
        )
    email = _emails(ctx, recs, source)
    email_out: list[str | None] = [v or None for v in email]
    addresses = recs.address.tolist()
    short = _mask(rng, n, 0.5).tolist()
    city: list[str | None] = [
        book.city[a][:-1] if short[i] and book.city[a].endswith("市") else book.city[a]
        for i, a in enumerate(addresses)
    ]
    _blank(city, _mask(rng, n, _missing("city", source)), None)
    dates = _birth_dates(ctx, recs, source)
    year_only = _mask(rng, n, 0.1).tolist()
    dob_year: list[int | None] = []
    dob_month: list[int | None] = []
    dob_day: list[int | None] = []
    for i, d in enumerate(dates):
        if d is None:
            # Agents sometimes only ask for the year of birth.
            d_true = people.dob[pers[i]]
            dob_year.append(d_true.year if year_only[i] else None)
            dob_month.append(None)
            dob_day.append(None)
        else:
            dob_year.append(d[0])
            dob_month.append(d[1])
            dob_day.append(d[2])
    call_count = (rng.geometric(0.25, size=n)).tolist()
    vip = (rng.random(n) < 0.08).tolist()
    return {
        "contact_id": list(recs.ids),
        "caller_name": names,
        "phone_number": phone,
        "alt_phone": alt,
        "email": email_out,
        "city": city,
        "dob_year": dob_year,
        "dob_month": dob_month,
        "dob_day": dob_day,
        "last_call_at": recs.base_ts.tolist(),
        "call_count": call_count,
        "vip_flag": vip,
    }


RENDERERS: dict[str, Callable[[Context, SourceRecords], dict[str, list[Any]]]] = {
    "crm": render_crm,
    "erp_billing": render_erp,
    "web_signup": render_web,
    "call_center": render_call_center,
}


# --- Later versions --------------------------------------------------------------------------


def address_columns(ctx: Context, source: str, a: int) -> dict[str, Any]:
    """The columns a source writes for address `a`, without corruption."""
    book = ctx.book
    if source == "crm":
        return {
            "address": book.street_line(a),
            "district": book.district[a],
            "city": book.city[a],
            "province": book.province[a],
            "zip_code": book.postcode[a],
        }
    if source == "erp_billing":
        return {
            "联系地址": gbk_safe(book.full_address(a)),
            "省份": gbk_safe(book.province[a]),
            "城市": gbk_safe(book.city[a]),
            "区县": book.district[a],
            "邮政编码": book.postcode[a],
        }
    if source == "web_signup":
        return {"address": web_address(book, a)}
    return {"city": book.city[a]}


def mobile_columns(source: str, country: str, nsn: str, u: float) -> dict[str, Any]:
    if source == "crm":
        styles = ("compact", "national", "dash") if country == "CN" else ("national", "intl")
        return {"mobile": format_phone(country, nsn, styles[int(u * len(styles))])}
    if source == "erp_billing":
        return {"手机号码": format_phone(country, nsn, "erp")}
    if source == "web_signup":
        return {"phone": format_phone(country, nsn, "e164")}
    return {"phone_number": format_phone(country, nsn, "compact")}


EMAIL_COLUMN: dict[str, str] = {
    "crm": "email",
    "erp_billing": "电子邮箱",
    "web_signup": "email",
    "call_center": "email",
}
