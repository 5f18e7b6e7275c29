"""Catalog search over ecom_ai's ``Item`` mirror, in English and Chinese.

``search(text, encoder=..., limit=...)`` returns a ``SearchResult``:

* ``items`` — the best matches, ranked by text relevance (idf-weighted share of the query's
  words found in the title, category or description), embedding similarity (when an encoder
  is given) and availability;
* ``price_range`` — the price limit parsed from the query ("under 50", "below $50",
  "between 20 and 40", "over 100", "50元以下", "不超过50", "20到40元", "100元以上"), applied
  **strictly**: an item outside it is never returned (``price_excluded`` counts them);
* ``related`` — "customers also liked": only items related to the results — bought by the
  same shoppers (purchase events) or in the same category — within the same price limit;
  never shop-wide best sellers.

Chinese queries: price phrases are parsed, product words are translated through a small
bilingual shop lexicon (``跑步鞋`` → running shoes, ``防水`` → waterproof...) so that an
English catalog answers them, and CJK character pairs match catalogs written in Chinese.
A multilingual encoder (see ``ecom_ai.chat.encoders``) adds similarity across languages.

The index (item words, document frequencies, embeddings) is built once per process and
rebuilt when an active item changes (one cheap aggregate query per search tells).
This module is plain Python + NumPy over the models; the chat wraps it in
``ecom_ai.chat.catalog_search`` and a shop's own search view may call it directly.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

# --------------------------------------------------------------------------- price parsing

_NUM = r"(\d{1,7}(?:[.,]\d{1,2})?)(?:\s?k\b)?"
_CUR_BEFORE = r"(?:[$€£¥￥]|usd|eur|gbp|rmb|cny)?\s?"
_CUR_AFTER = r"\s?(?:[$€£¥￥元块]|dollars?|bucks|euros?|pounds?|usd|eur|gbp|rmb|cny|yuan|块钱|人民币)?"
_PRICE = _CUR_BEFORE + _NUM + _CUR_AFTER

# (pattern, kind) — kind: "range" (two numbers), "max", "max_strict", "min", "min_strict"
_PRICE_PATTERNS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\b(?:between|from)\s+" + _PRICE + r"\s*(?:and|to|-|–|~)\s*" + _PRICE, re.I), "range"),
    (
        re.compile(
            r"(?:价格|价位|预算)?\s*(?:在|从)?\s*"
            + _PRICE
            + r"\s*(?:到|至|-|–|—|~|～|to)\s*"
            + _PRICE
            + r"\s*(?:之间|以内|左右)?",
            re.I,
        ),
        "range",
    ),
    (
        re.compile(r"(?:\b(?:under|below|less\s+than|cheaper\s+than|lower\s+than|beneath)|<)\s*" + _PRICE, re.I),
        "max_strict",
    ),
    (
        re.compile(
            r"(?:\b(?:at\s+most|up\s+to|no\s+more\s+than|not\s+more\s+than|max(?:imum)?|within"
            r"|budget\s+(?:of|is)?)|<=|≤)\s*" + _PRICE,
            re.I,
        ),
        "max",
    ),
    (re.compile(r"(?:\b(?:over|above|more\s+than|greater\s+than|higher\s+than)|>)\s*" + _PRICE, re.I), "min_strict"),
    (re.compile(r"(?:\b(?:at\s+least|from|min(?:imum)?|starting\s+at)|>=|≥)\s*" + _PRICE, re.I), "min"),
    (re.compile(r"(?:不超过|不高于|不到|低于|少于|小于|便宜于|最多|最高|预算)\s*" + _PRICE, re.I), "max"),
    (re.compile(r"(?:超过|高于|大于|多于|不低于|不少于|至少|最少|起码)\s*" + _PRICE, re.I), "min"),
    (re.compile(_PRICE + r"\s*(?:以下|以内|之内|内|左右以下|封顶)", re.I), "max"),
    (re.compile(_PRICE + r"\s*(?:以上|起)", re.I), "min"),
    (re.compile(_NUM + r"\s?(?:dollars?|bucks|euros?|pounds?|元|块)\s*(?:or\s+less|and\s+under|max)", re.I), "max"),
    (re.compile(_NUM + r"\s?(?:dollars?|bucks|euros?|pounds?|元|块)?\s*(?:or\s+more|and\s+up|plus|\+)", re.I), "min"),
]
# the Chinese "不超过/低于" are inclusive in shop usage; "低于/少于/小于" are strict
_STRICT_ZH = ("低于", "少于", "小于", "不到", "便宜于")
_STRICT_ZH_MIN = ("超过", "高于", "大于", "多于")


def _number(raw: str, whole_match: str) -> Decimal | None:
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        return None
    if re.search(re.escape(raw) + r"\s?k\b", whole_match, re.I):
        value *= 1000
    return value


@dataclass
class PriceRange:
    """A price limit: ``low``/``high`` (``None``: open), each inclusive or strict."""

    low: Decimal | None = None
    high: Decimal | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def contains(self, price) -> bool:
        if price is None:  # an item without a price cannot be shown as "under 50"
            return False
        price = Decimal(str(price))
        if self.low is not None and (price < self.low or (price == self.low and not self.low_inclusive)):
            return False
        if self.high is not None and (price > self.high or (price == self.high and not self.high_inclusive)):
            return False
        return True

    def describe(self, language: str = "en", currency: str = "") -> str:
        def fmt(value):
            text = f"{value.normalize():f}" if value == value.to_integral() else f"{value:.2f}"
            return f"{text} {currency}".strip()

        zh = language.startswith("zh")
        if self.low is not None and self.high is not None:
            return f"{fmt(self.low)}–{fmt(self.high)}" if not zh else f"{fmt(self.low)}到{fmt(self.high)}之间"
        if self.high is not None:
            if zh:
                return f"{fmt(self.high)}以下" if self.high_inclusive else f"低于{fmt(self.high)}"
            return f"up to {fmt(self.high)}" if self.high_inclusive else f"under {fmt(self.high)}"
        if self.low is not None:
            if zh:
                return f"{fmt(self.low)}以上" if self.low_inclusive else f"高于{fmt(self.low)}"
            return f"from {fmt(self.low)}" if self.low_inclusive else f"over {fmt(self.low)}"
        return ""

    def as_dict(self) -> dict:
        return {
            "min": None if self.low is None else str(self.low),
            "max": None if self.high is None else str(self.high),
            "min_inclusive": self.low_inclusive,
            "max_inclusive": self.high_inclusive,
        }


def parse_price(text: str) -> tuple[PriceRange | None, str]:
    """The price limit in ``text`` and the text without the price phrases."""
    found = PriceRange()
    any_found = False
    rest = text
    for pattern, kind in _PRICE_PATTERNS:
        for match in list(pattern.finditer(rest)):
            whole = match.group(0)
            numbers = [_number(g, whole) for g in match.groups() if g]
            numbers = [n for n in numbers if n is not None]
            if not numbers:
                continue
            if kind == "range":
                if len(numbers) < 2:
                    continue
                low, high = sorted(numbers[:2])
                found.low, found.high, found.low_inclusive, found.high_inclusive = low, high, True, True
            elif kind.startswith("max"):
                strict = kind == "max_strict" or whole.lstrip().startswith(_STRICT_ZH)
                found.high, found.high_inclusive = numbers[0], not strict
            else:
                strict = kind == "min_strict" or whole.lstrip().startswith(_STRICT_ZH_MIN)
                found.low, found.low_inclusive = numbers[0], not strict
            any_found = True
            rest = rest.replace(whole, " ", 1)
    if found.low is not None and found.high is not None and found.low > found.high:
        found.low, found.high = found.high, found.low
    return (found if any_found else None), rest


# --------------------------------------------------------------------------- words

_EN_STOPWORDS = set(
    """
