"""Remove secrets from chat text before it is stored or sent anywhere.

Card numbers (Luhn-checked, 13–19 digits with spaces or dashes), IBANs (mod-97 checked),
card security codes, US social security numbers and passwords a shopper types into the chat
are replaced by a marker such as ``[card number removed]``. Order numbers and e-mail
addresses stay: the bot needs them to find the shopper's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CARD_RE = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}", re.IGNORECASE)
_CVV_RE = re.compile(r"\b(cvv2?|cvc2?|csc|security code|安全码)\s*(?:is|:|=|是)?\s*\d{3,4}\b", re.IGNORECASE)
_SSN_RE = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_PASSWORD_RE = re.compile(r"\b(password|passwd|pwd|passcode|pin|密码|口令)\s*(?:is|:|=|是|为)?\s*\S+", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only digits) passes the Luhn checksum."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    iban = text.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in moved))
    except ValueError:
        return False
    return number % 97 == 1


@dataclass
class Redaction:
    text: str
    kinds: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def redact(text: str) -> Redaction:
    """``text`` with secrets replaced, and which kinds of secret were found."""
    kinds: list[str] = []

    def card(match):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            kinds.append("card_number")
            return "[card number removed]"
        return match.group(0)

    def iban(match):
        candidate = match.group(0)
        # the pattern may run into the following words: try the longest valid prefix
        for end in range(len(candidate), 14, -1):
            if (
                candidate[end - 1] != " "
                and (end == len(candidate) or not candidate[end].isalnum())
                and iban_valid(candidate[:end])
            ):
                kinds.append("iban")
                return "[IBAN removed]" + candidate[end:]
        return candidate

    def simple(kind, marker):
        def sub(match):
            kinds.append(kind)
            return marker

        return sub

    text = _CARD_RE.sub(card, text)
    text = _IBAN_RE.sub(iban, text)
    text = _CVV_RE.sub(simple("security_code", "[security code removed]"), text)
    text = _SSN_RE.sub(simple("ssn", "[SSN removed]"), text)
    text = _PASSWORD_RE.sub(simple("password", "[password removed]"), text)
    return Redaction(text=text, kinds=kinds)
