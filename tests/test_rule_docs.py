"""Rule documentation: `modpack rules CODE`, the rule data's shape, and the examples' truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modpack.findings import Example, Rule
from modpack.rule_docs import render_rule
from modpack.rules import RULE_KEYS, all_rules, load_rules
from modpack.validate import validate_paths
from tests.support.cli import run_modpack
from tests.support.paths import CASES, ROOT

RULE_FILES = sorted((ROOT / "modpack" / "data" / "rules").glob("*.json"))
# Documents of this project's own research that users do not have; rule texts cite public pages.
INTERNAL = re.compile(r"keyspecs\.md|redis-enterprise\.md|ramp\.md|elf\.md|rest-api-[\w-]+\.txt|§")
PUBLIC_URL = re.compile(r"https://[^\s/]+\.[^\s/]+/\S*")
CHECKED_FILES = ("module.json", "modpack.toml", "ramp.yml")

ZERO_STEP = (CASES / "bad" / "zero-step" / "module.json").read_text()
SYNTHETIC = {
    "code": "KEY002",
    "name": "zero-step",
    "severity": "error",
    "why": "A zero step never advances the key loop.",
    "fix": "Use step 1.",
    "sources": [
        {"title": "COMMAND", "url": "https://redis.io/docs/latest/commands/command/"},
        "https://github.com/redis/redis/blob/7.2/src/db.c",
    ],
    "example_bad": {"file": "module.json", "text": ZERO_STEP},
    "example_good": {"file": "module.json", "text": ZERO_STEP.replace('"step": 0', '"step": 1')},
}


def example_codes(example: Example, folder: Path) -> set[str]:
    """The rule codes validating a complete example file yields."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / example.file
    path.write_text(example.text)
    return {f.code for f in validate_paths([path]).findings()}


def test_one_rule_in_full_from_the_command_line() -> None:
    result = run_modpack("rules", "key002")
    assert result.returncode == 0, result.stderr
    rule = all_rules()["KEY002"]
    assert result.stdout.startswith("KEY002 zero-step (error)\n")
    assert "Why it matters:" in result.stdout and "How to fix it:" in result.stdout
    assert rule.fix in result.stdout and "Sources:" in result.stdout
    by_name = run_modpack("rules", "zero-step", "--format", "json")
    assert json.loads(by_name.stdout)[0]["code"] == "KEY002"


def test_an_unknown_rule_is_a_usage_error_naming_its_family() -> None:
    result = run_modpack("rules", "KEY999")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no rule 'KEY999'" in result.stderr and "KEY001" in result.stderr


def test_sources_and_examples_are_loaded_and_printed() -> None:
    rule = load_rules([[SYNTHETIC]])["KEY002"]
    assert [s.url for s in rule.sources][1] == "https://github.com/redis/redis/blob/7.2/src/db.c"
    text = render_rule(rule, "text")
    assert "Triggers it (module.json):\n  {" in text and "Fixes it (module.json):" in text
    assert "COMMAND: https://redis.io/docs/latest/commands/command/" in text
    markdown = render_rule(rule, "markdown")
    assert (
        "```json\n{" in markdown and "- [COMMAND](https://redis.io/docs/latest/commands/command/)" in markdown
    )
    described = json.loads(render_rule(rule, "json"))
    assert described["example_bad"]["file"] == "module.json" and len(described["sources"]) == 2


def test_the_example_check_can_fail(tmp_path: Path) -> None:
    """The check below, on an example pair: the bad one triggers the rule, the good one does not."""
    rule = load_rules([[SYNTHETIC]])["KEY002"]
    assert rule.example_bad and rule.example_good
    assert "KEY002" in example_codes(rule.example_bad, tmp_path / "bad")
    assert "KEY002" not in example_codes(rule.example_good, tmp_path / "good")


def test_every_complete_example_triggers_or_fixes_its_rule(tmp_path: Path) -> None:
    for rule in all_rules().values():
        for kind, example in (("bad", rule.example_bad), ("good", rule.example_good)):
            if example is None or not example.file:
                continue
            assert example.file in CHECKED_FILES, (rule.code, example.file)
            codes = example_codes(example, tmp_path / rule.code / kind)
            assert (rule.code in codes) == (kind == "bad"), (rule.code, kind, codes)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_entries_have_a_known_shape(path: Path) -> None:
    for item in json.loads(path.read_text()):
        assert set(item) <= RULE_KEYS, (item["code"], set(item) - RULE_KEYS)
        assert {"code", "name", "severity", "why", "fix"} <= set(item), item.get("code")
        for source in item.get("sources", []):
            url = source if isinstance(source, str) else source["url"]
            assert PUBLIC_URL.fullmatch(url), (item["code"], url)


def rule_text(rule: Rule) -> str:
    examples = [e.text for e in (rule.example_bad, rule.example_good) if e is not None]
    return " ".join([rule.why, rule.fix, *examples, *(s.title for s in rule.sources)])


def test_every_rule_cites_a_public_url_and_no_internal_document() -> None:
    without_url = [code for code, rule in all_rules().items() if not rule.sources]
    internal = [code for code, rule in all_rules().items() if INTERNAL.search(rule_text(rule))]
    assert without_url == [], f"{len(without_url)} rules cite no public URL: {without_url}"
    assert internal == [], f"{len(internal)} rules name an internal document: {internal}"


@pytest.mark.parametrize(
    "arguments",
    [("--platforms", "--capabilities"), ("--platforms", "CMD013"), ("--capabilities", "KEY002")],
)
def test_listings_and_codes_given_together_are_a_usage_error(arguments: tuple[str, ...]) -> None:
    """`rules --platforms --capabilities` printed the capabilities alone and exited 0."""
    result = run_modpack("rules", *arguments)
    assert result.returncode == 2, result.stdout
    assert "cannot be combined" in result.stderr
    assert result.stdout == ""
