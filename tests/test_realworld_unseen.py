"""modpack's verdicts on 40 more real RAMP manifests, none of them in shared/reference.

tests/realworld_unseen/ holds them verbatim (PROVENANCE.tsv: repository, path, commit): other
commits and variants of the module repositories whose newest files test_realworld.py pins, and
forks (goodform, banker, filipecosta90) with content of their own. Each differs in content from
every file under shared/reference/examples. expected.json pins the exact multiset of rule codes per
file, each with the reason it was judged true against shared/reference.

Judged at 26b6173 (26 files): VER006 18, IN004 3, CAP002 3, CAP003 1, CMD008 1, DECL002 1 (now
DECL003: see expected.json), DECL005 1, DECL006 1 true; DEP001 1 (`svs: {local_path: ...}` in RediSearch's Redis Enterprise
manifest, no url) a false alarm, gone since: RAMP packs such an entry and Redis Enterprise installs
it from deps/. 14 files added after, judged the same way: VER006 10, IN004 3, CAP001 1
('resharding'), CAP002 1, CAP003 1, all true. No traceback, no exit status but 0/1, from
validate or from init --from.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import REALWORLD

UNSEEN = Path(__file__).parent / "realworld_unseen"
EXPECTED: dict[str, dict[str, list[str]]] = json.loads((UNSEEN / "expected.json").read_text(encoding="utf-8"))
# Kinds of verdict once wrong on real files (test_realworld.py, and DEP001 here): none may appear.
NEVER = {"VER003", "VER008", "DECL007", "DEP001", "CMD020"}


def _files() -> list[Path]:
    return sorted(p for p in UNSEEN.iterdir() if p.suffix == ".yml")


@pytest.fixture(scope="module")
def report() -> dict[str, list[dict[str, Any]]]:
    # RediSearch's enterprise manifest reads $BINDIR (`{os.getenv('BINDIR')}`): pinned unset.
    kept = os.environ.pop("BINDIR", None)
    try:
        result = run_modpack("validate", "--format", "json", *_files())
    finally:
        if kept is not None:
            os.environ["BINDIR"] = kept
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    return {Path(f["path"]).name: f["findings"] for f in json.loads(result.stdout)["files"]}


def test_every_file_is_pinned_and_new() -> None:
    names = {p.name for p in _files()}
    provenance = (UNSEEN / "PROVENANCE.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert names == {line.split("\t")[0] for line in provenance if line.strip()}
    assert names == set(EXPECTED) and len(names) == 40
    # New content, not a copy of a reference file under another name (line endings aside).
    reference = {p.read_bytes().replace(b"\r\n", b"\n") for p in (REALWORLD.parent).rglob("*") if p.is_file()}
    assert not [p.name for p in _files() if p.read_bytes().replace(b"\r\n", b"\n") in reference]
    texts = [p.read_bytes().replace(b"\r\n", b"\n") for p in _files()]
    assert len(set(texts)) == len(texts)  # no two files of the set are the same text either


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_findings_of(name: str, report: dict[str, list[dict[str, Any]]]) -> None:
    got = Counter(f["code"] for f in report[name])
    want = Counter({code: len(reasons) for code, reasons in EXPECTED[name].items()})
    assert got == want, [f"{f['code']} {f['location'].get('line')}: {f['message']}" for f in report[name]]
    assert not NEVER & set(got)


def test_init_from_each_real_manifest_ends_cleanly(tmp_path: Path) -> None:
    """init --from: a modpack.toml for every readable manifest, nothing written for a template
    (exit 1), never a traceback."""
    for path in _files():
        target = tmp_path / path.stem / "modpack.toml"
        target.parent.mkdir()
        result = run_modpack("init", "--from", path, target)
        assert result.returncode in (0, 1) and "Traceback" not in result.stderr, (path.name, result.stderr)
        assert target.exists() == (result.returncode == 0), path.name
        assert (result.returncode == 1) == ("IN004" in EXPECTED[path.name]), path.name
