"""Entities in a shopper's message: order numbers, e-mail addresses, product mentions."""

from __future__ import annotations

import re
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
