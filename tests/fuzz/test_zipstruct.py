"""The structural zip mutator: faithful when it tells no lie, and each lie is one a user would see.

`zipstruct` is what the long campaign (bench/fuzz_campaign.py) and the short one
(tests/test_fuzz_short.py) use to make coherent archives with one contradiction. If its writer
changed more than the lie, the campaign would test the wrong thing: a reader refusing the archive
for the wrong reason looks the same as one refusing it for the right one. So a parsed and rewritten
bundle must be byte for byte the original and validate clean, and each lie below must be answered
by `modpack validate` with the finding that names it (exit status 1, the rule code in the output).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fuzz import seeds, zipstruct
from tests.fuzz.zipstruct import Archive

GOOD = seeds.good_bundle()


def _validate(tmp_path: Path, data: bytes) -> tuple[int, set[str], str]:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "modpack", "validate", "--format", "json", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=seeds.ROOT,
    )
    assert "Traceback" not in done.stderr, done.stderr
    codes = {finding["code"] for report in json.loads(done.stdout)["files"] for finding in report["findings"]}
    return done.returncode, codes, done.stdout


def test_a_parsed_bundle_is_written_back_byte_for_byte() -> None:
    archive = zipstruct.parse(GOOD)
    assert archive is not None
    assert [m.name for m in archive.members] == [b"module.json", b"hello.so"]
    assert zipstruct.write(archive) == GOOD


def test_the_rewritten_bundle_validates_clean(tmp_path: Path) -> None:
    archive = zipstruct.parse(GOOD)
    assert archive is not None
    status, codes, output = _validate(tmp_path, zipstruct.write(archive))
    assert status == 0 and not {c for c in codes if c.startswith("ZIP")}, output


def _local_size(archive: Archive) -> None:
    archive.members[1].local["usize"] = 0  # Info-ZIP would unpack a 0-byte .so (issue 12)


def _local_crc(archive: Archive) -> None:
    archive.members[1].local["crc"] ^= 0x1


def _local_method(archive: Archive) -> None:
    archive.members[1].local["method"] = 0


def _local_name(archive: Archive) -> None:
    archive.members[1].local_name = b"hellO.so"


def _under_count(archive: Archive) -> None:
    """1,003 entries under an end record that says 2 (the ZIP018 lie of issue 12)."""
    small = archive.members[0]
    for index in range(1001):
        name = b"deps/f%d" % index
        archive.members.append(zipstruct.replace(small, name=name, local_name=name, lengths={}))
    archive.end.total_entries = archive.end.disk_entries = 2


def _count(total: int) -> Callable[[Archive], None]:
    def lie(archive: Archive) -> None:
        archive.end.total_entries = archive.end.disk_entries = total

    return lie


def _descriptor_missing(archive: Archive) -> None:
    """Flag bit 3 (sizes in a data descriptor after the data) with no descriptor there."""
    member = archive.members[0]
    member.local["flags"] |= 0x08
    member.central["flags"] |= 0x08
    for name in ("crc", "csize", "usize"):
        member.local[name] = 0


def _duplicate(archive: Archive) -> None:
    archive.extra_central.append((0, {}, b"module.json"))


def _offset_past_end(archive: Archive) -> None:
    archive.offsets[1] = 0xFFFFFFF0


def _case_variant_only(archive: Archive) -> None:
    archive.members[0].name = archive.members[0].local_name = b"Module.json"


LIES: dict[str, tuple[Callable[[Archive], None], str]] = {
    "local-uncompressed-size-0": (_local_size, "ZIP016"),
    "local-crc-differs": (_local_crc, "ZIP016"),
    "local-method-differs": (_local_method, "ZIP016"),
    "local-name-differs": (_local_name, "ZIP016"),
    "end-record-says-2-of-1003": (_under_count, "ZIP018"),
    "end-record-says-1-of-2": (_count(1), "ZIP016"),  # Info-ZIP unzip exits 3 on both
    "end-record-says-3-of-2": (_count(3), "ZIP016"),
    "data-descriptor-missing": (_descriptor_missing, "ZIP015"),  # unzip exits 12 (overlap)
    "duplicate-central-record": (_duplicate, "ZIP010"),
    "header-offset-past-end": (_offset_past_end, "ZIP016"),
    "module-json-named-Module-json": (_case_variant_only, "ZIP002"),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_each_structural_lie_is_a_finding(tmp_path: Path, lie: str) -> None:
    edit, code = LIES[lie]
    archive = zipstruct.parse(GOOD)
    assert archive is not None
    edit(archive)
    data = zipstruct.write(archive)
    assert data != GOOD
    status, codes, output = _validate(tmp_path, data)
    assert status == 1 and code in codes, output


def test_a_data_descriptor_where_flag_bit_3_says_is_clean(tmp_path: Path) -> None:
    """The other side of the rule above: the descriptor there (as streaming writers put it) is fine."""
    archive = zipstruct.parse(seeds.crafted_zips()["data-descriptors"])
    assert archive is not None and all(m.local["flags"] & 0x08 for m in archive.members)
    assert all(len(m.descriptor) == 16 for m in archive.members)
    _, codes, output = _validate(tmp_path, zipstruct.write(archive))
    assert not {"ZIP015", "ZIP016"} & codes, output


def test_mutate_is_deterministic_bounded_and_never_raises() -> None:
    corpus = [GOOD, *(data for data in seeds.crafted_zips().values() if len(data) < 200_000)]
    changed = 0
    for operator in range(zipstruct.OPERATORS):
        for argument in range(12):
            data = corpus[(operator * 13 + argument) % len(corpus)]
            out = zipstruct.mutate(data, operator, argument, rounds=1 + argument % 3)
            assert out == zipstruct.mutate(data, operator, argument, rounds=1 + argument % 3)
            assert len(out) <= zipstruct.MAX_BYTES
            changed += out != data
    assert changed > zipstruct.OPERATORS * 12 * 3 // 4  # most lies change the bytes
    assert zipstruct.mutate(b"not a zip", 0, 0) == b"not a zip"


def test_every_operator_changes_the_good_bundle() -> None:
    for operator in range(zipstruct.OPERATORS):
        outs = {zipstruct.mutate(GOOD, operator, argument) for argument in range(20)}
        assert outs - {GOOD}, zipstruct.operator_name(operator)