a an the and or but if of to in on for with at by from as is are was were be been am do does did have has had
i me my we our you your it its this that these those there here what which who how when where why can could would
should will shall may might must please any some anything something looking look want wanted need needs buy
sell get show find tell know about hi hello hey thanks thank much many one ones do you have got carry stock
sells selling available price prices priced cost costs costing cheap cheaper cheapest expensive affordable good
best nice item items product products thing things stuff like love kind sort type options option recommend
recommendation suggest suggestion under below less than over above more between up least most budget dollars
dollar bucks euro euros pound pounds usd eur gbp rmb yuan around about approximately pair pairs set sets also
shop store catalog catalogue search searching
""".split()
)

_ZH_STOPWORDS = [
    "有没有",
    "有什么",
    "有哪些",
    "有吗",
    "我想要",
    "我想买",
    "我想",
    "想要",
    "想买",
    "我要",
    "请问",
    "推荐",
    "一下",
    "一些",
    "一个",
    "一双",
    "一件",
    "一款",
    "一条",
    "一台",
    "哪些",
    "什么",
    "能不能",
    "可以",
    "帮我",
    "找",
    "买",
    "卖",
    "看看",
    "便宜",
    "便宜的",
    "价格",
    "元",
    "块",
    "的",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "有",
    "要",
    "给我",
    "你们",
    "我",
    "您",
    "请",
    "和",
    "或者",
    "还有",
    "商品",
    "产品",
    "东西",
    "款",
    "左右",
    "之间",
    "以下",
    "以内",
    "以上",
]

# A small bilingual shop lexicon: Chinese product, category and attribute words -> English
# words as catalogs name them. Longest match first; extend with ``CATALOG_SEARCH_SYNONYMS``.
ZH_LEXICON: dict[str, str] = {
    "跑步鞋": "running shoes",
    "跑鞋": "running shoes",
    "运动鞋": "sneakers",
    "球鞋": "sneakers",
    "登山靴": "hiking boots",
    "徒步鞋": "hiking boots",
    "靴子": "boots",
    "短靴": "ankle boots",
    "凉鞋": "sandals",
    "拖鞋": "slippers",
    "乐福鞋": "loafers",
    "鞋子": "shoes",
    "鞋": "shoes",
    "羽绒服": "puffer jacket",
    "夹克": "jacket",
    "外套": "jacket coat",
    "大衣": "coat",
    "风衣": "trench coat",
    "雨衣": "rain jacket",
    "卫衣": "hoodie",
    "毛衣": "sweater",
    "针织衫": "cardigan sweater",
    "开衫": "cardigan",
    "衬衫": "shirt",
    "衬衣": "shirt",
    "T恤": "t-shirt",
    "t恤": "t-shirt",
    "体恤": "t-shirt",
    "polo衫": "polo shirt",
    "裤子": "trousers chinos jeans",
    "牛仔裤": "jeans",
    "休闲裤": "chinos",
    "打底裤": "leggings",
    "连衣裙": "dress",
    "裙子": "skirt dress",
    "半身裙": "skirt",
    "西装": "blazer",
    "袜子": "socks",
    "帽子": "hat",
    "背包": "backpack",
    "双肩包": "backpack",
    "书包": "backpack",
    "行李箱": "suitcase",
    "拉杆箱": "suitcase",
    "手提包": "tote bag",
    "托特包": "tote bag",
    "旅行包": "duffel bag",
    "钱包": "wallet",
    "包": "bag",
    "耳机": "headphones earbuds",
    "蓝牙耳机": "earbuds headphones",
    "音箱": "speaker",
    "音响": "speaker soundbar",
    "笔记本电脑": "laptop",
    "电脑": "laptop",
    "平板": "tablet",
    "手机壳": "phone case",
    "手机": "smartphone",
    "充电器": "charger",
    "充电宝": "power bank",
    "数据线": "charging cable",
    "手表": "watch smartwatch",
    "智能手表": "smartwatch",
    "手环": "fitness band",
    "相机": "camera",
    "镜头": "lens",
    "三脚架": "tripod",
    "无人机": "drone",
    "存储卡": "memory card",
    "台灯": "table lamp",
    "灯泡": "bulb",
    "灯": "lamp",
    "咖啡机": "espresso machine",
    "搅拌机": "blender",
    "空气炸锅": "air fryer",
    "刀": "knife",
    "菜刀": "chef's knife",
    "平底锅": "skillet",
    "锅": "saucepan skillet",
    "砧板": "cutting board",
    "盘子": "plate",
    "水壶": "water bottle",
    "水杯": "water bottle",
    "杯子": "mug cup",
    "枕头": "pillow",
    "抱枕": "throw pillow",
    "毯子": "blanket",
    "被套": "duvet cover",
    "床单": "sheet",
    "浴巾": "bath towel",
    "毛巾": "towel",
    "浴袍": "bathrobe",
    "蜡烛": "candle",
    "花瓶": "vase",
    "镜子": "mirror",
    "地毯": "rug",
    "相框": "picture frame",
    "挂钟": "wall clock",
    "椅子": "chair",
    "办公椅": "office chair",
    "桌子": "table desk",
    "书桌": "desk",
    "升降桌": "standing desk",
    "书架": "bookshelf",
    "沙发": "sofa",
    "茶几": "coffee table",
    "衣柜": "wardrobe",
    "瑜伽垫": "yoga mat",
    "哑铃": "dumbbell",
    "壶铃": "kettlebell",
    "跳绳": "jump rope",
    "健身": "fitness",
    "帐篷": "tent",
    "睡袋": "sleeping bag",
    "头灯": "headlamp",
    "登山杖": "trekking poles",
    "吊床": "hammock",
    "玩具": "toy",
    "拼图": "puzzle",
    "积木": "building blocks",
    "桌游": "board game",
    "毛绒玩具": "plush toy",
    "书": "book",
    "小说": "novel",
    "食谱": "cookbook",
    "绘本": "picture book",
    "面霜": "moisturiser",
    "精华": "serum",
    "防晒霜": "sunscreen",
    "洗面奶": "cleanser",
    "润唇膏": "lip balm",
    "香水": "parfum",
    "面膜": "sheet mask",
    "护手霜": "hand cream",
    "狗窝": "dog bed",
    "猫爬架": "cat tree",
    "狗绳": "dog leash",
    "猫砂盆": "cat litter box",
    "宠物": "pet",
    "笔记本": "notebook",
    "钢笔": "fountain pen",
    "键盘": "keyboard",
    "鼠标": "mouse",
    "手账": "planner",
    "跑步": "running",
    "运动": "sports",
    "登山": "hiking",
    "徒步": "hiking",
    "露营": "camping",
    "咖啡": "coffee",
    "茶": "tea",
    "厨房": "kitchen",
    "狗": "dog",
    "猫": "cat",
    "婴儿": "baby",
    "冬天": "winter",
    "冬季": "winter",
    "夏天": "summer",
    "雨": "rain",
    "旅行": "travel",
    "办公": "office",
    "游戏": "game",
    # attributes
    "防水": "waterproof",
    "无线": "wireless",
    "蓝牙": "bluetooth",
    "轻便": "lightweight",
    "轻量": "lightweight",
    "保暖": "warm insulated",
    "真皮": "leather",
    "皮革": "leather",
    "皮": "leather",
    "棉": "cotton",
    "纯棉": "cotton",
    "有机": "organic",
    "羊毛": "wool merino",
    "羊绒": "cashmere",
    "丝绸": "silk",
    "不锈钢": "stainless steel",
    "竹": "bamboo",
    "木": "wooden wood",
    "折叠": "foldable",
    "便携": "portable",
    "降噪": "noise-cancelling",
    "男士": "men's",
    "男款": "men's",
    "女士": "women's",
    "女款": "women's",
    "儿童": "children's kids",
    "红色": "red",
    "蓝色": "blue",
    "黑色": "black",
    "白色": "white",
    "绿色": "green",
    "黄色": "yellow",
    "粉色": "pink",
    "灰色": "grey gray",
    "棕色": "brown",
}

ATTRIBUTE_WORDS = set(
    """
