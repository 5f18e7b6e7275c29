"""Regenerate the tables of docs/settings.md from the declarations in ecom_ai/conf.py.

    python scripts/settings_doc.py          # rewrite the page's tables
    python scripts/settings_doc.py --check  # exit 1 when the page is stale (tests do the same)

Only the text between ``<!-- settings table: GROUP ... -->`` and ``<!-- end settings table -->``
is written; headings and prose around the tables stay hand-written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "settings.md"
START = re.compile(r"^<!-- settings table: (?P<group>[\w-]+)[^\n]*-->$", re.M)
END = "<!-- end settings table -->"


def format_default(value) -> str:
    """A default as the page shows it: Python literals with JSON's double quotes."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{format_default(k)}: {format_default(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(format_default(v) for v in value) + ")"
    return repr(value)


def table(group: str) -> str:
    from ecom_ai.conf import SETTINGS

    rows = ["| key | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS.values():
        if setting.group == group:
            default = setting.default_doc or f"`{format_default(setting.default)}`"
            rows.append(f"| `{setting.key}` | {default} | {setting.doc} |")
    return "\n".join(rows)


def render(page: str) -> str:
    """``page`` with every settings table regenerated; every group must have its table."""
    from ecom_ai.conf import GROUPS

    seen = []

    def replace(match: re.Match) -> str:
        group = match.group("group")
        if group not in GROUPS:
            raise ValueError(f"docs/settings.md names an unknown settings group {group!r}")
        seen.append(group)
        return f"{match.group(0)}\n{table(group)}\n{END}"

    pattern = re.compile(START.pattern + r"\n.*?^" + re.escape(END) + "$", re.M | re.S)
    result = pattern.sub(lambda m: replace(START.match(m.group(0).split("\n", 1)[0])), page)
    missing = [group for group in GROUPS if group not in seen]
    if missing:
        raise ValueError(
            f"docs/settings.md has no settings table for the group(s) {', '.join(missing)}: add a "
            f"section with '<!-- settings table: GROUP -->' ... '{END}'"
        )
    return result


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    current = PAGE.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print("docs/settings.md is stale: run `make docs` (python scripts/settings_doc.py).", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        PAGE.write_text(fresh, encoding="utf-8")
        print("docs/settings.md rewritten.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
