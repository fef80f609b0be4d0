"""String helpers: ID check digits, phone formats, encodings and the corruption primitives.

Corruption helpers take pre-drawn uniform numbers (`u`) instead of a random generator so that
the caller can draw them in one vectorised numpy call and the result stays deterministic.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from .reference import GIVEN_PINYIN, PHONE_PLANS, PLACEHOLDER_EMAILS

# --- Resident identity card (GB 11643-1999) -------------------------------------------------

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK_CHARS = "10X98765432"


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    total = sum(int(c) * int(w) for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def id_check_digits(first17: np.ndarray) -> list[str]:
    """Vectorised `id_check_digit` for 17-digit numbers held as int64."""
    digits = np.empty((len(first17), 17), dtype=np.int64)
    rest = first17.astype(np.int64).copy()
    for pos in range(16, -1, -1):
        digits[:, pos] = rest % 10
        rest //= 10
    totals = (digits * ID_WEIGHTS).sum(axis=1) % 11
    return [ID_CHECK_CHARS[t] for t in totals.tolist()]


def is_valid_resident_id(value: str) -> bool:
    """True when `value` is 18 characters with a correct check character (X case-insensitive)."""
    if len(value) != 18 or not value[:17].isdigit() or not value[:17].isascii():
        return False
    return id_check_digit(value[:17]) == value[17].upper()


def wrong_check_digit(first17: str, u: float) -> str:
    """A check character that is deliberately wrong."""
    right = id_check_digit(first17)
    options = [c for c in "0123456789X" if c != right]
    return options[int(u * len(options)) % len(options)]


# --- Character-level transforms ------------------------------------------------------------

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_HALF_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_FOLD_SPECIAL = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l"}
)


def to_full_width(value: str) -> str:
    return value.translate(_FULL_WIDTH)


def has_full_width_digit(value: str) -> bool:
    return value != value.translate(_HALF_WIDTH)


def ascii_fold(value: str) -> str:
    """Strip accents ("Müller" -> "Muller"), as ERP exports and e-mail local parts do."""
    value = value.translate(_FOLD_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def gbk_safe(value: str) -> str:
    """Fold only the characters GBK cannot hold; GBK keeps ü é è à ê, so "Müller" stays."""
    try:
        value.encode("gbk")
        return value
    except UnicodeEncodeError:
        out = []
        for char in value:
            try:
                char.encode("gbk")
                out.append(char)
            except UnicodeEncodeError:
                out.append(ascii_fold(char))
        return "".join(out)


# --- Typos -----------------------------------------------------------------------------------

_KEYBOARD_NEIGHBOURS = {
    "a": "qsz",
    "b": "vn",
    "c": "xv",
    "d": "sf",
    "e": "wr",
    "f": "dg",
    "g": "fh",
    "h": "gj",
    "i": "uo",
    "j": "hk",
    "k": "jl",
    "l": "k",
    "m": "n",
    "n": "bm",
    "o": "ip",
    "p": "o",
    "q": "w",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "u": "yi",
    "v": "cb",
    "w": "qe",
    "x": "zc",
    "y": "tu",
    "z": "x",
}


def _homophone_groups() -> dict[str, tuple[str, ...]]:
    by_reading: dict[str, list[str]] = {}
    for char, reading in GIVEN_PINYIN.items():
        by_reading.setdefault(reading, []).append(char)
    pool = tuple(GIVEN_PINYIN)
    out: dict[str, tuple[str, ...]] = {}
    for char, reading in GIVEN_PINYIN.items():
        others = tuple(c for c in by_reading[reading] if c != char)
        # Without a homophone in the pool an IME slip still picks a real name character.
        out[char] = others or tuple(c for c in pool if c != char)
    return out


HOMOPHONES: dict[str, tuple[str, ...]] = _homophone_groups()
# Characters of street names that IME users confuse with a same-sounding one.
_STREET_HOMOPHONES = {
    "中": "钟",
    "山": "珊",
    "人": "仁",
    "民": "明",
    "建": "健",
    "设": "社",
    "和": "合",
    "平": "萍",
    "华": "化",
    "新": "心",
    "光": "广",
    "明": "鸣",
    "江": "姜",
    "湖": "胡",
    "东": "冬",
    "西": "溪",
    "南": "楠",
    "北": "贝",
    "路": "露",
    "街": "阶",
}


def is_cjk(value: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in value)


def latin_typo(value: str, u1: float, u2: float, u3: float) -> str:
    """Substitute a neighbouring key, drop a letter or double a letter."""
    letters = [i for i, c in enumerate(value) if c.isalpha()]
    if len(letters) < 2:
        return value
    pos = letters[int(u1 * len(letters)) % len(letters)]
    char = value[pos]
    op = int(u3 * 3)
    if op == 0:
        near = _KEYBOARD_NEIGHBOURS.get(char.lower(), "e")
        new = near[int(u2 * len(near)) % len(near)]
        new = new.upper() if char.isupper() else new
        if new == char:
            return value[:pos] + value[pos + 1 :]
        return value[:pos] + new + value[pos + 1 :]
    if op == 1 and pos > 0:
        return value[:pos] + value[pos + 1 :]
    return value[:pos] + char + value[pos:]


def hanzi_typo(value: str, u1: float, u2: float) -> str:
    """Replace one name character by a homophone, the usual pinyin-IME slip."""
    positions = [i for i, c in enumerate(value) if c in HOMOPHONES]
    if not positions:
        return value
    pos = positions[int(u1 * len(positions)) % len(positions)]
    options = HOMOPHONES[value[pos]]
    return value[:pos] + options[int(u2 * len(options)) % len(options)] + value[pos + 1 :]


def name_typo(value: str, u1: float, u2: float, u3: float) -> str:
    return hanzi_typo(value, u1, u2) if is_cjk(value) else latin_typo(value, u1, u2, u3)


def transpose(value: str, u: float) -> str:
    """Swap two adjacent, different, non-space characters."""
    spots = [
        i
        for i in range(len(value) - 1)
        if value[i] != value[i + 1] and not value[i].isspace() and not value[i + 1].isspace()
    ]
    if not spots:
        return value
    i = spots[int(u * len(spots)) % len(spots)]
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]


def street_typo(value: str, u1: float, u2: float, u3: float) -> str:
    """House-number digits transposed, a same-sounding character, or a Latin typo."""
    digit_spots = [
        i
        for i in range(len(value) - 1)
        if value[i].isdigit() and value[i + 1].isdigit() and value[i] != value[i + 1]
    ]
    if digit_spots and u3 < 0.5:
        i = digit_spots[int(u1 * len(digit_spots)) % len(digit_spots)]
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if is_cjk(value):
        spots = [i for i, c in enumerate(value) if c in _STREET_HOMOPHONES]
        if spots:
            i = spots[int(u2 * len(spots)) % len(spots)]
            return value[:i] + _STREET_HOMOPHONES[value[i]] + value[i + 1 :]
        return value
    return latin_typo(value, u1, u2, u3)


def stray_spaces(value: str, u1: float, u2: float) -> str:
    """Leading, trailing or doubled blanks: copy-paste residue."""
    if not value:
        return value
    kind = int(u1 * 3)
    if kind == 0:
        return " " + value
    if kind == 1:
        return value + " "
    if " " in value:
        return value.replace(" ", "  ", 1)
    pos = 1 + int(u2 * max(len(value) - 1, 1)) % max(len(value) - 1, 1)
    return value[:pos] + "  " + value[pos:]


# --- E-mail ----------------------------------------------------------------------------------

INVALID_EMAIL_KINDS: tuple[str, ...] = (
    "double_at",
    "missing_domain",
    "missing_at",
    "placeholder",
    "space",
    "no_tld",
)


def invalid_email(email: str, u1: float, u2: float) -> str:
    """An undeliverable variant of `email`, in one of the ways people mistype them."""
    local, _, domain = email.partition("@")
    kind = INVALID_EMAIL_KINDS[int(u1 * len(INVALID_EMAIL_KINDS)) % len(INVALID_EMAIL_KINDS)]
    if kind == "double_at":
        return f"{local}@@{domain}"
    if kind == "missing_domain":
        return f"{local}@"
    if kind == "missing_at":
        return f"{local}{domain}"
    if kind == "placeholder":
        return PLACEHOLDER_EMAILS[int(u2 * len(PLACEHOLDER_EMAILS)) % len(PLACEHOLDER_EMAILS)]
    if kind == "space":
        cut = max(1, int(u2 * len(local)))
        return f"{local[:cut]} {local[cut:]}@{domain}".replace(" @", "@ ")
    return f"{local}@{domain.split('.')[0]}"


# --- Phones ----------------------------------------------------------------------------------


def is_cn_mobile(nsn: str) -> bool:
    return len(nsn) == 11 and nsn[0] == "1" and nsn[1] in "3456789"


def _groups(country: str, nsn: str) -> list[str]:
    """Digit groups as the country writes them."""
    if country == "CN":
        if is_cn_mobile(nsn):
            return [nsn[:3], nsn[3:7], nsn[7:]]
        area = 2 if nsn[0] == "2" or nsn.startswith("10") else 3
        return [nsn[:area], nsn[area:]]
    if country == "US":
        return [nsn[:3], nsn[3:6], nsn[6:]]
    if country == "GB":
        if nsn[0] == "7":
            return [nsn[:4], nsn[4:]]
        if nsn.startswith("20"):
            return [nsn[:2], nsn[2:6], nsn[6:]]
        return [nsn[:3], nsn[3:6], nsn[6:]]
    if country == "DE":
        return [nsn[:3], nsn[3:]] if nsn[0] == "1" else [nsn[:2], nsn[2:]]
    if country == "FR":
        return [nsn[0], nsn[1:3], nsn[3:5], nsn[5:7], nsn[7:9]]
    if country == "AU":
        return [nsn[:3], nsn[3:6], nsn[6:]] if nsn[0] == "4" else [nsn[0], nsn[1:5], nsn[5:]]
    return [nsn]


def _trunk(country: str, nsn: str) -> str:
    if country == "US":
        return ""
    if country == "CN":
        return "" if is_cn_mobile(nsn) else "0"
    return "0"


PHONE_STYLES: tuple[str, ...] = (
    "e164",  # +8613800138000
    "intl",  # +86 138 0013 8000
    "national",  # 138 0013 8000 / 010-62345678 / (415) 555-0134 / 020 7946 0018
    "compact",  # 13800138000 / 01062345678
    "dash",  # 138-0013-8000 / 415-555-0134
    "erp",  # +86-13800138000
    "idd",  # 0086 13800138000
    "paren",  # (010)62345678 / (02) 9876 5432
)


_CALLING_CODES = {"CN": "86", **{c: plan.calling_code for c, plan in PHONE_PLANS.items()}}


def format_phone(country: str, nsn: str, style: str) -> str:
    """Render a national significant number in one of `PHONE_STYLES`."""
    if not nsn:
        return ""
    code = _CALLING_CODES[country]
    if style == "e164":
        return f"+{code}{nsn}"
    if style == "compact" and country == "CN" and is_cn_mobile(nsn):
        return nsn
    groups = _groups(country, nsn)
    trunk = _trunk(country, nsn)
    if style == "e164":
        return f"+{code}{nsn}"
    if style == "intl":
        return f"+{code} " + " ".join(groups)
    if style == "erp":
        return f"+{code}-{nsn}"
    if style == "idd":
        return f"00{code} {nsn}"
    if style == "compact":
        return trunk + nsn
    if style == "dash":
        return trunk + "-".join(groups)
    if style == "paren":
        # Brackets around an area code; mobiles have none, so they fall back to national.
        landline = {"CN": not is_cn_mobile(nsn), "AU": nsn[0] != "4"}
        if landline.get(country, False):
            sep = "" if country == "CN" else " "
            return f"({trunk}{groups[0]}){sep}" + " ".join(groups[1:])
        style = "national"
    # national
    if country == "CN":
        if is_cn_mobile(nsn):
            return " ".join(groups)
        return f"0{groups[0]}-{groups[1]}"
    if country == "US":
        return f"({groups[0]}) {groups[1]}-{groups[2]}"
    if country == "AU" and nsn[0] != "4":
        return f"(0{groups[0]}) " + " ".join(groups[1:])
    return trunk + " ".join(groups)


def e164(country: str, nsn: str) -> str:
    return f"+{_CALLING_CODES[country]}{nsn}" if nsn else ""


def shorten_phone(value: str, u: float) -> str:
    """Lose 2-3 trailing digits, as when a number is cut off on entry."""
    drop = 2 + int(u * 2)
    out = value
    removed = 0
    while out and removed < drop:
        if out[-1].isdigit() or out[-1] in "０１２３４５６７８９":
            removed += 1
        out = out[:-1]
    return out.rstrip(" -")