red blue black white green yellow pink grey gray brown navy beige waterproof water-resistant wireless bluetooth
lightweight warm insulated leather suede cotton organic wool merino cashmere silk linen stainless steel bamboo
wooden foldable portable compact slim rugged ergonomic adjustable vegan cushioned men's women's kids children's
small medium large xl
""".split()
)


def detect_language(text: str) -> str:
    """``"zh"`` when the text has Chinese characters, else ``"en"``."""
    return "zh" if CJK_RE.search(text or "") else "en"


def stem(word: str) -> str:
    word = word.strip("'-")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_ATTRIBUTE_STEMS = {stem(w) for w in ATTRIBUTE_WORDS}


def words(text: str) -> list[str]:
    """Stemmed lower-case Latin words (and numbers) of ``text``."""
    return [stem(w) for w in _WORD_RE.findall((text or "").lower())]


def cjk_bigrams(text: str) -> list[str]:
    out = []
    for run in _CJK_RUN_RE.findall(text or ""):
        out.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return out


def _translate_zh(text: str, lexicon: dict[str, str]) -> tuple[list[str], str]:
    """English words for the lexicon's Chinese words in ``text`` (longest first) and the rest."""
    english: list[str] = []
    rest = text
    for zh in sorted(lexicon, key=len, reverse=True):
        if zh in rest:
            english.append(lexicon[zh])
            rest = rest.replace(zh, " ")
    return english, rest


