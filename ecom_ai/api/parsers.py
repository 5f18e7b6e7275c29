"""The JSON parser of every ecom_ai API view: every malformed body is a 400, never a 500.

On top of DRF's ``JSONParser`` (strict: no ``NaN``/``Infinity``):

- nesting too deep for Python's parser (``RecursionError``) is a 400;
- a lone UTF-16 surrogate (``"\\ud800"`` without its pair) is a 400: such a string cannot be
  encoded as UTF-8, so the database would refuse it later with a ``UnicodeEncodeError``.
  Only JSON escapes can produce one (raw UTF-8 cannot encode a surrogate), so strings are
  only walked when the body contains such an escape.
"""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json as drf_json

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def find_lone_surrogate(value) -> str | None:
    """The first string (key or value) in ``value`` holding a lone surrogate, else ``None``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return node
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


class SafeJSONParser(JSONParser):
    """DRF's JSON parser that answers 400 for deep nesting and lone surrogates."""

    #: a view whose own validation reports lone surrogates field by field (events) turns this off
    reject_lone_surrogates = True

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read() if stream is not None else b""
            text = raw.decode(encoding) if isinstance(raw, bytes) else str(raw)
            parse_constant = drf_json.strict_constant if self.strict else None
            data = drf_json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except (ValueError, LookupError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from None
        if self.reject_lone_surrogates and _SURROGATE_ESCAPE.search(text) and find_lone_surrogate(data) is not None:
            raise ParseError(
                "JSON parse error - a string holds a lone UTF-16 surrogate (such as \\ud800), "
                "which is not valid Unicode text."
            )
        return data
