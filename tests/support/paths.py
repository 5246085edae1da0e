"""Where things are in the checkout."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "fixtures"
SO = FIXTURES / "so"
HELLO = SO / "x86_64" / "hello.so"  # the fixture module most tests package, validate and load
CASES = ROOT / "tests" / "cases"
REALWORLD = ROOT.parent / "shared" / "reference" / "examples" / "realworld"
RAMP_EXAMPLES = ROOT.parent / "shared" / "reference" / "examples" / "ramp"
RE_DOCS = ROOT.parent / "shared" / "reference" / "re-docs"  # verbatim Redis Enterprise pages, captures
