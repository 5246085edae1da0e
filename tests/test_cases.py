"""One folder per rule: each bad case yields exactly its rule's finding, each good case none."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from modpack.rules import all_rules
from modpack.validate import validate_paths
from tests.support.paths import CASES

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


def marked_rules(folder: Path) -> dict[str, list[str]]:
    """Rule codes named by `pytest.mark.rule(...)` in the test modules, read from their syntax
    trees (a code in a comment or a string elsewhere does not count). Each marker is checked
    when its test runs: the test must produce that finding (tests/conftest.py)."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.mark.rule":
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.setdefault(arg.value, []).append(path.name)
    return found


def table_rules() -> set[str]:
    """Codes in the tables that parametrized tests compare with exactly what a check returns:
    the ELF fixtures and crafted binaries, the malformed-ELF kinds, the LOAD cases."""
    from tests import test_elf_checks, test_elf_malformed

    codes = {code for expected in test_elf_checks.EXPECTED.values() for code, _ in expected}
    codes |= {code for _, expected in test_elf_checks.CRAFTED for code in expected}
    codes |= {test_elf_malformed.CODES[case[2]] for case in test_elf_malformed.CASES}
    for expected in sorted((Path(__file__).parent / "load_cases").glob("*/expected.json")):
        codes |= {line.split()[0] for line in json.loads(expected.read_text("utf-8"))["findings"]}
    return codes


def test_every_rule_has_a_case() -> None:
    """A bad case folder, a row of an exact-match table, or a test marked with the rule that
    produces it: never merely the code's text somewhere in a file."""
    covered = {p.name.split("--")[0] for p in case_folders("bad")}
    produced = table_rules() | set(marked_rules(Path(__file__).parent))
    missing = [
        f"{rule.code} {rule.name}"
        for rule in all_rules().values()
        if rule.name not in covered and rule.code not in produced and rule.name not in ELSEWHERE
    ]
    assert missing == []


def test_a_rule_code_in_text_alone_is_no_case(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "# ELF022 in a comment, and in a string:\n"
        "TEXT = 'ELF022'\n"
        "@pytest.mark.rule('ELF021', 'LOAD001')\n"
        "def test_y():\n    pass\n"
    )
    assert marked_rules(tmp_path) == {"ELF021": ["test_x.py"], "LOAD001": ["test_x.py"]}


def test_the_committed_cases_are_what_make_cases_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/cases/ is written by tests/cases/make_cases.py and committed: a case edited by hand
    (os-invalid's "rhel-9" became "rhel" when RE's reading of OS names was learnt) was turned back
    by the next run of the script, and that case then failed. The script, run into a temporary
    folder, must write the committed files byte for byte."""
    from tests.cases import make_cases

    monkeypatch.setattr(make_cases, "HERE", tmp_path)
    assert make_cases.main() == 0
    written = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(CASES): p.read_bytes()
        for kind in ("good", "bad")
        for p in (CASES / kind).rglob("*")
        if p.is_file()
    }
    assert sorted(map(str, written)) == sorted(map(str, committed))
    differing = sorted(str(name) for name in written if written[name] != committed[name])
    assert not differing, f"run python tests/cases/make_cases.py: these differ from it: {differing}"
