"""Which language a shopper's message is written in (per message, no model).

The ratio of CJK ideographs among the message's letters decides: Chinese when at least
``CJK_RATIO`` of them are Han characters (order numbers, e-mail addresses, prices and Latin
product names inside a Chinese sentence do not count against it); Japanese kana and Korean
hangul are told apart so that the bot does not answer them in Chinese. Everything else is
English. ``answer_language()`` maps a detected language onto what the shop can answer in.
"""

from __future__ import annotations

import re

from ecom_ai.conf import settings as ecom_settings

CJK_RATIO = 0.3
SUPPORTED = ("en", "zh")

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z]{2,}")
# what a Chinese message carries in Latin script without being English
_NOT_WORDS_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+|\b[A-Za-z]*\d[A-Za-z0-9-]*\b")


def detect_language(text: str) -> str:
    """``"zh"``, ``"ja"``, ``"ko"`` or ``"en"`` for ``text``."""
    text = text or ""
    kana = len(_KANA_RE.findall(text))
    hangul = len(_HANGUL_RE.findall(text))
    han = len(_HAN_RE.findall(text))
    if kana and kana * 3 >= han:
        return "ja"
    if hangul > han:
        return "ko"
    if not han:
        return "en"
    # Latin words weigh like a couple of Han characters each (a word ~ a 2-character Chinese word)
    latin_words = len(_LATIN_WORD_RE.findall(_NOT_WORDS_RE.sub(" ", text)))
    return "zh" if han / (han + 2 * latin_words) >= CJK_RATIO else "en"


def default_language() -> str:
    return (ecom_settings.CHAT_DEFAULT_LANGUAGE or "en").split("-")[0].lower()


def normalise_code(code: str) -> str:
    """``"zh-hans"`` → ``"zh"``; ``""`` → the shop's default."""
    code = (code or "").strip().lower().replace("_", "-")
    return code.split("-")[0] if code else default_language()


def answer_language(detected: str) -> str:
    """The language the bot answers in: the detected one when the bot speaks it, else the default."""
    return detected if detected in SUPPORTED else default_language()
