"""Static reference tables for the demo data: real divisions, surnames, phone plans.

Everything here is embedded so that generation never needs the network. The Chinese tables are
chosen so that every character encodes in GBK (the ERP export is GBK).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Division:
    """A real county-level division of mainland China (GB/T 2260 code)."""

    code: str
    province: str
    city: str
    district: str
    postcode: str
    area_code: str  # landline area code without the trunk 0
    local_digits: int  # length of a landline subscriber number in that area (checked with
    # phonenumbers: Xiamen, Nanning, Taiyuan and the western capitals use 7 digits)
    weight: float  # rough population weight, so big cities dominate as in real customer bases

    @property
    def city_short(self) -> str:
        return self.city.removesuffix("市")


_DIVISIONS_TEXT = """
110101 北京市 北京市 东城区 100010 10 8 3
110102 北京市 北京市 西城区 100032 10 8 3
110105 北京市 北京市 朝阳区 100020 10 8 4
110108 北京市 北京市 海淀区 100080 10 8 4
120101 天津市 天津市 和平区 300041 22 8 2
120103 天津市 天津市 河西区 300202 22 8 2
310101 上海市 上海市 黄浦区 200001 21 8 3
310104 上海市 上海市 徐汇区 200030 21 8 3
310105 上海市 上海市 长宁区 200050 21 8 3
310115 上海市 上海市 浦东新区 200120 21 8 5
500103 重庆市 重庆市 渝中区 400010 23 8 2
500105 重庆市 重庆市 江北区 400020 23 8 2
440104 广东省 广州市 越秀区 510030 20 8 3
440106 广东省 广州市 天河区 510630 20 8 4
440304 广东省 深圳市 福田区 518048 755 8 4
440305 广东省 深圳市 南山区 518052 755 8 4
330102 浙江省 杭州市 上城区 310002 571 8 2
330106 浙江省 杭州市 西湖区 310013 571 8 3
330203 浙江省 宁波市 海曙区 315000 574 8 2
320102 江苏省 南京市 玄武区 210018 25 8 2
320106 江苏省 南京市 鼓楼区 210009 25 8 2
320508 江苏省 苏州市 姑苏区 215008 512 8 3
510104 四川省 成都市 锦江区 610021 28 8 3
510107 四川省 成都市 武侯区 610041 28 8 3
420102 湖北省 武汉市 江岸区 430014 27 8 2
420106 湖北省 武汉市 武昌区 430061 27 8 2
610103 陕西省 西安市 碑林区 710001 29 8 2
610113 陕西省 西安市 雁塔区 710061 29 8 2
370102 山东省 济南市 历下区 250014 531 8 2
370202 山东省 青岛市 市南区 266001 532 8 2
430102 湖南省 长沙市 芙蓉区 410011 731 8 2
430104 湖南省 长沙市 岳麓区 410006 731 8 2
350102 福建省 福州市 鼓楼区 350001 591 8 2
350203 福建省 厦门市 思明区 361001 592 7 2
410105 河南省 郑州市 金水区 450003 371 8 3
210102 辽宁省 沈阳市 和平区 110001 24 8 2
210202 辽宁省 大连市 中山区 116001 411 8 1
220102 吉林省 长春市 南关区 130022 431 8 1
230102 黑龙江省 哈尔滨市 道里区 150010 451 8 1
340104 安徽省 合肥市 蜀山区 230031 551 8 2
360102 江西省 南昌市 东湖区 330006 791 8 1
450103 广西壮族自治区 南宁市 青秀区 530022 771 7 1
530102 云南省 昆明市 五华区 650032 871 8 1
520102 贵州省 贵阳市 南明区 550001 851 8 1
130102 河北省 石家庄市 长安区 050011 311 8 1
140105 山西省 太原市 小店区 030032 351 7 1
620102 甘肃省 兰州市 城关区 730030 931 7 1
460106 海南省 海口市 龙华区 570105 898 8 1
150102 内蒙古自治区 呼和浩特市 新城区 010050 471 7 1
650102 新疆维吾尔自治区 乌鲁木齐市 天山区 830002 991 7 1
640104 宁夏回族自治区 银川市 兴庆区 750001 951 7 1
630102 青海省 西宁市 城东区 810007 971 7 1
540102 西藏自治区 拉萨市 城关区 850000 891 7 1
"""

PROVINCE_SHORT: dict[str, str] = {
    "北京市": "北京",
    "天津市": "天津",
    "上海市": "上海",
    "重庆市": "重庆",
    "广东省": "广东",
    "浙江省": "浙江",
    "江苏省": "江苏",
    "四川省": "四川",
    "湖北省": "湖北",
    "陕西省": "陕西",
    "山东省": "山东",
    "湖南省": "湖南",
    "福建省": "福建",
    "河南省": "河南",
    "辽宁省": "辽宁",
    "吉林省": "吉林",
    "黑龙江省": "黑龙江",
    "安徽省": "安徽",
    "江西省": "江西",
    "广西壮族自治区": "广西",
    "云南省": "云南",
    "贵州省": "贵州",
    "河北省": "河北",
    "山西省": "山西",
    "甘肃省": "甘肃",
    "海南省": "海南",
    "内蒙古自治区": "内蒙古",
    "新疆维吾尔自治区": "新疆",
    "宁夏回族自治区": "宁夏",
    "青海省": "青海",
    "西藏自治区": "西藏",
}


def _parse_divisions() -> tuple[Division, ...]:
    rows = []
    for line in _DIVISIONS_TEXT.strip().splitlines():
        code, province, city, district, postcode, area, local, weight = line.split()
        rows.append(
            Division(code, province, city, district, postcode, area, int(local), float(weight))
        )
    return tuple(rows)


DIVISIONS: tuple[Division, ...] = _parse_divisions()
DIVISION_BY_CODE: dict[str, Division] = {d.code: d for d in DIVISIONS}

# Surname, its pinyin as used on passports (the surname reading, which is what naive
# character-by-character conversion gets wrong for 单 曾 仇 解 查 区 覃 翟 缪 朴), and the
# share of the population in percent (approximate, after the 2020 census lists).
_SURNAMES_TEXT = """
王 wang 7.12|李 li 7.00|张 zhang 6.63|刘 liu 5.35|陈 chen 4.65|杨 yang 3.17|黄 huang 2.50
赵 zhao 2.30|吴 wu 2.05|周 zhou 1.95|徐 xu 1.55|孙 sun 1.50|马 ma 1.30|朱 zhu 1.26|胡 hu 1.21
郭 guo 1.17|何 he 1.10|林 lin 1.02|高 gao 1.00|罗 luo 0.95|郑 zheng 0.87|梁 liang 0.86
谢 xie 0.80|宋 song 0.73|唐 tang 0.71|许 xu 0.67|韩 han 0.63|冯 feng 0.62|邓 deng 0.61
曹 cao 0.58|彭 peng 0.56|曾 zeng 0.54|肖 xiao 0.52|田 tian 0.50|董 dong 0.49|袁 yuan 0.48
潘 pan 0.46|于 yu 0.45|蒋 jiang 0.44|蔡 cai 0.43|余 yu 0.42|杜 du 0.41|叶 ye 0.40
程 cheng 0.39|苏 su 0.37|魏 wei 0.36|吕 lv 0.35|丁 ding 0.34|任 ren 0.33|沈 shen 0.32
姚 yao 0.31|卢 lu 0.30|姜 jiang 0.29|崔 cui 0.28|钟 zhong 0.28|谭 tan 0.27|陆 lu 0.26
汪 wang 0.25|范 fan 0.25|金 jin 0.24|石 shi 0.24|廖 liao 0.23|贾 jia 0.23|夏 xia 0.22
韦 wei 0.22|付 fu 0.21|方 fang 0.21|白 bai 0.20|邹 zou 0.20|孟 meng 0.19|熊 xiong 0.19
秦 qin 0.18|邱 qiu 0.18|江 jiang 0.17|尹 yin 0.17|薛 xue 0.17|闫 yan 0.16|段 duan 0.16
雷 lei 0.16|侯 hou 0.15|龙 long 0.15|史 shi 0.15|陶 tao 0.14|黎 li 0.14|贺 he 0.14
顾 gu 0.13|毛 mao 0.13|郝 hao 0.13|龚 gong 0.12|邵 shao 0.12|万 wan 0.12|钱 qian 0.12
严 yan 0.11|覃 qin 0.11|武 wu 0.11|戴 dai 0.11|莫 mo 0.10|孔 kong 0.10|向 xiang 0.10
汤 tang 0.10|常 chang 0.09|温 wen 0.09|康 kang 0.09|施 shi 0.08|文 wen 0.08|牛 niu 0.08
樊 fan 0.08|葛 ge 0.08|邢 xing 0.07|安 an 0.07|齐 qi 0.07|易 yi 0.07|乔 qiao 0.07
伍 wu 0.07|庞 pang 0.07|颜 yan 0.06|倪 ni 0.06|庄 zhuang 0.06|聂 nie 0.06|章 zhang 0.06
鲁 lu 0.06|岳 yue 0.06|翟 zhai 0.05|殷 yin 0.05|詹 zhan 0.05|申 shen 0.05|欧 ou 0.05
耿 geng 0.05|关 guan 0.05|兰 lan 0.05|焦 jiao 0.05|俞 yu 0.05|左 zuo 0.05|柳 liu 0.05
甘 gan 0.04|祝 zhu 0.04|包 bao 0.04|宁 ning 0.04|尚 shang 0.04|符 fu 0.04|舒 shu 0.04
阮 ruan 0.04|柯 ke 0.04|纪 ji 0.04|梅 mei 0.04|童 tong 0.04|凌 ling 0.04|毕 bi 0.04
单 shan 0.03|季 ji 0.03|裴 pei 0.03|霍 huo 0.03|涂 tu 0.03|成 cheng 0.03|苗 miao 0.03
谷 gu 0.03|盛 sheng 0.03|曲 qu 0.03|翁 weng 0.03|冉 ran 0.03|骆 luo 0.03|蓝 lan 0.03
路 lu 0.03|游 you 0.03|辛 xin 0.03|靳 jin 0.03|管 guan 0.03|柴 chai 0.03|蒙 meng 0.03
鲍 bao 0.03|华 hua 0.03|喻 yu 0.03|祁 qi 0.03|蒲 pu 0.03|房 fang 0.03|滕 teng 0.03
屈 qu 0.03|饶 rao 0.03|解 xie 0.03|牟 mou 0.03|艾 ai 0.03|尤 you 0.03|阳 yang 0.03
时 shi 0.03|穆 mu 0.03|农 nong 0.03|司 si 0.02|卓 zhuo 0.02|古 gu 0.02|吉 ji 0.02
缪 miao 0.02|简 jian 0.02|车 che 0.02|项 xiang 0.02|连 lian 0.02|芦 lu 0.02|麦 mai 0.02
褚 chu 0.02|娄 lou 0.02|窦 dou 0.02|戚 qi 0.02|岑 cen 0.02|景 jing 0.02|党 dang 0.02
宫 gong 0.02|费 fei 0.02|卜 bu 0.02|冷 leng 0.02|晏 yan 0.02|席 xi 0.02|卫 wei 0.02
米 mi 0.02|宗 zong 0.02|瞿 qu 0.02|桂 gui 0.02|全 quan 0.02|佟 tong 0.02|应 ying 0.02
臧 zang 0.02|闵 min 0.02|苟 gou 0.02|邬 wu 0.02|边 bian 0.02|卞 bian 0.02|姬 ji 0.02
师 shi 0.02|仇 qiu 0.02|栾 luan 0.02|隋 sui 0.02|商 shang 0.02|刁 diao 0.02|沙 sha 0.02
荣 rong 0.02|巫 wu 0.02|寇 kou 0.02|桑 sang 0.02|郎 lang 0.02|甄 zhen 0.02|丛 cong 0.02
仲 zhong 0.02|虞 yu 0.02|敖 ao 0.02|巩 gong 0.02|佘 she 0.02|池 chi 0.02|查 zha 0.02
苑 yuan 0.02|迟 chi 0.02|邝 kuang 0.02|区 ou 0.01|朴 piao 0.01
"""

# Compound (two-character) surnames; their total share is set by COMPOUND_SURNAME_SHARE.
_COMPOUND_SURNAMES_TEXT = """
欧阳 ouyang 0.25|上官 shangguan 0.08|司马 sima 0.08|诸葛 zhuge 0.06|东方 dongfang 0.05
皇甫 huangfu 0.05|令狐 linghu 0.04|慕容 murong 0.04|夏侯 xiahou 0.04|尉迟 yuchi 0.04
"""


def _parse_weighted(text: str) -> tuple[tuple[str, str, float], ...]:
    items = []
    for chunk in text.replace("\n", "|").split("|"):
        if chunk.strip():
            hanzi, pinyin, weight = chunk.split()
            items.append((hanzi, pinyin.capitalize(), float(weight)))
    return tuple(items)


SURNAMES: tuple[tuple[str, str, float], ...] = _parse_weighted(_SURNAMES_TEXT)
COMPOUND_SURNAMES: tuple[tuple[str, str, float], ...] = _parse_weighted(_COMPOUND_SURNAMES_TEXT)
POLYPHONIC_SURNAMES: tuple[str, ...] = ("单", "曾", "仇", "解", "查", "区", "覃", "翟", "缪", "朴")

# Given-name characters with the reading used in names. Each character is listed once with one
# reading so that pinyin is exact; characters whose reading is ambiguous in names are left out.
_MALE_GIVEN = (
    "伟wei 强qiang 磊lei 军jun 勇yong 杰jie 涛tao 明ming 超chao 刚gang 平ping 辉hui 鹏peng "
    "华hua 建jian 国guo 文wen 斌bin 宇yu 浩hao 凯kai 俊jun 帆fan 峰feng 亮liang 成cheng 志zhi "
    "飞fei 鑫xin 波bo 宏hong 健jian 彬bin 博bo 昊hao 天tian 翔xiang 轩xuan 泽ze 睿rui 晨chen "
    "龙long 海hai 林lin 东dong 振zhen 立li 新xin 永yong 德de 荣rong 生sheng 金jin 家jia "
    "世shi 江jiang 毅yi 铭ming 哲zhe 豪hao 旭xu 阳yang 福fu 安an 远yuan 航hang 承cheng "
    "瑞rui 皓hao 岩yan 兵bing 庆qing 武wu 光guang 学xue 山shan 松song 贵gui 良liang"
)
_FEMALE_GIVEN = (
    "芳fang 娜na 敏min 静jing 丽li 艳yan 娟juan 秀xiu 霞xia 英ying 玉yu 萍ping 红hong 桂gui "
    "欣xin 怡yi 婷ting 雪xue 琳lin 佳jia 梅mei 兰lan 颖ying 慧hui 倩qian 淑shu 晶jing 燕yan "
    "玲ling 丹dan 璐lu 瑶yao 雯wen 莉li 洁jie 雨yu 诗shi 涵han 梓zi 可ke 心xin 婧jing "
    "薇wei 琪qi 妍yan 悦yue 彤tong 蕾lei 月yue 露lu 菲fei 欢huan 美mei 凤feng 珍zhen "
    "琴qin 萱xuan 媛yuan 馨xin 晓xiao 春chun 秋qiu 云yun 宁ning"
)
_NEUTRAL_GIVEN = "思si 嘉jia 子zi 一yi 安an 晨chen 文wen 雨yu 林lin 晓xiao 宁ning 佳jia"


def _parse_chars(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for token in text.split():
        out.append((token[0], token[1:].lower()))
    return tuple(dict.fromkeys(out))


MALE_GIVEN_CHARS: tuple[tuple[str, str], ...] = _parse_chars(_MALE_GIVEN + " " + _NEUTRAL_GIVEN)
FEMALE_GIVEN_CHARS: tuple[tuple[str, str], ...] = _parse_chars(_FEMALE_GIVEN + " " + _NEUTRAL_GIVEN)
GIVEN_PINYIN: dict[str, str] = dict(MALE_GIVEN_CHARS + FEMALE_GIVEN_CHARS)

# Very common full names: the classic hard negatives for entity resolution.
COMMON_CN_NAMES_MALE: tuple[tuple[str, str], ...] = (
    ("王", "伟"),
    ("张", "伟"),
    ("李", "伟"),
    ("刘", "伟"),
    ("王", "磊"),
    ("李", "强"),
    ("张", "勇"),
    ("王", "勇"),
)
COMMON_CN_NAMES_FEMALE: tuple[tuple[str, str], ...] = (
    ("王", "芳"),
    ("李", "娜"),
    ("张", "敏"),
    ("李", "静"),
    ("王", "静"),
    ("王", "秀英"),
    ("张", "丽"),
    ("李", "秀英"),
)
COMMON_INTL_NAMES: dict[str, tuple[tuple[str, str, str], ...]] = {
    # locale -> (given, family, gender)
    "en_US": (("John", "Smith", "M"), ("Michael", "Johnson", "M"), ("Mary", "Smith", "F")),
    "en_GB": (("John", "Smith", "M"), ("David", "Jones", "M"), ("Sarah", "Smith", "F")),
    "de_DE": (("Thomas", "Müller", "M"), ("Michael", "Schmidt", "M"), ("Sabine", "Müller", "F")),
    "fr_FR": (("Jean", "Martin", "M"), ("Pierre", "Bernard", "M"), ("Marie", "Martin", "F")),
    "en_AU": (("John", "Smith", "M"), ("David", "Brown", "M"), ("Sarah", "Wilson", "F")),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Mainland mobile prefixes (all pass phonenumbers' validity check with any 8-digit suffix),
# weighted towards the long-established 13x/15x/18x ranges.
CN_MOBILE_PREFIXES: tuple[tuple[str, float], ...] = tuple(
    [(f"13{d}", 1.5) for d in "0123456789"]
    + [(p, 1.0) for p in ("150", "151", "152", "153", "155", "156", "157", "158", "159")]
    + [(f"18{d}", 1.0) for d in "0123456789"]
    + [(p, 0.4) for p in ("166", "171", "173", "175", "176", "177", "178")]
    + [(p, 0.4) for p in ("191", "193", "195", "196", "197", "198", "199")]
    + [(p, 0.2) for p in ("145", "147")]
)

# Street-name parts for mainland addresses: stems x directions x suffixes give about 2,700
# plausible street names, so unrelated people rarely share a street line by accident.
CN_STREET_STEMS: tuple[str, ...] = _words(
    "中山 人民 解放 建设 和平 新华 胜利 文化 青年 光明 长江 黄河 延安 东风 "
    "朝阳 学院 科技 工业 环城 滨江 湖滨 体育 花园 公园 金融 世纪 幸福 友谊 "
    "团结 民主 复兴 振兴 育才 丰收 迎宾 府前 东湖 西湖 南湖 北湖 望江 凤凰 "
    "龙华 锦绣 翠微 银河 星光 红旗 五一"
)
CN_STREET_DIRECTIONS: tuple[str, ...] = ("", "", "", "东", "西", "南", "北", "中")
CN_STREET_SUFFIXES: tuple[str, ...] = ("路", "路", "路", "街", "大道", "大街", "巷")
CN_COMMUNITIES: tuple[str, ...] = _words(
    "阳光花园 锦绣华庭 翠湖苑 金色家园 绿地小区 名都花园 丽景苑 万科城 碧水湾 "
    "御景园 华府 新城家园 康乐小区 和谐家园 紫荆苑 桂花园 海棠湾 文华苑 天和苑 "
    "明珠花园"
)
CN_COMPANY_WORDS: tuple[str, ...] = _words(
    "华信 宏达 恒通 鑫源 瑞丰 金桥 天成 中盛 博远 海纳 东方 新元 永安 嘉禾 "
    "创新 融通 卓越 汇丰 德润 泰和 佳美 远景 盛世 利民 广联 锐思 智联 华彩 "
    "安信 同创"
)
CN_COMPANY_TRADES: tuple[str, ...] = _words(
    "科技 贸易 电子 实业 物流 信息技术 建设工程 医药 食品 文化传媒 咨询 机械 餐饮管理"
)

EMAIL_DOMAINS_CN: tuple[tuple[str, float], ...] = (
    ("qq.com", 0.30),
    ("163.com", 0.20),
    ("126.com", 0.10),
    ("sina.com", 0.05),
    ("foxmail.com", 0.05),
    ("139.com", 0.05),
    ("yeah.net", 0.03),
    ("gmail.com", 0.10),
    ("outlook.com", 0.07),
    ("hotmail.com", 0.05),
)
EMAIL_DOMAINS_INTL: dict[str, tuple[tuple[str, float], ...]] = {
    "en_US": (("gmail.com", 0.4), ("yahoo.com", 0.2), ("outlook.com", 0.2), ("icloud.com", 0.2)),
    "en_GB": (
        ("gmail.com", 0.35),
        ("hotmail.co.uk", 0.25),
        ("btinternet.com", 0.2),
        ("yahoo.co.uk", 0.2),
    ),
    "de_DE": (("gmx.de", 0.3), ("web.de", 0.3), ("t-online.de", 0.2), ("gmail.com", 0.2)),
    "fr_FR": (("orange.fr", 0.3), ("free.fr", 0.25), ("laposte.net", 0.2), ("gmail.com", 0.25)),
    "en_AU": (("bigpond.com", 0.3), ("gmail.com", 0.4), ("optusnet.com.au", 0.3)),
}
# Values people type when a form insists on an e-mail they do not want to give.
PLACEHOLDER_EMAILS: tuple[str, ...] = (
    "noemail@test.com",
    "none@none.com",
    "test@test.com",
    "na@na.com",
    "no@email.com",
)


@dataclass(frozen=True)
class PhonePlan:
    """How one country's numbers look. Prefixes were checked with phonenumbers."""

    country: str
    calling_code: str
    mobile_prefixes: tuple[str, ...]
    mobile_length: int  # national significant number length
    landline_areas: tuple[tuple[str, str], ...]  # (area code, first-digit choices)
    landline_length: int