@dataclass
class ParsedQuery:
    text: str
    language: str
    price_range: PriceRange | None
    terms: list[str]  # stemmed words to look for (English and translated Chinese)
    cjk_terms: list[str]  # Chinese character pairs left after translation (for Chinese catalogs)
    attributes: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # filled by the index: categories the words name
    semantic_text: str = ""  # the query without price phrases, for the embedding


def parse_query(text: str, language: str | None = None, *, synonyms: dict[str, str] | None = None) -> ParsedQuery:
    """Price limit, product words and attributes of a shopper's query."""
    text = (text or "").strip()
    language = language or detect_language(text)
    price_range, rest = parse_price(text)
    lexicon = {**ZH_LEXICON, **(synonyms or {})}
    translated, rest_zh = _translate_zh(rest, lexicon) if CJK_RE.search(rest) else ([], rest)
    chinese = rest  # the Chinese words themselves, for a catalog written in Chinese
    for stop in sorted(_ZH_STOPWORDS, key=len, reverse=True):
        rest_zh = rest_zh.replace(stop, " ")
        chinese = chinese.replace(stop, " ")
    latin = [w for w in words(rest_zh) if w not in _EN_STOPWORDS and not w.isdigit() and len(w) > 1]
    lowered = rest.lower()
    for word, replacement in (synonyms or {}).items():  # the shop's own Latin-script synonyms
        if not CJK_RE.search(word) and re.search(r"(?<!\w)" + re.escape(word.lower()) + r"(?!\w)", lowered):
            translated.append(replacement)
    terms = list(dict.fromkeys(latin + [w for phrase in translated for w in words(phrase)]))
    attributes = [t for t in terms if t in _ATTRIBUTE_STEMS]
    semantic = " ".join([rest.strip()] + translated) if translated else rest.strip()
    return ParsedQuery(
        text=text,
        language=language,
        price_range=price_range,
        terms=terms,
        cjk_terms=list(dict.fromkeys(cjk_bigrams(chinese))),
        attributes=attributes,
        semantic_text=re.sub(r"\s+", " ", semantic).strip() or text,
    )


