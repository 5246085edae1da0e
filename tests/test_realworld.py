"""modpack's verdicts on 45 real packaging files, pinned finding by finding.

`shared/reference/examples/realworld/` holds the newest version of 44 real ramp.yml manifests and
one RAMP-written module.json (PROVENANCE.tsv says where each comes from). tests/realworld/
expected.json gives, per file, the exact multiset of rule codes `modpack validate --format json`
reports, each occurrence with the one-line reason it is a true finding, judged against
shared/reference (ramp.md, redis-enterprise.md, re-docs/). A new finding, a lost one or a changed
count fails here, and so does a missing folder: the files travel beside the checkout in CI.

Findings over the 45 files, at a521632 -> now (issue 17):
  VER006 24 -> 29: the five {{...}} templates are now read past their placeholders, and are
    as short of compatible_redis_version as they look; CAP001 0 -> 1: `resharding`, found
    behind RedisAI's template; VER011 0 -> 1: the integral float version RAMP writes (warning).
  Gone as false alarms: DECL007 5 (a second finding after each YAML failure), VER008 4 (min and
    compatible majors differ, which RE 7.8.2+ allows), VER003 2 (RAMP's 21012.0; FalkorDB's
    ${SEMVER} in a key RAMP ignores), DECL003 2 (the same unread values), CMD020 1.
  Unchanged, each judged true: DECL006 12, IN004 5 (now at the template's line, named a
    template), CMD005 4, CMD006 4, VER010 4, CAP002 3, DECL005 2 (info), CAP003 1, SCH002 1,
    SCH006 1.  Total 75 -> 68.

Then CAP004 0 -> 2: a manifest with no capabilities key packs RAMP's default [] (ramp.md §2.1),
  as `capabilities: []` does (RedisGraph's 2017 ramp_manifest.yml, redis-interval-sets). Total 70.

Then SCH002 1 -> SCH008 1: RedisDebug's empty `description:` is null, an error that failed CI
  on a file Redis's own team packs with RAMP; a warning now. Total 70, errors 13 -> 12.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import REALWORLD

EXPECTED: dict[str, dict[str, list[str]]] = json.loads(
    (Path(__file__).parent / "realworld" / "expected.json").read_text(encoding="utf-8")
)
# Wrong verdicts real files got before issue 17 (item 3): none may come back on these files.
NEVER = {"VER003", "VER008", "DECL007", "DEP001", "CMD020"}


def _files() -> list[Path]:
    # Fails, never skips: a missing folder would make every pin below pass vacuously.
    assert REALWORLD.is_dir(), f"{REALWORLD} is missing: shared/ must sit beside the checkout"
    return sorted(p for p in REALWORLD.iterdir() if p.name != "PROVENANCE.tsv")


@pytest.fixture(scope="module")
def report() -> dict[str, list[dict[str, Any]]]:
    """One run of the real CLI over every file, each named explicitly (their names do not end in
    the names a folder walk picks up; the kind comes from the extension)."""
    result = run_modpack("validate", "--format", "json", *_files())
    assert result.returncode == 1, result.stderr  # errors among the findings: exit 1, no traceback
    assert "Traceback" not in result.stderr
    files = json.loads(result.stdout)["files"]
    return {Path(f["path"]).name: f["findings"] for f in files}


def test_every_real_file_is_pinned() -> None:
    names = {p.name for p in _files()}
    provenance = (REALWORLD / "PROVENANCE.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert names == {line.split("\t")[0] for line in provenance if line.strip()}
    assert names == set(EXPECTED)
    assert len(names) == 45


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_findings_of(name: str, report: dict[str, list[dict[str, Any]]]) -> None:
    got = Counter(f["code"] for f in report[name])
    want = Counter({code: len(reasons) for code, reasons in EXPECTED[name].items()})
    assert got == want, [f"{f['code']} {f['location'].get('line')}: {f['message']}" for f in report[name]]
    assert all(reason.strip() for reasons in EXPECTED[name].values() for reason in reasons)


def test_no_known_wrong_kind_comes_back(report: dict[str, list[dict[str, Any]]]) -> None:
    for name, findings in report.items():
        for f in findings:
            assert f["code"] not in NEVER, (name, f["message"])
            if f["code"] == "IN004" and "{{" in (REALWORLD / name).read_text(encoding="utf-8"):
                # A template is named as one, at the placeholder's own line, not at line 1.
                assert "template" in f["message"] and f["location"]["line"] > 1, (name, f)
            if f["code"] == "VER011":
                assert f["severity"] == "warning"  # an integral float version, as RAMP writes it


def test_misspelled_keys_get_the_right_hint(report: dict[str, list[dict[str, Any]]]) -> None:
    hints = {
        f["message"]: f["fix"] for findings in report.values() for f in findings if f["code"] == "DECL006"
    }
    assert hints["RAMP does not know the key 'isplay_name'"] == "Did you mean 'display_name'?"
    assert hints["RAMP does not know the key 'min_redis_verison'"] == "Did you mean 'min_redis_version'?"


def test_the_old_name_min_rlec_version_hints_its_new_name(tmp_path: Path) -> None:
    """A 2017 manifest spelled min_redis_pack_version as min_rlec_version (ramp.md §2.1): the hint
    must be its new name, not the nearest spelling min_redis_version."""
    text = (REALWORLD / "RedisLabsModules__redisml@c21f0d7580__ramp.yml").read_text(encoding="utf-8")
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(text.replace("min_redis_pack_version:", "min_rlec_version:"))
    result = run_modpack("validate", "--format", "json", manifest)
    [finding] = [f for f in json.loads(result.stdout)["files"][0]["findings"] if f["code"] == "DECL006"]
    assert "min_rlec_version" in finding["message"]
    assert "min_redis_pack_version" in finding["fix"] and "'min_redis_version'" not in finding["fix"]


@pytest.mark.parametrize(
    ("module_file", "named"),
    [("redisearch.so.debug", "redisearch.so"), ("hello.zip", "hello.so"), ("libx.so.1", "libx.so")],
)
def test_a_module_file_that_is_no_so_gets_a_fix_that_fits(
    module_file: str, named: str, tmp_path: Path
) -> None:
    """RediSearch's module.json names `redisearch.so.debug`; the fix offered was the rule's generic
    one about characters ("Use letters, digits, ..."), which that name already obeys."""
    document = json.loads((REALWORLD / "RediSearch__RediSearch@5f7d645f54__module.json").read_text())
    path = tmp_path / "module.json"
    path.write_text(json.dumps(document | {"module_file": module_file}))
    result = run_modpack("validate", "--format", "json", path)
    assert result.returncode == 1
    [finding] = [f for f in json.loads(result.stdout)["files"][0]["findings"] if f["code"] == "SCH006"]
    assert finding["message"] == f"module_file {module_file!r} does not name a .so file"
    assert f"Name the packed module {named} " in finding["fix"] and "Use letters" not in finding["fix"]