PHONE_PLANS: dict[str, PhonePlan] = {
    "US": PhonePlan(
        "US",
        "1",
        # area code + the first digit of the exchange, which may not be 0 or 1
        tuple(
            area + first
            for area in ("212", "415", "617", "312", "206", "305", "512", "303", "404", "713")
            for first in "23456789"
        ),
        10,
        (("212", "23456789"), ("415", "23456789"), ("617", "23456789"), ("312", "23456789")),
        10,
    ),
    "GB": PhonePlan(
        "GB",
        "44",
        ("73", "74", "75", "78"),
        10,
        (("20", "378"), ("161", "2345678"), ("131", "2345678")),
        10,
    ),
    "DE": PhonePlan(
        "DE",
        "49",
        ("151", "152", "157", "159", "160", "162", "170", "171", "172", "173", "175", "176"),
        11,
        (("30", "2345678"), ("89", "2345678"), ("40", "2345678"), ("69", "2345678")),
        10,
    ),
    "FR": PhonePlan(
        "FR",
        "33",
        ("60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77", "78"),
        9,
        (("1", "0123456789"), ("3", "0123456789")),
        9,
    ),
    "AU": PhonePlan(
        "AU",
        "61",
        ("40", "41", "42", "43", "46"),
        9,
        (("2", "0126789"), ("3", "01235"), ("7", "1235")),
        9,
    ),
}