# --------------------------------------------------------------------------- index


@dataclass
class SearchHit:
    key: str
    title: str
    price: Decimal | None
    in_stock: bool
    url: str
    category: str
    score: float
    relevance: float = 0.0  # the text-relevance part (0..1)
    similarity: float = 0.0  # the embedding part (cosine)
    reason: str = ""  # for related items: "bought together" / "same category"


@dataclass
class SearchResult:
    items: list[SearchHit]
    price_range: PriceRange | None
    related: list[SearchHit]
    query: ParsedQuery
    price_excluded: int = 0  # matching items left out because of the price limit
    cheapest_excluded: SearchHit | None = None  # the closest match outside the price limit

    @property
    def language(self) -> str:
        return self.query.language


FIELD_WEIGHTS = {"title": 1.0, "category": 0.8, "text": 0.5}


class CatalogIndex:
    """Words, document frequencies and (per encoder) embeddings of the active items."""

    def __init__(self, items):
        self.keys = [item.key for item in items]
        self.position = {key: i for i, key in enumerate(self.keys)}
        self.meta = [(item.title, item.price, item.in_stock, item.url, item.category) for item in items]
        self.fields: list[dict[str, set[str]]] = []
        df: Counter = Counter()
        self.categories: dict[str, list[int]] = {}
        self.category_words: dict[str, set[str]] = {}
        for i, item in enumerate(items):
            text = (item.text or "")[:2000]
            entry = {
                "title": set(words(item.title)) | set(cjk_bigrams(item.title)),
                "category": set(words(item.category)) | set(cjk_bigrams(item.category)),
                "text": set(words(text)) | set(cjk_bigrams(text)),
            }
            self.fields.append(entry)
            df.update(entry["title"] | entry["category"] | entry["text"])
            self.categories.setdefault(item.category or "", []).append(i)
        for category in self.categories:
            self.category_words[category] = set(words(category))
        self.n = len(items)
        self.idf = {term: math.log(1 + (self.n + 1) / (count + 0.5)) for term, count in df.items()}
        self.prices = [None if meta[1] is None else Decimal(str(meta[1])) for meta in self.meta]
        self.vectors: dict[str, np.ndarray] = {}
        self.item_texts = [f"{item.title}. {item.category}. {(item.text or '')[:400]}" for item in items]
        self.stored_embeddings = [
            (bytes(item.embedding) if item.embedding else None, item.embedding_model or "") for item in items
        ]
        self.lock = threading.Lock()

    def embeddings(self, encoder) -> np.ndarray | None:
        if encoder is None or not self.n:
            return None
        name = getattr(encoder, "name", type(encoder).__name__)
        with self.lock:
            if name not in self.vectors:
                missing = [i for i, (blob, model) in enumerate(self.stored_embeddings) if not (blob and model == name)]
                encoded = _normalise(encoder.encode([self.item_texts[i] for i in missing])) if missing else None
                rows = {i: encoded[n] for n, i in enumerate(missing)} if missing else {}
                vectors = [
                    rows[i] if i in rows else _normalise(np.frombuffer(blob, dtype=np.float32)[None, :])[0]
                    for i, (blob, _) in enumerate(self.stored_embeddings)
                ]
                self.vectors[name] = np.vstack(vectors).astype(np.float32)
            return self.vectors[name]

    def relevance(self, query: ParsedQuery) -> np.ndarray:
        """Per item: idf-weighted share of the query's words found (best field weight each)."""
        scores = np.zeros(self.n, dtype=np.float32)
        # Chinese character pairs count only when the catalog has them (a Chinese catalog): the
        # leftovers of a translated Chinese query ("用", "穿的") are not product words
        terms = query.terms + [t for t in query.cjk_terms if t in self.idf]
        if not terms:
            return scores
        weights = {t: self.idf.get(t, math.log(1 + (self.n + 1) / 0.5)) for t in terms}
        total = sum(weights.values())
        for i, entry in enumerate(self.fields):
            got = 0.0
            for term, weight in weights.items():
                best = max((FIELD_WEIGHTS[f] for f in ("title", "category", "text") if term in entry[f]), default=0.0)
                got += weight * best
            scores[i] = got / total
        return scores

    def named_categories(self, query: ParsedQuery) -> list[str]:
        terms = set(query.terms)
        return [c for c, ws in self.category_words.items() if c and ws and terms & ws]

    def hit(self, i: int, score: float, relevance: float = 0.0, similarity: float = 0.0, reason: str = "") -> SearchHit:
        title, price, in_stock, url, category = self.meta[i]
        return SearchHit(
            self.keys[i],
            title,
            price,
            bool(in_stock),
            url or "",
            category or "",
            float(score),
            float(relevance),
            float(similarity),
            reason,
        )


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


