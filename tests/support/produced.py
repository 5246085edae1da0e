"""Which rule codes the running test produced: what `@pytest.mark.rule(CODE)` is checked against.

tests/conftest.py records every `Finding` made in this process while a marked test runs, and
`tests.support.cli.run_modpack` adds the findings the command printed (text, json, github and
sarif reports), so a marker on a test that drives the real CLI is checked as well.
"""

from __future__ import annotations

import re

# `error LOAD001 ...` (text), `"code": "LOAD001"` (json), `title=LOAD001 ...` (github),
# `"ruleId": "LOAD001"` (sarif).
_REPORTED = re.compile(
    r"\b(?:error|warning|info) ([A-Z]+[0-9]{3})\b|\"(?:code|ruleId)\": \"([A-Z]+[0-9]{3})\"|title=([A-Z]+[0-9]{3}) "
)

SEEN: set[str] = set()


def note_output(text: str) -> None:
    """Record the findings a `modpack` command reported in `text`."""
    for match in _REPORTED.finditer(text):
        SEEN.add(next(group for group in match.groups() if group))
