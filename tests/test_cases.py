"""One folder per rule: each bad case yields exactly its rule's finding, each good case none."""

from __future__ import annotations

from pathlib import Path

import pytest

from modpack.rules import all_rules
from modpack.validate import validate_paths
from tests.conftest import CASES

RULES_BY_NAME = {rule.name: rule for rule in all_rules().values()}
# Rules whose input is not a single file: covered by the tests named here.
ELSEWHERE = {
    "override-matches-nothing": "tests/test_ramp_import.py",
}


def case_folders(kind: str) -> list[Path]:
    return sorted(p for p in (CASES / kind).iterdir() if p.is_dir())


def inputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("folder", case_folders("good"), ids=lambda p: p.name)
def test_good_case_has_no_findings(folder: Path) -> None:
    report = validate_paths(inputs(folder))
    assert [f"{f.code} {f.message}" for f in report.findings()] == []


@pytest.mark.parametrize("folder", case_folders("bad"), ids=lambda p: p.name)
def test_bad_case_has_exactly_its_finding(folder: Path) -> None:
    rule = RULES_BY_NAME[folder.name.split("--")[0]]
    report = validate_paths(inputs(folder))
    found = [f"{f.code} {f.message}" for f in report.findings()]
    assert [f.code for f in report.findings()] == [rule.code], found


FAMILIES_ELSEWHERE = {
    # ELF rules need binaries: test_elf_checks.py gives each fixture exactly its finding.
    "ELF": ["test_elf_checks.py", "test_elf_malformed.py"],
    # LOAD rules need a redis-server: load_cases/*/expected.json and the redis tests.
    "LOAD": ["test_redis_load.py", "test_redis_compare.py", "load_cases"],
}


def _text_of(place: Path) -> str:
    files = [place] if place.is_file() else sorted(place.rglob("*.json"))
    return "".join(f.read_text() for f in files)


def test_every_rule_has_a_case() -> None:
    covered = {p.name.split("--")[0] for p in case_folders("bad")}
    tests = Path(__file__).parent
    elsewhere = {
        family: "".join(_text_of(tests / place) for place in places)
        for family, places in FAMILIES_ELSEWHERE.items()
    }
    missing = []
    for rule in all_rules().values():
        family = rule.code.rstrip("0123456789")
        if family in elsewhere:
            if rule.code not in elsewhere[family]:
                missing.append(f"{rule.code} {rule.name}")
        elif rule.name not in covered and rule.name not in ELSEWHERE:
            missing.append(f"{rule.code} {rule.name}")
    assert missing == []
