"""Regenerates the rule table in README.md from the rule catalogue (modpack/data/rules/)."""

from __future__ import annotations

import sys
from pathlib import Path

from modpack.rule_docs import README_BEGIN, README_END, readme_section

README = Path(__file__).resolve().parent.parent / "README.md"


def updated(text: str) -> str:
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    return text[:start] + readme_section() + text[end:]


def main() -> int:
    text = README.read_text(encoding="utf-8")
    README.write_text(updated(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
