"""Person names: display form, family/given split, pinyin and matching keys (R12).

`standardise_name(full_name, family_name, given_name)` turns what a source sends (`张三`,
`张 三`, `ＺＨＡＮＧ　ＳＡＮ`, `Smith, John`, `JOHN SMITH`, `王先生`, `小王`, `Mr Smith`, or
separate family/given fields) into one `NameResult`, so `张三`, `Zhang San`, `San Zhang` and
`ZHANG, San` meet on `name_key` ("SAN ZHANG") and on `name_pinyin` ("ZHANG SAN").

Rules, in order:
- Input choice: the full name when it is a valid, complete name; otherwise family + given
  joined as the script writes them (Han `张三`, Latin `San Zhang`), leaving out a field that is
  itself not a name (`N/A`, `未知`), when that gives a valid name that is complete (or the full
  name is invalid or missing): a web display name `zhangsan88` gives way to the fields San /
  Zhang. Otherwise the full name's result. Fields given alongside a full name decide its split
  when they agree with it (same letters, either order), otherwise the full name is split on its
  own. Fields alone are trusted: family `欧` + given `阳明` is 欧 + 阳明.
- Display form (`full_name`): NFKC (full-width to half-width), trimmed, spaces collapsed,
  digits and stray punctuation removed (apostrophes, hyphens and the middle dot kept between
  letters), no spaces inside Han names. `Family, Given` keeps its comma form, so that
  standardising the display form again gives the same result (idempotence).
- Han names: surname first; compound surnames (`COMPOUND_SURNAMES`, 83 entries including the
  Manchu 爱新觉罗/叶赫那拉/钮祜禄) are one surname when the name is longer than the surname,
  so `欧阳娜娜` is 欧阳 + 娜娜 but the two-character `欧阳` is 欧 + 阳. Surnames take their
  surname reading (`SURNAME_READINGS`: 单 SHAN, 曾 ZENG, 长 CHANG, 尉迟 YUCHI, 万俟 MOQI ...),
  given names pypinyin's default reading per character (equal to pypinyin's phrase mode on all
  147^2 two-character given names of the demo data), cached per character.
- Honorifics: 王先生/李女士/小王/老王/张总/Mr Smith keep their display form and yield the surname
  only (`name_is_partial`); `王小明先生` and `Dr John Smith` drop the honorific. An honorific
  alone (`先生`, `Mr`) is a placeholder.
- Latin names: `Family, Given` sets the family name; otherwise, when every token is pinyin and
  an end token is a Chinese surname reading, that token is the family name (`Zhang San` and
  `San Zhang` both give Zhang); when both ends are, the more common surname wins (`Wei Wang` ->
  Wang); otherwise the last token is the family name (`John Smith` -> Smith). A single token is
  neither family nor given name, unless an honorific (`Mr Smith`) or a field says which.
  All-caps or all-lower tokens are title-cased (`O'BRIEN` -> `O'Brien`, `MCDONALD` ->
  `McDonald`, `anne-marie` -> `Anne-Marie`, `van`/`de`/`der` lower case between other tokens);
  mixed-case tokens are kept as written (`MacLeod`, `DuBois`). A trailing Jr/Sr/II/III/IV/PhD
  stays in the display form but not in the family name, pinyin or tokens.
- `name_pinyin`: family name first whenever the family name is decided (as passports and Han
  names write it), so `John Smith`, `Smith, John` and separate fields all give `SMITH JOHN`;
  as written otherwise. Latin names keep their letters (`MÜLLER`, `O'BRIEN`).
- `name_tokens` are uppercase, Latin letters folded to ASCII (`Böhm` -> `BOHM`, so it meets the
  GBK-folded `Bohm`), apostrophes removed, split at hyphens, in written order (Latin) or family
  first (Han). `name_key` is the sorted tokens joined by a space, None for partial names.

NOT handled (known limits, each a deliberate trade of complexity for the demo's sources):
- Minority and transliterated names written with a middle dot (`买买提·艾力`) keep their parts in
  written order; which part is the family name is not decided (family/given None), and each
  part is read with default per-character pinyin.
- Japanese names in kanji are read as Chinese pinyin (`山田太郎` -> `SHAN TIANTAILANG`); kana,
  Korean Hangul (`김민수`, one token) and other non-Latin, non-Han scripts are only cleaned and
  split on spaces with the Latin order rules (family = last token), wrong for Korean, Japanese
  and Hungarian family-first order. Han mixed with another script (`张San`) is tokenised and
  read as pinyin, but not split into family and given names.
- Western particles (`van der Berg`, `de la Cruz`, `bin Abdullah`): the family name is only the
  last token (`Berg`); tokens and keys still match across orders of the same spelling.
- Two-token pinyin names whose ends are both surname readings are ordered by surname
  frequency, which is wrong when the rarer surname is the family name (`Wei Wang` for 魏旺).
  Concatenated pinyin (`zhangsan`, `ZHANGSAN`) is one token and a partial name; it still meets
  `张三` on `name_pinyin_joined`.
- Han ambiguity between a compound surname and a single surname with a given name starting with
  the compound's second character: `欧阳明` is read 欧阳 + 明, never 欧 + 阳明 (unless fields
  say so); likewise 宗政/乐正/谷梁/钟离. `小明` (小 + a given-name character, a nickname) is
  read as the familiar form of the surname 明.
- Double surnames of married women (`陈李美玲`), given-name-first Han order (`三张`) and family
  and given fields swapped at the source are not detected (the order-independent `name_key`
  still matches them).
- Typos are not corrected: homophone typos (`张三丰` / `张山丰`) differ in `name_key` but share
  `name_pinyin`, which is what matching can use for them.
- 吕/女 read as LV/NV (pypinyin's NORMAL style, as in the demo data), not the passport LYU/NYU;
  `Lü` written in Latin script folds to LU and does not meet LV.
- Digits inside names are removed (`zhangsan88` -> `Zhangsan`), not reported as invalid.
- Placeholders are recognised in English and Chinese only (PLACEHOLDER_NAMES).

Speed (2-core build machine shared with other jobs, min of 3 runs over 10,000-20,000 distinct
names, two measurement sessions): Han full name 16-18 µs cold per call (character readings are
cached: the first sight of a character costs tens of µs in pypinyin, so the first 200 names of
a run cost 45-75 µs each), Han family + given fields 24-27 µs, Latin full name 20-23 µs,
pinyin in Latin script 21-25 µs; a repeated input 1.3-2 µs (LRU cache of 32,768 inputs, plus a
copy of the token list so that callers cannot change the cached value). Two fast paths skip
the general cleaning for a Han full name alone and for Han family + given fields (36% of the
demo's distinct name inputs): 13 µs instead of 24 µs CPU per call on the real inputs, the same
results (tests/unit/test_names_fast_path.py).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from pypinyin import Style, lazy_pinyin

# Validity codes (`name_invalid_reason`), a finite set that dbt tests check accepted values
# against:
# - too_long: more than MAX_NAME_LENGTH characters after NFKC and whitespace collapsing; no
#   person's name in any of the sources is that long, it is a pasted note or address.
# - no_letters: nothing but digits, punctuation, symbols or emoji.
# - placeholder: a value typed to fill a mandatory field (`test`, `N/A`, `unknown`, `无`,
#   `未知`, `客户`, `xxx`, an honorific alone such as `先生` or `Mr`), see PLACEHOLDER_NAMES.
INVALID_REASONS: tuple[str, ...] = ("too_long", "no_letters", "placeholder")
NAME_SCRIPTS: tuple[str, ...] = ("han", "latin", "mixed", "other")
MAX_NAME_LENGTH = 100


class NameResult(NamedTuple):
    full_name: str | None
    family_name: str | None
    given_name: str | None
    name_original_script: str | None
    name_pinyin: str | None
    name_pinyin_joined: str | None
    name_tokens: list[str] | None
    name_key: str | None
    name_script: str | None
    name_is_partial: bool | None
    name_is_valid: bool | None
    name_invalid_reason: str | None


_NO_NAME = NameResult(None, None, None, None, None, None, None, None, None, None, None, None)


def _word_list(text: str) -> list[str]:
    """Space-separated word lists below stay readable as text (and diff line by line)."""
    return text.split()


# --- Surnames -----------------------------------------------------------------------------------

# Compound surnames with their surname reading, syllables separated by spaces. Sources: the
# compound surnames of the Song-dynasty 百家姓 (without the rhyme's pairs of two single surnames
# such as 岳帅, 年爱, 言福, which are not compound surnames), plus those common today that the
# list lacks (独孤, 完颜, 耶律, 纳兰, 呼延 ...), plus three Manchu clan names. Readings follow
# the 百家姓 tradition where it differs from the everyday reading (万俟 MOQI, 尉迟 YUCHI,
# 单于 CHANYU, 澹台 TANTAI, 乐正 YUEZHENG, 子车 ZIJU, 长孙 ZHANGSUN). Left out on purpose: 贺兰,
# because 贺 is a common surname and 兰 a very common first character of women's given names, so
# 贺兰英 is far more often 贺 + 兰英. Known residual ambiguity: 宗政/乐正/谷梁/钟离 can also be a
# single surname plus a given name starting with 政/正/梁/离; the longer reading wins here.
_COMPOUND_SURNAME_READINGS: dict[str, str] = {
    "欧阳": "ou yang",
    "司马": "si ma",
    "诸葛": "zhu ge",
    "上官": "shang guan",
    "东方": "dong fang",
    "皇甫": "huang fu",
    "令狐": "ling hu",
    "慕容": "mu rong",
    "夏侯": "xia hou",
    "尉迟": "yu chi",
    "公孙": "gong sun",
    "长孙": "zhang sun",
    "宇文": "yu wen",
    "司徒": "si tu",
    "申屠": "shen tu",
    "端木": "duan mu",
    "独孤": "du gu",
    "南宫": "nan gong",
    "万俟": "mo qi",
    "闻人": "wen ren",
    "赫连": "he lian",
    "公羊": "gong yang",
    "澹台": "tan tai",
    "公冶": "gong ye",
    "宗政": "zong zheng",
    "濮阳": "pu yang",
    "淳于": "chun yu",
    "单于": "chan yu",
    "太叔": "tai shu",
    "仲孙": "zhong sun",
    "轩辕": "xuan yuan",
    "钟离": "zhong li",
    "鲜于": "xian yu",
    "闾丘": "lv qiu",
    "司空": "si kong",
    "亓官": "qi guan",
    "司寇": "si kou",
    "子车": "zi ju",
    "颛孙": "zhuan sun",
    "巫马": "wu ma",
    "公西": "gong xi",
    "漆雕": "qi diao",
    "乐正": "yue zheng",
    "壤驷": "rang si",
    "公良": "gong liang",
    "拓跋": "tuo ba",
    "夹谷": "jia gu",
    "宰父": "zai fu",
    "谷梁": "gu liang",
    "段干": "duan gan",
    "百里": "bai li",
    "东郭": "dong guo",
    "南门": "nan men",
    "呼延": "hu yan",
    "归海": "gui hai",
    "羊舌": "yang she",
    "微生": "wei sheng",
    "梁丘": "liang qiu",
    "左丘": "zuo qiu",
    "东门": "dong men",
    "西门": "xi men",
    "商牟": "shang mou",
    "伯赏": "bo shang",
    "第五": "di wu",
    "完颜": "wan yan",
    "耶律": "ye lv",
    "纳兰": "na lan",
    "即墨": "ji mo",
    "达奚": "da xi",
    "斛律": "hu lv",
    "乞伏": "qi fu",
    "尔朱": "er zhu",
    "中行": "zhong hang",
    "太史": "tai shi",
    "公伯": "gong bo",
    "公仪": "gong yi",
    "公输": "gong shu",
    "东里": "dong li",
    "钟吾": "zhong wu",
    "叱干": "chi gan",
    "爱新觉罗": "ai xin jue luo",
    "叶赫那拉": "ye he na la",
    "钮祜禄": "niu hu lu",
}
COMPOUND_SURNAMES: frozenset[str] = frozenset(_COMPOUND_SURNAME_READINGS)
_COMPOUND_LENGTHS = sorted({len(s) for s in COMPOUND_SURNAMES}, reverse=True)

# Single-character surnames whose surname reading differs from pypinyin's default reading of the
# character (its everyday reading): 单 is DAN in 单独 but SHAN as a surname. Checked against
# pypinyin 0.55 (every entry here differs from `lazy_pinyin(char)`, or is listed in the brief).
# To extend: add the character and its reading; tests/unit/test_names.py checks each entry.
_SINGLE_SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "仇": "qiu",
    "解": "xie",
    "查": "zha",
    "区": "ou",
    "覃": "qin",
    "翟": "zhai",
    "缪": "miao",
    "朴": "piao",
    "盖": "ge",
    "乐": "yue",
    "卜": "bu",
    "长": "chang",
    "秘": "bi",
    "种": "chong",
    "繁": "po",
    "召": "shao",
    "折": "she",
    "句": "gou",
    "能": "nai",
    "宓": "fu",
    "员": "yun",
    "阚": "kan",
    "隗": "wei",
    "黑": "he",
    "郇": "xun",
    "都": "du",
    "薄": "bo",
    "重": "chong",
    "藏": "zang",
    "洗": "xian",
    "祭": "zhai",
    "佴": "nai",
    "颉": "xie",
}
SURNAME_READINGS: dict[str, str] = {**_SINGLE_SURNAME_READINGS, **_COMPOUND_SURNAME_READINGS}

# Common single surnames, most frequent first (after the 2020 census ranking): decides which end
# of a Latin-script pinyin name is the family name (`Wang Wei` -> WANG, rank 1 beats WEI).
_COMMON_SURNAMES_BY_FREQUENCY = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳"
    "甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶"
    "解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟"
    "邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查苑迟邝区朴洪赖薄强丘晋廉盖燕冀谈屠郁计"
    "花井乐封冼原楚栗匡鞠荆战粟"
)

# Pinyin syllables without tones (the 410 readings pypinyin gives for U+4E00..U+9FA5, minus the
# interjections hm/m/n, plus the ü spellings lü/nü written lyu/nyu/lue/nue).
_PINYIN_SYLLABLES = _word_list(
    "a ai an ang ao ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu ca cai can "
    "cang cao ce cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai "
    "chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de den deng "
    "di dian diao die ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang fei fen "
    "feng fiao fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang gui "
    "gun guo ha hai han hang hao he hei hen heng hong hou hu hua huai huan huang hui hun huo ji "
    "jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke ken keng "
    "kong kou ku kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei leng li lia lian "
    "liang liao lie lin ling liu lo long lou lu luan lun luo lv lve ma mai man mang mao me mei "
    "men meng mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei nen neng ni "
    "nian niang niao nie nin ning niu nong nou nu nuan nun nuo nv nve o ou pa pai pan pang pao "
    "pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin qing qiong "
    "qiu qu quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo sa sai san "
    "sang sao se sen seng sha shai shan shang shao she shen sheng shi shou shu shua shuai shuan "
    "shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao te teng ti tian "
    "tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng wo wu xi xia xian "
    "xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin ying yo yong "
    "you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang zhao zhe zhen "
    "zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu zuan zui "
    "zun zuo lyu nyu lue nue"
)
_PINYIN_WORD = re.compile(
    "(?:" + "|".join(sorted(_PINYIN_SYLLABLES, key=len, reverse=True)) + ")+", re.ASCII
)

# --- Honorifics and placeholders ----------------------------------------------------------------

# Call-centre agents write a caller as surname + honorific (王先生) or 小/老 + surname (小王).
_HAN_HONORIFIC_SUFFIXES = _word_list(
    "先生 女士 小姐 太太 夫人 老师 师傅 阿姨 老板 经理 医生 教授 博士 同学 总 哥 姐"
)
_HAN_HONORIFIC_SUFFIXES.sort(key=len, reverse=True)
_HONORIFIC_LAST_CHARS = frozenset(suffix[-1] for suffix in _HAN_HONORIFIC_SUFFIXES)
_HAN_FAMILIAR_PREFIXES = ("小", "老")
_LATIN_HONORIFICS = frozenset(
    _word_list(
        "mr mrs ms miss mx mister missus dr prof sir dame madam madame mme mlle monsieur herr "
        "frau rev"
    )
)
# Trailing generational and degree suffixes, left out of tokens and family name ("John Smith Jr").
_LATIN_SUFFIXES = frozenset(_word_list("jr sr ii iii iv phd"))
# Lower-case particles inside Western names ("Ludwig van Beethoven", "Charles de Gaulle").
_PARTICLES = frozenset(_word_list("van von der den de du da di del della dos das ter ten zu"))

# Values typed into a mandatory name field, compared with the letters of each token, lowercased
# (so `Test User`, `test123`, `客户1` and `N/A` all count). From the demo corruption list and the
# usual CRM data-entry habits; extend by adding lowercase words. `na` is absent on purpose: it is
# the pinyin of 娜/那 (N/A is caught by _NOT_APPLICABLE instead), as are `nil`, `li`, `an`.
PLACEHOLDER_NAMES: frozenset[str] = frozenset(
    _word_list(
        "test testing tester testuser testtest unknown unkown unknow none null nobody noname "
        "nameless unnamed anonymous anon xxx xx x xyz asdf asdfgh asdfghjkl qwerty abc abcd "
        "sample dummy fake customer client guest user name firstname lastname fullname "
        "firstnamelastname notgiven notprovided notapplicable notavailable tbd tba blank empty "
        "default placeholder delete deleted"
    )
    + _word_list(
        "无 未知 不详 不知道 客户 顾客 用户 会员 测试 匿名 暂无 空 某某 某人 无名 无名氏 姓名 名字 "
        "待定 本人 同上 某先生 某女士"
    )
    + _HAN_HONORIFIC_SUFFIXES
)
# "N/A", "n.a.", "#N/A", "n / a", "n--a": N and A with at least one separator (a plain "Na" is
# a name). Checked on the text as given, because cleaning turns the separator into a space.
_NOT_APPLICABLE = re.compile(r"#?n[\s/\\.\-·'_]*[/\\.\-·'_][\s/\\.\-·'_]*a\.?")
# Spelled exactly so, a missing value written out by pandas; spelled otherwise (Nan, NAN), the
# pinyin of the common given name 楠.
_MISSING_VALUE_SPELLINGS = frozenset({"NaN"})

# --- Characters ---------------------------------------------------------------------------------

_APOSTROPHES = "\u2019\u2018\u02bc\u02b9\u0060\u00b4\u2032\uff07"
_HYPHENS = "\u2010\u2011\u2012\u00ad\u2043"
_MIDDLE_DOTS = "\u2022\u2027\u30fb\u2219\u22c5\u0387\u16eb\u2e31\u00b7"
_CHAR_MAP = str.maketrans(
    {
        **dict.fromkeys(_APOSTROPHES, "'"),
        **dict.fromkeys(_HYPHENS, "-"),
        **dict.fromkeys(_MIDDLE_DOTS, "·"),
        "_": " ",
    }
)
# Letters of the Latin-1 and Latin Extended-A blocks and the CJK unified block, with name
# punctuation: >99% of names have only these, and skip the per-character category loop.
_LATIN_1_LETTERS = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017f"
_SIMPLE_NAME = re.compile(f"[{_LATIN_1_LETTERS} '\\-,·\u4e00-\u9fff]*")
_SIMPLE_LATIN = re.compile(f"[{_LATIN_1_LETTERS}]")
_HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN = re.compile(f"[{_HAN_RANGES}]")
# A letter (or other word character left after cleaning) that is not Han.
_NON_HAN_LETTER = re.compile(f"[^\\W\\d_{_HAN_RANGES}]")
_PUNCT_RUN = re.compile(r"['\-·]{2,}")
_NON_ASCII_LETTERS = re.compile(r"[^a-z]+")
_NOT_NAME = re.compile(r"[^\w\s\u3400-\u9fff·'-]", re.UNICODE)


def _is_han(char: str) -> bool:
    return (
        "\u4e00" <= char <= "\u9fff"
        or "\u3400" <= char <= "\u4dbf"
        or "\uf900" <= char <= "\ufaff"
        or "\U00020000" <= char <= "\U0003134f"
    )


def _is_latin_letter(char: str) -> bool:
    code = ord(char)
    return (
        char.isascii()
        or 0xC0 <= code <= 0x2AF  # Latin-1 Supplement, Extended-A/B, IPA
        or 0x1D00 <= code <= 0x1DBF
        or 0x1E00 <= code <= 0x1EFF
        or 0x2C60 <= code <= 0x2C7F
        or 0xA720 <= code <= 0xA7FF
        or 0xAB30 <= code <= 0xAB6F
        or 0xFB00 <= code <= 0xFB06
    )


def has_han(text: str) -> bool:
    """True when `text` holds at least one Han character (CJK unified ideographs, Ext A-G)."""
    return bool(_HAN.search(text))


def clean_name(text: str | None) -> str | None:
    """NFKC (full-width to half-width), stray punctuation removed, spaces collapsed.

    Kept for the existing dbt UDF `custodian_clean_name`; `standardise_name(...).full_name` is the
    fuller replacement (title case, honorifics, digits removed, invalid values reported).
    """
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


# --- Pinyin -------------------------------------------------------------------------------------


@lru_cache(maxsize=32_768)
def _char_reading(char: str) -> str:
    """pypinyin's default toneless reading of one character (its first listed reading).

    Per character rather than per name: lazy_pinyin costs 20-50 µs per call, a dictionary hit in
    this cache ~0.1 µs, and Chinese names draw on a few thousand characters.
    """
    syllables = lazy_pinyin(char, style=Style.NORMAL)
    return syllables[0] if syllables else char


def _surname_syllables(surname: str) -> list[str]:
    reading = SURNAME_READINGS.get(surname)
    if reading is not None:
        return reading.split()
    return [SURNAME_READINGS.get(char) or _char_reading(char) for char in surname]


def _given_syllables(given: str) -> list[str]:
    return [_char_reading(char) for char in given]


def _han_surname_length(name: str) -> int:
    for length in _COMPOUND_LENGTHS:
        if len(name) > length and name[:length] in COMPOUND_SURNAMES:
            return length
    return 1


@lru_cache(maxsize=200_000)
def to_pinyin(text: str | None) -> str | None:
    """Uppercase pinyin without tones, one syllable per character: 单雄信 -> SHAN XIONG XIN.

    The surname (compound surnames included) takes its surname reading. Kept for the dbt UDF
    `custodian_pinyin`; `standardise_name(...).name_pinyin` groups syllables per name part.
    """
    name = clean_name(text)
    if name is None:
        return None
    if not has_han(name):
        return name.upper()
    han = "".join(char for char in name if _is_han(char))
    if not han:
        return None
    surname_length = _han_surname_length(han)
    syllables = _surname_syllables(han[:surname_length]) + _given_syllables(han[surname_length:])
    return " ".join(s.upper() for s in syllables if s.strip()) or None


# --- Latin pinyin order -------------------------------------------------------------------------


def _surname_ranks() -> dict[str, int]:
    ranks: dict[str, int] = {}
    for reading in _COMPOUND_SURNAME_READINGS.values():
        # A two-syllable surname reading (OUYANG) is stronger evidence than any single one.
        ranks.setdefault(reading.replace(" ", "").upper(), -1)
    for rank, char in enumerate(_COMMON_SURNAMES_BY_FREQUENCY):
        syllable = (SURNAME_READINGS.get(char) or _char_reading(char)).upper()
        ranks.setdefault(syllable, rank)
    return ranks


_SURNAME_RANKS = _surname_ranks()


@lru_cache(maxsize=65_536)
def _is_pinyin(token: str) -> bool:
    word = token.replace("'", "").lower()
    return bool(word) and word.isascii() and _PINYIN_WORD.fullmatch(word) is not None


def _pinyin_family_index(tokens: list[str]) -> int | None:
    """0 or len-1 when the tokens read as a pinyin name with a recognisable surname, else None."""
    if any(not _is_pinyin(part) for token in tokens for part in token.split("-")):
        return None
    first = _SURNAME_RANKS.get(_fold(tokens[0]))
    last = _SURNAME_RANKS.get(_fold(tokens[-1]))
    if first is None and last is None:
        return None
    if last is None or (first is not None and first <= last):
        return 0
    return len(tokens) - 1


# --- Cleaning -----------------------------------------------------------------------------------


def _prepare(text: str | None) -> str | None:
    """NFKC, whitespace collapsed, trimmed; None when nothing is left. Invalid names show this."""
    if text is None:
        return None
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    return text or None


def _clean(prepared: str) -> tuple[str, bool]:
    """Letters, marks, apostrophes, hyphens, middle dots and commas kept, anything else a space.

    Returns the text and whether it took the fast path (only the _SIMPLE_NAME characters).
    """
    text = prepared
    if not text.isascii() or "_" in text or "`" in text:
        text = text.translate(_CHAR_MAP)
    if _SIMPLE_NAME.fullmatch(text):
        return text, True
    kept = []
    for char in text:
        # By category, not by block: unassigned code points inside the CJK blocks are no letters.
        if char in " ,'-·" or unicodedata.category(char)[0] in "LM":
            kept.append(char)
        else:
            kept.append(" ")
    return "".join(kept), False


def _first_char(run: re.Match[str]) -> str:
    return run.group(0)[0]


def _tokens(text: str, simple: bool) -> list[str]:
    """Words of a cleaned text (commas already handled): apostrophes, hyphens and middle dots
    only between letters ("-Smith'" -> "Smith"), none inside Han words; words without letters
    dropped."""
    tokens = []
    for token in text.split():
        if "'" in token or "-" in token or "·" in token:
            token = _PUNCT_RUN.sub(_first_char, token).strip("'-·")
            if token and _HAN.search(token):
                # Apostrophes and hyphens belong to Latin names; in Han text they are residue.
                token = token.replace("'", "").replace("-", "")
        # On the fast path every remaining character is a letter or inner punctuation.
        if token and (simple or any(unicodedata.category(c)[0] == "L" for c in token)):
            tokens.append(token)
    return tokens


def _is_han_word(token: str) -> bool:
    return _HAN.search(token) is not None and _NON_HAN_LETTER.search(token) is None


def _merge_han_tokens(tokens: list[str]) -> list[str]:
    """Adjacent Han words are one: "张 三 John" -> ["张三", "John"] (Han names have no spaces)."""
    if len(tokens) < 2:
        return tokens
    merged: list[str] = []
    previous_han = False
    for token in tokens:
        han = _is_han_word(token)
        if han and previous_han:
            # Joining can bring together characters NFKC composes (Hangul jamo): compose again.
            merged[-1] = unicodedata.normalize("NFKC", merged[-1] + token)
        else:
            merged.append(token)
        previous_han = han
    return merged


def _script(text: str, simple: bool) -> str | None:
    if simple:
        han, latin, other = _HAN.search(text), _SIMPLE_LATIN.search(text), False
    else:
        han = latin = other = False
        for char in text:
            if _is_han(char):
                han = True
            elif char.isalpha():
                if _is_latin_letter(char):
                    latin = True
                else:
                    other = True
    if han and not (latin or other):
        return "han"
    if han or (latin and other):
        return "mixed"
    if latin:
        return "latin"
    return "other" if other else None


@lru_cache(maxsize=65_536)
def _fold(text: str) -> str:
    """Uppercase, Latin diacritics removed (Böhm -> BOHM), apostrophes removed, for matching."""
    text = text.replace("'", "").upper()
    if text.isascii():
        return text
    folded = []
    for char in text:
        if _is_latin_letter(char) or unicodedata.category(char) == "Mn":
            decomposed = unicodedata.normalize("NFKD", char)
            folded.append("".join(c for c in decomposed if unicodedata.category(c) != "Mn"))
        else:
            folded.append(char)
    return unicodedata.normalize("NFKC", "".join(folded))


def _title_segment(segment: str, after_single_letter_apostrophe: bool, first: bool) -> str:
    if not segment:
        return segment
    if not first and not after_single_letter_apostrophe:
        return segment
    if segment.startswith("mc") and len(segment) > 2:
        return "Mc" + segment[2].title() + segment[3:]
    return segment[0].title() + segment[1:]


@lru_cache(maxsize=65_536)
def _title_token(token: str, inner: bool) -> str:
    """Title case for all-caps or all-lower tokens; mixed case is the writer's choice, kept.

    `inner`: neither the first nor the last token, where particles (van, de) stay lower case.
    """
    if not (token.isupper() or token.islower()):
        return token
    lower = token.lower()
    if inner and lower in _PARTICLES:
        return lower
    if lower.isascii() and lower.isalpha():
        if lower.startswith("mc") and len(lower) > 2:
            return "Mc" + lower[2].upper() + lower[3:]
        return lower[0].upper() + lower[1:]
    pieces = re.split(r"([-'·])", lower)
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(piece)
            continue
        starts_word = index == 0 or pieces[index - 1] in "-·"
        after_apostrophe = (
            index >= 2
            and pieces[index - 1] == "'"
            and sum(char.isalpha() for char in pieces[index - 2]) == 1  # O'Brien, D'Angelo
        )
        out.append(_title_segment(piece, after_apostrophe, starts_word))
    titled = "".join(out)
    # Upper-casing can decompose (J + caron); compose again so a second pass sees the same text.
    return unicodedata.normalize("NFKC", titled)


def _title_tokens(tokens: list[str]) -> list[str]:
    last = len(tokens) - 1
    return [_title_token(token, 0 < i < last) for i, token in enumerate(tokens)]


# --- Validity -----------------------------------------------------------------------------------


def _letters(text: str) -> str:
    """Base letters, case-folded: the part of a value placeholder checks look at (Ää -> aa)."""
    if text.isascii():
        return _NON_ASCII_LETTERS.sub("", text.lower())
    return "".join(c for c in unicodedata.normalize("NFD", text.casefold()) if c.isalpha())


@lru_cache(maxsize=65_536)
def _is_placeholder_token(token: str) -> bool:
    letters = _letters(token)
    if letters in PLACEHOLDER_NAMES or letters in _LATIN_HONORIFICS:
        return True
    # Han honorifics and nothing else: 先生先生, 小姐姐.
    rest = letters
    while rest and rest[-1] in _HONORIFIC_LAST_CHARS:
        suffix = next((s for s in _HAN_HONORIFIC_SUFFIXES if rest.endswith(s)), None)
        if suffix is None:
            break
        rest = rest[: -len(suffix)]
    if not rest:
        return True
    # "aa", "xxxx", "zzz": one Latin letter repeated.
    return len(letters) >= 2 and len(set(letters)) == 1 and letters.isascii()


_NOT_APPLICABLE_HINT = re.compile(r"[nN][\s/\\.\-·'_]*[/\\.\-·'_]")


def _is_not_applicable(text: str) -> bool:
    """N/A written out: the whole text, or every word with letters apart from honorifics."""
    if not _NOT_APPLICABLE_HINT.search(text):
        return False
    text = text.casefold()
    if _NOT_APPLICABLE.fullmatch(text):
        return True
    found = False
    for token in text.split():
        if _NOT_APPLICABLE.fullmatch(token.strip(',;:!?()[]{}"')):
            found = True
        elif (letters := _letters(token)) and letters not in _LATIN_HONORIFICS:
            return False
    return found


def _invalid_reason(prepared: str, tokens: list[str]) -> str | None:
    """The reason a given value is not a name, or None.

    `tokens` are the cleaned words with Han words merged. The verdict depends only on them and
    on N/A separators in the text as given or as cleaned (cleaning removes digits and symbols,
    "N'A0" -> "N'A"), never on case or spacing, so the display form of a valid name is valid
    again (idempotence).
    """
    if len(prepared) > MAX_NAME_LENGTH:
        return "too_long"
    if not tokens:
        return "no_letters"
    cleaned = " ".join(tokens)
    if cleaned in _MISSING_VALUE_SPELLINGS or all(map(_is_placeholder_token, tokens)):
        return "placeholder"
    if _is_not_applicable(prepared) or _is_not_applicable(cleaned):
        return "placeholder"
    return None


# --- Parsing ------------------------------------------------------------------------------------


def _result(
    full_name: str,
    family: str | None,
    given: str | None,
    script: str,
    pinyin: str,
    tokens: list[str],
) -> NameResult:
    partial = len(tokens) < 2
    return NameResult(
        full_name,
        family or None,
        given or None,
        full_name if script == "han" else None,
        pinyin or None,
        pinyin.replace(" ", "") or None,
        tokens or None,
        None if partial else " ".join(sorted(tokens)),
        script,
        partial,
        True,
        None,
    )


def _invalid(prepared: str, reason: str) -> NameResult:
    return NameResult(prepared, None, None, None, None, None, None, None, None, None, False, reason)


def _han_name(name: str, hint_family: list[str], hint_given: list[str]) -> NameResult:
    """A name in Han characters only, spaces removed. Hints: the separate fields' words."""
    if "·" in name:
        parts = [part for part in name.split("·") if part]
        readings = ["".join(_given_syllables(part)).upper() for part in parts]
        return _result(name, None, None, "han", " ".join(readings), readings)
    display = name
    surname: str | None = None
    stripped = True
    while stripped and surname is None and name[-1] in _HONORIFIC_LAST_CHARS:
        stripped = False
        for suffix in _HAN_HONORIFIC_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                rest = name[: -len(suffix)]
                if len(rest) == 1 or rest in COMPOUND_SURNAMES:
                    surname = rest
                elif len(suffix) >= 2 and not _is_placeholder_token(rest):
                    # 王小明先生: the name without the honorific; again for 小王先生 -> 小王.
                    name = display = rest
                    stripped = True
                break
    if surname is None and name[0] in _HAN_FAMILIAR_PREFIXES:
        rest = name[1:]
        if len(rest) == 1 or rest in COMPOUND_SURNAMES:
            surname = rest  # 小王, 老王, 小欧阳
    family_hint = "".join(hint_family)
    given_hint = "".join(hint_given)
    hinted = surname is None and (family_hint or given_hint) and name == family_hint + given_hint
    if hinted and not family_hint:
        reading = "".join(_given_syllables(name)).upper()
        return _result(display, None, name, "han", reading, [reading])
    if hinted and not given_hint:
        surname = name  # a family-name field alone: 欧阳 is the surname, not 欧 + 阳
    if surname is not None or len(name) == 1:
        surname = surname or name
        reading = "".join(_surname_syllables(surname)).upper()
        return _result(display, surname, None, "han", reading, [reading])
    surname_length = len(family_hint) if hinted else _han_surname_length(name)
    family, given = name[:surname_length], name[surname_length:]
    family_reading = "".join(_surname_syllables(family)).upper()
    given_reading = "".join(_given_syllables(given)).upper()
    return _result(
        display,
        family,
        given,
        "han",
        f"{family_reading} {given_reading}",
        [family_reading, given_reading],
    )


