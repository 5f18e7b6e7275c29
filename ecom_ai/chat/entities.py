"""Entities in a shopper's message: order numbers, e-mail addresses, product mentions."""
from __future__ import annotations

import re
from decimal import Decimal
from dataclasses import dataclass, field

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")
# "order 4F3A2B9C1D", "order #1042", "order number: A-1042", "订单号 4F3A2B9C1D"
_KEYWORD_NUMBER_RE = re.compile(
    r"(?:order|ord|no\.?|number|nr\.?|#|订单号?|单号)\s*(?:number|no\.?|nr\.?|#|is|:|：|是)?\s*#?\s*"
    r"([A-Za-z0-9][A-Za-z0-9-]{2,31})",
    re.IGNORECASE,
)
# a standalone code with at least one digit: 4F3A2B9C1D, 100234, A-1042
# (ASCII boundaries: in "帮我看看订单88123到哪了" the code touches Han characters, which are \w too)
_CODE_RE = re.compile(r"(?<![A-Za-z0-9_@.-])#?([A-Za-z0-9][A-Za-z0-9-]{3,31})(?![A-Za-z0-9_@-])")
_STOP_CODES = {"24/7", "2fa", "mp3", "mp4", "4k", "5g", "4g", "usb-c"}


_NUMBER = r"(\d+(?:[.,]\d{1,2})?)"
_CURRENCY = r"(?:\s*(?:€|\$|£|¥|元|块|eur|euros?|usd|dollars?|rmb|yuan))?"
_MAX_PRICE_RES = [
    re.compile(r"(?:under|below|less than|cheaper than|at most|no more than|max(?:imum)?|up to|within|<=?)\s*"
               r"(?:€|\$|£|¥)?\s*" + _NUMBER, re.IGNORECASE),
    re.compile(r"(?:€|\$|£|¥)?\s*" + _NUMBER + _CURRENCY + r"\s*(?:以下|以内|之内|或更少|or less|and under|max)",
               re.IGNORECASE),
    re.compile(r"(?:低于|不超过|不到|少于|便宜于|小于)\s*(?:¥)?\s*" + _NUMBER),
]
_MIN_PRICE_RES = [
    re.compile(r"(?:over|above|more than|at least|min(?:imum)?|from|>=?)\s*(?:€|\$|£|¥)?\s*" + _NUMBER,
               re.IGNORECASE),
    re.compile(_NUMBER + _CURRENCY + r"\s*(?:以上|起|或更多|or more|and up)", re.IGNORECASE),
    re.compile(r"(?:高于|超过|不低于|至少|大于)\s*(?:¥)?\s*" + _NUMBER),
]
_RANGE_RES = [
    re.compile(r"between\s*(?:€|\$|£|¥)?\s*" + _NUMBER + r"\s*(?:€|\$|£|¥)?\s*(?:and|-|to)\s*(?:€|\$|£|¥)?\s*"
               + _NUMBER, re.IGNORECASE),
    re.compile(r"(?:€|\$|£|¥)?" + _NUMBER + r"\s*(?:-|–|~|到|至)\s*(?:€|\$|£|¥)?" + _NUMBER + r"\s*"
               r"(?:€|\$|£|¥|元|块|eur|euros?|usd|dollars?)(?:之间)?", re.IGNORECASE),
    re.compile(r"(?:在)?" + _NUMBER + r"\s*(?:元|块)?\s*(?:到|至|-)\s*" + _NUMBER + r"\s*(?:元|块)?\s*之间"),
]


def _decimal(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def price_limits(text: str) -> tuple[Decimal | None, Decimal | None]:
    """``(lowest, highest)`` price a shopper asks for: "under 50", "50元以下", "between 20 and 40",
    "20-40 €", "100以上"; ``None`` where there is no limit. (A stand-in until the catalog search
    parses them itself.)"""
    text = text or ""
    for pattern in _RANGE_RES:
        match = pattern.search(text)
        if match:
            low, high = sorted((_decimal(match.group(1)), _decimal(match.group(2))))
            return low, high
    high = next((_decimal(m.group(1)) for p in _MAX_PRICE_RES for m in [p.search(text)] if m), None)
    low = next((_decimal(m.group(1)) for p in _MIN_PRICE_RES for m in [p.search(text)] if m), None)
    return low, high


def has_price_limit(text: str) -> bool:
    low, high = price_limits(text)
    return low is not None or high is not None


@dataclass
class Entities:
    order_numbers: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    product_keys: list[str] = field(default_factory=list)

    @property
    def order_number(self) -> str:
        return self.order_numbers[0] if self.order_numbers else ""

    @property
    def email(self) -> str:
        return self.emails[0] if self.emails else ""


def _has_digit(token: str) -> bool:
    return any(c.isdigit() for c in token)


def extract_emails(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0).strip(".").lower() for m in EMAIL_RE.finditer(text)))


def extract_order_numbers(text: str) -> list[str]:
    """Order numbers, most likely first: after a keyword ("order #A1042"), then bare codes."""
    without_emails = EMAIL_RE.sub(" ", text)
    found: list[str] = []
    for match in _KEYWORD_NUMBER_RE.finditer(without_emails):
        token = match.group(1).strip("-")
        if _has_digit(token) and len(token) >= 3:
            found.append(token)
    for match in _CODE_RE.finditer(without_emails):
        token = match.group(1).strip("-")
        if len(token) < 5 or token.lower() in _STOP_CODES or not _has_digit(token):
            continue
        if token.isdigit() and len(token) > 12:  # a phone or card number, not an order
            continue
        found.append(token)
    return list(dict.fromkeys(found))


def extract_product_mentions(text: str, titles: dict[str, str]) -> list[str]:
    """Item keys whose title (``{key: title}``) appears in ``text`` (case-insensitive)."""
    lowered = text.lower()
    hits = []
    for key, title in titles.items():
        title = (title or "").strip().lower()
        if len(title) >= 3 and title in lowered:
            hits.append((len(title), key))
    hits.sort(reverse=True)  # the longest (most specific) title first
    return [key for _, key in hits]


def extract_entities(text: str, *, product_titles: dict[str, str] | None = None) -> Entities:
    return Entities(
        order_numbers=extract_order_numbers(text),
        emails=extract_emails(text),
        product_keys=extract_product_mentions(text, product_titles or {}),
    )
