"""The rule catalogue: every check's code, name, severity, reason and fix, kept as data.

Each family of rules lives in its own JSON file under `modpack/data/rules/`, so the rules can be
listed (`modpack rules`), documented (the README table is generated from them) and selected by
code without running any check.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from modpack.findings import Rule, Severity

_SEVERITIES = {s.label: s for s in Severity}


@functools.cache
def all_rules() -> dict[str, Rule]:
    """Every rule, keyed by code, in catalogue order."""
    rules: dict[str, Rule] = {}
    folder = resources.files("modpack") / "data" / "rules"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        for item in json.loads(entry.read_text(encoding="utf-8")):
            rules[item["code"]] = Rule(
                code=item["code"],
                name=item["name"],
                severity=_SEVERITIES[item["severity"]],
                why=item["why"],
                fix=item["fix"],
            )
    return dict(sorted(rules.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(code: str) -> tuple[str, int]:
    prefix = code.rstrip("0123456789")
    return prefix, int(code[len(prefix) :] or 0)


def rule(code: str) -> Rule:
    try:
        return all_rules()[code]
    except KeyError:
        raise KeyError(f"no rule {code!r} in the catalogue") from None


def matches(code: str, selectors: tuple[str, ...]) -> bool:
    """True when a selector names the code, its family prefix (ZIP) or a code prefix (ZIP0)."""
    found = rule(code)
    return any(code.startswith(s) or s == found.name for s in selectors)
