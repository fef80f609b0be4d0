"""Names: Han-script detection and pinyin (R12).

Issue 4 deepens this (compound and polyphonic surnames, Latin name order); the skeleton gives the
matching step a script-independent key so `张三`, `张 三`, `Zhang San` and `ZHANGSAN` meet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"[\u3400-\u9fff]")
_NOT_NAME = re.compile(r"[^\w\s\u3400-\u9fff·'-]", re.UNICODE)


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


def clean_name(text: str | None) -> str | None:
    """NFKC (full-width to half-width), stray punctuation removed, spaces collapsed."""
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text)
    text = _NOT_NAME.sub(" ", text)
    text = " ".join(text.split())
    if has_han(text):
        # Han names carry no spaces: "张 三" is a typing slip for "张三". Joining can bring
        # together characters NFKC composes (Hangul jamo), so normalise again to stay idempotent.
        text = unicodedata.normalize("NFKC", text.replace(" ", ""))
    return text or None


@lru_cache(maxsize=200_000)
def to_pinyin(text: str | None) -> str | None:
    """Uppercase pinyin without tones, syllables separated by spaces: 张三 -> ZHANG SAN."""
    name = clean_name(text)
    if name is None:
        return None
    if not has_han(name):
        return name.upper()
    syllables = lazy_pinyin(name, style=Style.NORMAL, errors="ignore")
    return " ".join(s.upper() for s in syllables if s.strip()) or None


# Two-character surnames, so 欧阳娜娜 splits as 欧阳 + 娜娜 rather than 欧 + 阳娜娜.
# Issue 4 extends this list and adds surname readings for polyphonic characters.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "令狐",
        "慕容",
        "夏侯",
        "尉迟",
        "公孙",
        "长孙",
        "宇文",
        "司徒",
        "申屠",
        "端木",
        "独孤",
        "南宫",
    }
)
_HAN_HONORIFIC = re.compile(r"^(\w{1,2}?)(先生|女士|小姐|太太|夫人|老师)$")
_LATIN_HONORIFIC = re.compile(r"^(?:mr|mrs|ms|miss|dr|mx)\.?\s+", re.IGNORECASE)


def _syllables(text: str) -> str:
    return "".join(lazy_pinyin(text, style=Style.NORMAL, errors="ignore")).upper()


@lru_cache(maxsize=200_000)
def name_tokens(text: str | None) -> list[str] | None:
    """Script-independent name parts for matching: 张三丰 -> [ZHANG, SANFENG].

    Han names split into surname and given name (each in joined pinyin), so they meet the same
    person written in Latin script in either order (Sanfeng Zhang -> [SANFENG, ZHANG], sorted
    alike; "San Feng Zhang" stays three parts). A surname with an honorific only (王先生,
    Ms Booth) yields just the surname: partial evidence, which matching weighs less than a full
    name.
    """
    name = clean_name(text)
    if not name:
        return None
    if has_han(name):
        honorific = _HAN_HONORIFIC.match(name)
        if honorific:
            surname = honorific.group(1)
            return [_syllables(surname if surname in COMPOUND_SURNAMES else surname[0])]
        surname_length = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
        surname, given = name[:surname_length], name[surname_length:]
        return [_syllables(surname)] + ([_syllables(given)] if given else [])
    if "," in (text or ""):
        # "Family, Given" as billing systems write it.
        family, _, given = (text or "").partition(",")
        name = clean_name(f"{given} {family}") or name
    name = _LATIN_HONORIFIC.sub("", name)
    tokens = [token.upper() for token in re.split(r"[\s\-·]+", name) if token]
    return tokens or None