LOCALE_COUNTRY: dict[str, str] = {
    "zh_CN": "CN",
    "en_US": "US",
    "en_GB": "GB",
    "de_DE": "DE",
    "fr_FR": "FR",
    "en_AU": "AU",
}
# How a few systems spell the country when they do not use the ISO code.
COUNTRY_NAMES_EN: dict[str, tuple[str, ...]] = {
    "CN": ("China", "中国", "PRC"),
    "US": ("United States", "USA"),
    "GB": ("United Kingdom", "UK"),
    "DE": ("Germany", "Deutschland"),
    "FR": ("France",),
    "AU": ("Australia",),
}
COUNTRY_NAMES_ZH: dict[str, str] = {
    "CN": "中国",
    "US": "美国",
    "GB": "英国",
    "DE": "德国",
    "FR": "法国",
    "AU": "澳大利亚",
}
# Secondary address lines ("Apt 5") per locale.
LINE2_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en_US": ("Apt {n}", "Apt. {n}", "Suite {n}", "Unit {n}"),
    "en_GB": ("Flat {n}", "Flat {n}", "Apartment {n}"),
    "de_DE": ("Wohnung {n}", "{n}. OG"),
    "fr_FR": ("Appartement {n}", "Bâtiment {l}", "Apt {n}"),
    "en_AU": ("Unit {n}", "Unit {n}", "Level {n}"),
}