_index_lock = threading.Lock()
_index: dict = {"signature": None, "index": None}


def clear_index() -> None:
    with _index_lock:
        _index.update(signature=None, index=None)


def catalog_index() -> CatalogIndex:
    """The process's index of active items (rebuilt when an item changes)."""
    from django.db.models import Count, Max

    from ecom_ai.models import Item

    active = Item.objects.filter(is_active=True)
    signature = tuple(active.aggregate(n=Count("id"), latest=Max("updated_at"), top=Max("id")).values())
    with _index_lock:
        if _index["signature"] != signature or _index["index"] is None:
            items = list(
                active.only(
                    "key", "title", "text", "category", "price", "in_stock", "url", "embedding", "embedding_model"
                ).order_by("id")
            )
            _index.update(signature=signature, index=CatalogIndex(items))
        return _index["index"]


# --------------------------------------------------------------------------- search

WEIGHT_RELEVANCE = 1.0
WEIGHT_SIMILARITY = 0.6
WEIGHT_IN_STOCK = 0.15
RELATIVE_RELEVANCE = 0.7


def search(
    text: str,
    *,
    encoder=None,
    vector: np.ndarray | None = None,
    language: str | None = None,
    limit: int = 5,
    related_limit: int = 3,
    min_relevance: float = 0.3,
    min_similarity: float = 0.45,
    synonyms: dict[str, str] | None = None,
    index: CatalogIndex | None = None,
) -> SearchResult:
    """Items for a shopper's query (see the module docstring).

    An item is a candidate when at least ``min_relevance`` of the query's (idf-weighted)
    words are found in it, or — with an encoder — when its embedding is at least
    ``min_similarity`` close to the query's (the way a Chinese query finds an English item
    the lexicon does not know). ``vector`` is the query's embedding when the caller has it.
    """
    query = parse_query(text, language, synonyms=synonyms)
    index = index or catalog_index()
    if not index.n:
        return SearchResult([], query.price_range, [], query)
    query.categories = index.named_categories(query)
    relevance = index.relevance(query)
    similarity = np.zeros(index.n, dtype=np.float32)
    vectors = index.embeddings(encoder) if encoder is not None else None
    if vectors is not None:
        if vector is None or query.semantic_text != query.text:
            vector = _normalise(encoder.encode([query.semantic_text]))[0]
        if vector.shape[-1] == vectors.shape[1]:
            similarity = vectors @ _normalise(vector[None, :])[0]
    # lexical candidates: at least ``min_relevance`` and 70 % of the best item's relevance (when
    # "running shoes" are in the catalog, "sneakers" are not an answer to it); embedding-only
    # candidates only while no item has all the query's words
    best_relevance = float(relevance.max()) if index.n else 0.0
    candidate = relevance >= max(min_relevance, RELATIVE_RELEVANCE * best_relevance)
    if vectors is not None and best_relevance < 0.99:
        candidate |= similarity >= min_similarity
    in_stock = np.array([1.0 if meta[2] else 0.0 for meta in index.meta], dtype=np.float32)
    score = WEIGHT_RELEVANCE * relevance + WEIGHT_SIMILARITY * np.clip(similarity, 0, None) + WEIGHT_IN_STOCK * in_stock
    order = [int(i) for i in np.argsort(-score, kind="stable") if candidate[i]]
    price_range = query.price_range
    kept, excluded = [], []
    for i in order:
        (kept if price_range is None or price_range.contains(index.prices[i]) else excluded).append(i)
    items = [index.hit(i, score[i], relevance[i], similarity[i]) for i in kept[:limit]]
    cheapest = None
    if excluded and not items:
        best = max(relevance[excluded[0]], 1e-6)
        close = [i for i in excluded if relevance[i] >= 0.8 * best and index.prices[i] is not None]
        if close:
            pick = (
                min(close, key=lambda i: index.prices[i])
                if price_range and price_range.high is not None
                else max(close, key=lambda i: index.prices[i])
            )
            cheapest = index.hit(pick, score[pick], relevance[pick], similarity[pick])
    related = (
        related_items(index, [h.key for h in items], price_range, limit=related_limit, relevance=relevance)
        if items and related_limit
        else []
    )
    return SearchResult(items, price_range, related, query, price_excluded=len(excluded), cheapest_excluded=cheapest)