def _split_tokens(tokens: list[str]) -> list[str]:
    """Matching tokens: hyphenated and dotted parts separately, folded to uppercase ASCII."""
    out = []
    for token in tokens:
        if "-" in token or "·" in token:
            out.extend(_fold(part) for part in re.split(r"[-·]", token) if part)
        else:
            out.append(_fold(token))
    return [t for t in out if t]


def _same_letters(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and all(_fold(x) == _fold(y) for x, y in zip(a, b, strict=True))


def _written_name(
    text: str, simple: bool, script: str, hint_family: list[str], hint_given: list[str]
) -> NameResult:
    """Latin and other alphabetic scripts."""
    comma_family: list[str] | None = None
    comma_given: list[str] | None = None
    if "," in text:
        pieces = [piece for piece in (_tokens(part, simple) for part in text.split(",")) if piece]
    else:
        pieces = [_tokens(text, simple)]
    if len(pieces) >= 2:
        comma_family = pieces[0]
        comma_given = [token for piece in pieces[1:] for token in piece]
        tokens = comma_given + comma_family
    else:
        tokens = pieces[0]

    # Leading honorifics ("Dr John Smith", and "Smith, Mr John" in the comma form).
    honorifics: list[str] = []
    if comma_given is not None and comma_family is not None:
        while comma_given and _letters(comma_given[0]) in _LATIN_HONORIFICS:
            honorifics.append(comma_given.pop(0))
        tokens = comma_given + comma_family
        if not comma_given:  # "Smith, Mr" is "Mr Smith"
            comma_family = comma_given = None
    if comma_given is None:
        while len(tokens) > 1 and _letters(tokens[0]) in _LATIN_HONORIFICS:
            honorifics.append(tokens.pop(0))
    # Generational suffixes stay in the display form but not in the family name or tokens.
    core = list(tokens)
    while len(core) > 2 and _letters(core[-1]) in _LATIN_SUFFIXES:
        core.pop()

    titled = _title_tokens(tokens)
    titled_core = titled[: len(core)]
    family: list[str] | None = None
    given: list[str] | None = None

    if honorifics and len(core) == 1:
        # "Mr Smith": the honorific tells the single token is the family name.
        display = " ".join(_title_tokens(honorifics + tokens))
        family_name = titled_core[0]
        upper = family_name.upper()
        return _result(display, family_name, None, script, upper, _split_tokens(core))

    hinted = _hinted_split(core, hint_family, hint_given)
    if hinted is not None:
        family_first, family_length = hinted
        split = family_length if family_first else len(core) - family_length
        first_part, second_part = titled_core[:split], titled_core[split:]
        family, given = (first_part, second_part) if family_first else (second_part, first_part)
    elif comma_family is not None:
        split = max(len(core) - len(comma_family), 0)
        given, family = titled_core[:split], titled_core[split:]
    elif len(core) >= 2:
        index = _pinyin_family_index(core) if script == "latin" else None
        if index == 0:
            family, given = titled_core[:1], titled_core[1:]
        else:
            given, family = titled_core[:-1], titled_core[-1:]

    if comma_family is not None and comma_given is not None:
        family_part = " ".join(titled[len(comma_given) :])
        display = f"{family_part}, {' '.join(titled[: len(comma_given)])}"
    else:
        display = " ".join(titled)
    family_name = " ".join(family) if family else None
    given_name = " ".join(given) if given else None
    # Family first whenever the family name is decided (as passports and Han names write it), so
    # "John Smith", "Smith, John" and separate fields all give SMITH JOHN; a lone token as written.
    if family_name:
        pinyin = " ".join(part for part in (family_name, given_name) if part).upper()
    else:
        pinyin = " ".join(titled).upper()
    return _result(display, family_name, given_name, script, pinyin, _split_tokens(core))


def _hinted_split(
    tokens: list[str], family: list[str], given: list[str]
) -> tuple[bool, int] | None:
    """(family first?, family token count) when separate fields agree with the name's tokens."""
    if not (family or given) or len(family) + len(given) != len(tokens):
        return None
    if _same_letters(tokens, given + family):
        return False, len(family)
    if _same_letters(tokens, family + given):
        return True, len(family)
    return None


def _mixed_name(words: list[str]) -> NameResult:
    """Han mixed with other scripts: Han runs read as pinyin; no family/given split."""
    display = unicodedata.normalize("NFKC", " ".join(_title_tokens(words)))
    readings = []
    for token in display.split(" "):
        reading = "".join(_char_reading(c) if _is_han(c) else c for c in token)
        readings.append(_fold(reading))
    pinyin = " ".join(readings)
    return _result(display, None, None, "mixed", pinyin, _split_tokens(readings))


class _Words(NamedTuple):
    words: list[str]  # cleaned words, adjacent Han words merged
    text: str  # the cleaned text, commas kept
    simple: bool  # the cleaned text took the fast path
    script: str | None
    invalid_reason: str | None


def _words(prepared: str) -> _Words:
    if len(prepared) > MAX_NAME_LENGTH:
        return _Words([], "", False, None, "too_long")  # before cleaning: its cost grows
    kept, simple = _clean(prepared)
    script = _script(kept, simple)
    words = _tokens(kept.replace(",", " "), simple)
    if script in ("han", "mixed"):
        words = _merge_han_tokens(words)
    return _Words(words, kept, simple, script, _invalid_reason(prepared, words))


def _from_text(prepared: str, hint_family: list[str], hint_given: list[str]) -> NameResult:
    words, kept, simple, script, reason = _words(prepared)
    if reason is not None:
        return _invalid(prepared, reason)
    if script == "han":
        # Every word is a Han word, so they were merged into one: "张 三" -> "张三".
        return _han_name(words[0], hint_family, hint_given)
    if script == "mixed":
        return _mixed_name(words)
    return _written_name(kept, simple, script or "other", hint_family, hint_given)


def _join_parts(
    family: str | None, given: str | None, family_words: list[str], given_words: list[str]
) -> str:
    """Family and given fields as one name, in the order the script writes them."""
    if family and given:
        if family_words and given_words and all(map(_is_han_word, family_words + given_words)):
            return "".join(family_words) + "".join(given_words)
        return f"{given} {family}"
    return family or given or ""


# A value of CJK unified ideographs only (U+4E00-U+9FFF): NFKC leaves each of them unchanged,
# they are all letters of the fast cleaning path, and they form one Han word, so preparing,
# cleaning, script detection and tokenising all give the value itself back (checked by
# tests/unit/test_names_fast_path.py against the full path).
_PLAIN_HAN = re.compile(f"[\u4e00-\u9fff]{{1,{MAX_NAME_LENGTH}}}")


def _plain_han_name(name: str, hint_family: list[str], hint_given: list[str]) -> NameResult:
    """`_from_text(name, hints)` for a `_PLAIN_HAN` name: its only possible invalid reason is a
    placeholder (it has letters, no N/A separator and is not too long)."""
    if _is_placeholder_token(name):
        return _invalid(name, "placeholder")
    return _han_name(name, hint_family, hint_given)


# ~1 KB a result: 32,768 keep ~32 MB. The dbt UDF wrapper caches results per distinct input too
# (lib/transform/vectorised.py), so this one serves direct Python callers (name_tokens).
@lru_cache(maxsize=32_768)
def _standardise(
    full_name: str | None, family_name: str | None, given_name: str | None
) -> NameResult:
    # Fast paths for the two commonest shapes, a Han full name alone (张三) and Han family and
    # given fields (张 + 三): the same result as the general path below at about half the cost,
    # which at 740,000 distinct names a day is most of the standardisation's time.
    if family_name is None and given_name is None:
        if full_name is not None and _PLAIN_HAN.fullmatch(full_name):
            return _plain_han_name(full_name, [], [])
    elif (
        full_name is None
        and family_name is not None
        and given_name is not None
        and len(family_name) + len(given_name) <= MAX_NAME_LENGTH
        and _PLAIN_HAN.fullmatch(family_name)
        and _PLAIN_HAN.fullmatch(given_name)
        and not _is_placeholder_token(family_name)
        and not _is_placeholder_token(given_name)
    ):
        # Both fields are names, so they join as Han writes them and hint the split.
        return _plain_han_name(family_name + given_name, [family_name], [given_name])
    return _general_standardise(full_name, family_name, given_name)


def _general_standardise(
    full_name: str | None, family_name: str | None, given_name: str | None
) -> NameResult:
    """Every shape of input; `_standardise`'s fast paths must give the same as this."""
    full = _prepare(full_name)
    family = _prepare(family_name)
    given = _prepare(given_name)
    if full and not (family or given):
        return _from_text(full, [], [])
    no_field = _Words([], "", False, None, None)
    family_words, _, _, _, family_reason = _words(family) if family else no_field
    given_words, _, _, _, given_reason = _words(given) if given else no_field
    # Fields that are not names themselves (N/A, 未知) neither hint nor join.
    usable_family = family if family and family_reason is None else None
    usable_given = given if given and given_reason is None else None
    if not usable_family:
        family_words = []
    if not usable_given:
        given_words = []
    full_result = _from_text(full, family_words, given_words) if full else None
    if full_result is not None and full_result.name_is_valid and not full_result.name_is_partial:
        return full_result
    if usable_family or usable_given:
        joined = _join_parts(usable_family, usable_given, family_words, given_words)
        parts_result = _from_text(joined, family_words, given_words)
        if full_result is None or not full_result.name_is_valid:
            if parts_result.name_is_valid or full_result is None:
                return parts_result
        elif not parts_result.name_is_partial:
            # A partial full name ("zhangsan88", "王先生") gives way to complete fields.
            return parts_result
    if full_result is not None:
        return full_result
    if family or given:
        return _from_text(_join_parts(family, given, [], []), [], [])
    return _NO_NAME


def standardise_name(
    full_name: str | None, family_name: str | None = None, given_name: str | None = None
) -> NameResult:
    """Standardise one person's name from a full-name field and/or family and given fields.

    Never raises; pure and deterministic. See the module docstring for the rules and limits.

    Args:
        full_name: the name as one field (`张三`, `Smith, John`, `王先生`), or None.
        family_name: the family-name field, when the source has one.
        given_name: the given-name field, when the source has one.

    Returns:
        A NameResult; all fields None when no name was given, only `full_name` (NFKC-trimmed
        input), `name_is_valid` False and `name_invalid_reason` when the value is not a name.
    """
    result = _standardise(full_name, family_name, given_name)
    if result.name_tokens is None:
        return result
    # The cached result is shared: hand each caller its own list.
    return NameResult(*result[:6], list(result.name_tokens), *result[7:])


def name_tokens(text: str | None) -> list[str] | None:
    """Script-independent name parts for matching: 张三丰 -> [ZHANG, SANFENG].

    Same as `standardise_name(text).name_tokens`, kept for the dbt UDF `custodian_name_tokens`.
    Han names split into surname and given name (each in joined pinyin), so they meet the same
    person written in Latin script in either order (Sanfeng Zhang -> [SANFENG, ZHANG]). A surname
    with an honorific only (王先生, Ms Booth) yields just the surname.
    """
    return standardise_name(text).name_tokens