def co_bought(keys: list[str], *, max_shoppers: int = 300, max_rows: int = 5000) -> Counter:
    """Items bought by the shoppers who bought ``keys`` (purchase events), with counts."""
    from django.db.models import Q

    from ecom_ai.models import Event

    if not keys:
        return Counter()
    buyers = (
        Event.objects.filter(item_key__in=keys, event_type="purchase")
        .order_by("-occurred_at")
        .values_list("user_key", "visitor_key")[:max_shoppers]
    )
    users = {u for u, _ in buyers if u}
    visitors = {v for u, v in buyers if not u and v}
    if not users and not visitors:
        return Counter()
    condition = Q()
    if users:
        condition |= Q(user_key__in=users)
    if visitors:
        condition |= Q(visitor_key__in=visitors, user_key="")
    rows = (
        Event.objects.filter(condition, event_type="purchase")
        .exclude(item_key="")
        .values_list("user_key", "visitor_key", "item_key")[:max_rows]
    )
    pairs = {(u or f"v:{v}", key) for u, v, key in rows if key not in keys}
    return Counter(key for _, key in pairs)


def related_items(
    index: CatalogIndex,
    keys: list[str],
    price_range: PriceRange | None,
    *,
    limit: int = 3,
    relevance: np.ndarray | None = None,
) -> list[SearchHit]:
    """ "Customers also liked" for the found ``keys``: items bought by the same shoppers first,
    then other items of the found items' categories; in stock, within ``price_range``."""
    if not keys or limit <= 0:
        return []
    found = set(keys)

    def eligible(i: int) -> bool:
        return (
            index.keys[i] not in found
            and bool(index.meta[i][2])
            and (price_range is None or price_range.contains(index.prices[i]))
        )

    out: list[SearchHit] = []
    try:
        bought = co_bought(keys)
    except Exception:  # the event log is a bonus here: never break the search
        bought = Counter()
    for key, count in sorted(bought.items(), key=lambda p: (-p[1], p[0])):
        i = index.position.get(key)
        if i is not None and eligible(i):
            out.append(index.hit(i, float(count), reason="bought together"))
            if len(out) >= limit:
                return out
    taken = {h.key for h in out}
    categories = list(dict.fromkeys(index.meta[index.position[k]][4] or "" for k in keys if k in index.position))
    pool = [
        i for c in categories if c for i in index.categories.get(c, []) if eligible(i) and index.keys[i] not in taken
    ]
    if relevance is not None:
        pool.sort(key=lambda i: (-float(relevance[i]), index.keys[i]))
    for i in pool[: limit - len(out)]:
        out.append(index.hit(i, float(relevance[i]) if relevance is not None else 0.0, reason="same category"))
    return out
