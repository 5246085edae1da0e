"""Boundaries and branches of versions.py, loadability.py and bundle.py that no other test pins.

Each value here is one side of a limit that users meet: the largest version component, the
largest major, the development placeholder, the entry and size limits of a bundle, zip64 end
records as real writers make them. Messages are asserted where they carry the fix.
"""

from __future__ import annotations

import errno
import io
import struct
import zipfile
from pathlib import Path

import pytest

from modpack import bundle, loadability, versions
from modpack.checks import metadata
from modpack.checks.elf import check_binary
from modpack.findings import Sink
from tests.elf_cases import builder
from tests.elf_cases.builder import Spec
from tests.support.elf import info_of, needing
from tests.support.platforms import supported_os_ids
from tests.support.tools import require

INT32_MAX = 2**31 - 1  # RedisModule_Init takes the module version as a C int
MIB = 1024 * 1024
# The documented limits, written out so that a changed constant in bundle.py fails here.
MAX_ENTRIES = 1000
MAX_TOTAL_SIZE = 500 * MIB  # the RS module size limit, redis-enterprise.md §8
MAX_RATIO = 1032  # deflate's most (bundle.MAX_RATIO)
RATIO_FLOOR = 32 * MIB
MAX_MODULE_JSON = 4 * MIB


def findings_of(check: object, *args: object) -> list[tuple[str, str, str]]:
    sink = Sink("module.json")
    check(*args, sink)  # type: ignore[operator]
    return [(f.code, f.location.path, f.message) for f in sink.resolved()]


def codes(found: list[tuple[str, str, str]]) -> list[str]:
    return [code for code, _path, _message in found]


# --- versions.py ------------------------------------------------------------------------------


def test_a_component_of_exactly_99_is_the_largest_that_encodes() -> None:
    assert versions.parse_semver("1.99.0") == (1, 99, 0)
    assert versions.encode(1, 99, 0) == 19900
    assert versions.decode(19900) == (1, 99, 0)
    assert versions.decode(versions.encode(3, 99, 99)) == (3, 99, 99)
    assert findings_of(metadata.check_versions, {"semantic_version": "1.99.99", "version": 19999})[1:] == []
    found = findings_of(metadata.check_versions, {"semantic_version": "1.100.0", "version": 20000})
    assert (
        "VER002",
        "semantic_version",
        "minor 100 is above 99: version 20000 would read back as 2.0.0",
    ) in found
    found = findings_of(metadata.check_versions, {"semantic_version": "1.2.100"})
    assert (
        "VER002",
        "semantic_version",
        "patch 100 is above 99: version 10300 would read back as 1.3.0",
    ) in found


def test_the_largest_major_is_the_last_whose_every_version_fits_a_c_int() -> None:
    """214747.99.99 is 2147479999; 214748.99.99 would be 2147489999, past 2**31-1."""
    assert versions.encode(versions.MAX_MAJOR, 99, 99) <= INT32_MAX
    assert versions.encode(versions.MAX_MAJOR + 1, 99, 99) > INT32_MAX
    assert versions.decode(2147479999) == (214747, 99, 99)
    fits = {"semantic_version": "214747.99.99", "version": 2147479999, "compatible_redis_version": "7.4"}
    assert findings_of(metadata.check_versions, fits) == []
    too_big = dict(fits, semantic_version="214748.0.0", version=2147480000)
    said = "major 214748 does not fit the numeric version (major * 10000 + minor * 100 + patch)"
    assert ("VER002", "semantic_version", said) in findings_of(metadata.check_versions, too_big)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1.2.3", None),
        ("0.0.0", None),
        ("1.2.3-rc1", "'1.2.3-rc1' is valid semver, but Redis Enterprise needs plain X.Y.Z without '-rc1'"),
        (
            "1.2.3+build.5",
            "'1.2.3+build.5' is valid semver, but Redis Enterprise needs plain X.Y.Z without '+build.5'",
        ),
        (
            "1.2.3-rc1+b7",
            "'1.2.3-rc1+b7' is valid semver, but Redis Enterprise needs plain X.Y.Z without '-rc1'",
        ),
        ("1.2", "'1.2' is not a semantic version X.Y.Z"),
        ("01.2.3", "'01.2.3' is not a semantic version X.Y.Z"),
        ("v1.2.3", "'v1.2.3' is not a semantic version X.Y.Z"),
        # Components: 18 digits is the most; an 18-digit one with a leading zero is only malformed.
        ("9" * 18 + ".0.0", None),
        ("1" * 19 + ".0.0", "'1111111111111111111.0.0' has a component of more than 18 digits"),
        ("0" + "1" * 17 + ".0.0", "'011111111111111111.0.0' is not a semantic version X.Y.Z"),
        # The message quotes a text of up to 60 characters whole, a longer one as 28 + ... + 28.
        (
            "12345678901234567890123456789012345678901234567890123456.0.0",
            "'12345678901234567890123456789012345678901234567890123456.0.0' has a component of more than 18 digits",
        ),
        (
            "123456789012345678901234567890123456789012345678901234567.0.0",
            "'1234567890123456789012345678...456789012345678901234567.0.0' has a component of more than 18 digits",
        ),
    ],
)
def test_semantic_version_problems_say_what_to_drop(text: str, problem: str | None) -> None:
    assert versions.semver_problem(text) == problem
    assert (versions.parse_semver(text) is not None) == (problem is None)


def test_a_prerelease_semantic_version_is_reported_and_not_encoded() -> None:
    found = findings_of(metadata.check_versions, {"semantic_version": "1.2.3-rc1", "version": 10203})
    assert codes(found) == ["VER001", "VER006"]
    assert "without '-rc1'" in found[0][2]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("7.4", (7, 4)),
        ("7.4.2", (7, 4, 2)),
        ("10.0", (10, 0)),
        ("7", None),
        ("7.4.2.1", None),
        ("v7.4", None),
    ],
)
def test_redis_versions_are_major_minor_and_an_optional_patch(
    text: str, parsed: tuple[int, ...] | None
) -> None:
    assert versions.parse_redis_version(text) == parsed


@pytest.mark.parametrize(
    ("value", "placeholder"), [("99.99", True), ("99.99.0", True), ("99.98", False), ("98.99", False)]
)
def test_the_99_99_placeholder_target_and_its_neighbours(value: str, placeholder: bool) -> None:
    module = {"min_redis_version": "7.0", "compatible_redis_version": value}
    found = findings_of(metadata.check_versions, module)
    assert ("VER010" in codes(found)) == placeholder
    if placeholder:
        assert (
            "VER010",
            "compatible_redis_version",
            f"compatible_redis_version {value!r} is the development placeholder",
        ) in found


# --- loadability.py --------------------------------------------------------------------------------


def test_two_aliases_of_one_os_are_one_platform_and_one_target(tmp_path: Path) -> None:
    rocky, rhel = loadability.platform("rocky9"), loadability.platform("RHEL9")
    assert rocky is not None and rocky == rhel and rocky.os_id == "rhel9"
    so = tmp_path / "module.so"
    so.write_bytes(builder.build(needing("GLIBC_2.2.5", "GLIBC_2.35"))[0])
    sink = Sink(str(so))
    check_binary(so, sink, module={"operating_systems": ["rhel9", "rocky9"], "architecture": "x86_64"})
    found = [(f.code, f.location.path, f.message) for f in sink.resolved()]
    assert found == [
        (
            "ELF012",
            "operating_systems[0]",
            "rhel9 has glibc 2.34, but the binary needs GLIBC_2.35 (required by f_GLIBC_2.35@GLIBC_2.35)",
        )
    ]


def test_platforms_and_blockers_are_shared_values_that_cannot_be_changed() -> None:
    """loadability hands out the same Platform objects to every caller: none may alter them."""
    rhel9 = loadability.platform("rhel9")
    assert rhel9 is not None and rhel9 is loadability.platform("rocky9")
    with pytest.raises(AttributeError):
        rhel9.glibc = (2, 99)  # type: ignore[misc]
    assert len({rhel9, loadability.platform("almalinux9"), loadability.platform("rhel8")}) == 2
    blocker = loadability.Blocker("GLIBC", "GLIBC_2.35", "2.34")
    with pytest.raises(AttributeError):
        blocker.available = "2.35"  # type: ignore[misc]
    assert len({blocker, loadability.Blocker("GLIBC", "GLIBC_2.35", "2.34")}) == 1
    library = rhel9.library("libssl.so.3")
    assert library is not None
    with pytest.raises(AttributeError):
        library.installed = False  # type: ignore[misc]


def test_a_version_equal_to_the_limit_loads_and_one_above_does_not(tmp_path: Path) -> None:
    at_limit = info_of(tmp_path, needing("GLIBC_2.2.5", "GLIBC_2.28"))
    assert loadability.blockers(at_limit, "rhel8") == []
    above = info_of(tmp_path, needing("GLIBC_2.2.5", "GLIBC_2.28", "GLIBC_2.29"))
    [blocker] = loadability.blockers(above, "rhel8")
    # Only the symbols above the limit are blamed, not GLIBC_2.28's.
    assert blocker == loadability.Blocker("GLIBC", "GLIBC_2.29", "2.28", ("f_GLIBC_2.29@GLIBC_2.29",))
    assert loadability.loadable_systems(above) == ["rhel9", "ubuntu20", "ubuntu22", "amzn2023"]
    assert loadability.oldest_loadable(above) == "ubuntu20"


def test_only_supported_systems_are_offered_and_the_oldest_is_by_glibc(tmp_path: Path) -> None:
    plain = info_of(tmp_path, needing("GLIBC_2.2.5"))
    assert loadability.loadable_systems(plain) == policy_supported()
    assert not loadability.blockers(plain, "amzn2") and not loadability.blockers(
        plain, "ubuntu24"
    )  # retired, not-yet
    assert loadability.oldest_loadable(plain) == "rhel8"
    # rhel9 and amzn2023 have the same glibc and libstdc++: the first in policy order wins.
    newer = info_of(tmp_path, needing("GLIBC_2.2.5", "GLIBC_2.34"))
    assert loadability.oldest_loadable(newer) == "rhel9"
    nowhere = info_of(tmp_path, needing("GLIBC_2.2.5", "GLIBC_2.99"))
    assert loadability.loadable_systems(nowhere) == [] and loadability.oldest_loadable(nowhere) is None


def policy_supported() -> list[str]:
    return supported_os_ids()


def test_a_libstdcxx_tie_on_glibc_picks_the_older_libstdcxx(tmp_path: Path) -> None:
    """rhel8 (glibc 2.28) cannot load GLIBC_2.30; ubuntu20 (2.31) is then the oldest."""
    info = info_of(tmp_path, needing("GLIBC_2.2.5", "GLIBC_2.30"))
    assert loadability.oldest_loadable(info) == "ubuntu20"


def test_an_unknown_os_is_a_key_error_naming_it(tmp_path: Path) -> None:
    info = info_of(tmp_path, needing("GLIBC_2.2.5"))
    with pytest.raises(KeyError, match="'solaris11' is not an OS of the platform policy"):
        loadability.blockers(info, "solaris11")


def test_architecture_blockers_name_the_machine_when_it_is_not_shipped(tmp_path: Path) -> None:
    arm = info_of(tmp_path, needing("GLIBC_2.17", machine=builder.EM_AARCH64))
    assert loadability.blockers(arm, "rhel8") == [loadability.Blocker("architecture", "aarch64", "x86_64")]
    assert loadability.blockers(arm, "rhel9") == []
    riscv = info_of(tmp_path, Spec(machine=builder.EM_RISCV))
    [blocker] = loadability.blockers(riscv, "rhel9")
    assert blocker == loadability.Blocker("architecture", "EM_RISCV (64-bit)", "x86_64, aarch64")


def test_the_gcc_limit_is_unknown_for_an_architecture_the_policy_lacks() -> None:
    rhel9 = loadability.platform("rhel9")
    assert rhel9 is not None
    assert rhel9.limit("GCC", "riscv64") is None
    assert rhel9.limit("GCC", None) is None
    assert rhel9.limit("GLIBCXX", "x86_64") == (3, 4, 29)


def test_execstack_is_refused_from_glibc_2_41_exactly() -> None:
    rhel9 = loadability.platform("rhel9")
    assert rhel9 is not None
    assert loadability.execstack_refused_from() == (2, 41)
    assert not loadability.refuses_execstack(rhel9._replace(glibc=(2, 40)))
    assert loadability.refuses_execstack(rhel9._replace(glibc=(2, 41)))
    assert not loadability.refuses_execstack(rhel9)


def test_a_marker_version_is_named_with_the_glibc_it_means(tmp_path: Path) -> None:
    info = info_of(tmp_path, Spec(verneed={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_ABI_DT_RELR")}))
    [blocker] = loadability.blockers(info, "rhel9")
    assert blocker.needed == "GLIBC_ABI_DT_RELR (glibc 2.36)"
    # A name that already ends with its version is not repeated.
    plain = info_of(tmp_path, needing("GLIBC_2.2.5", "GLIBC_2.36"))
    assert loadability.blockers(plain, "rhel9")[0].needed == "GLIBC_2.36"


# --- bundle.py: the end record ------------------------------------------------------------------


def zip_bytes(*entries: tuple[str, bytes], comment: bytes = b"", mode: int = 0o100755) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.comment = comment
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def layout_findings(data: bytes) -> tuple[bundle.Layout | None, list[tuple[str, str, str]]]:
    sink = Sink("b.zip")
    layout = bundle.open_layout(io.BytesIO(data), len(data), sink)
    return layout, [(f.code, f.message, f.hint) for f in sink.resolved()]


MODULE = (("module.json", b"{}"), ("m.so", b"\x7fELF"))


def with_zip64_end(data: bytes, count: int) -> bytes:
    """The end as Go's archive/zip writes it once any field needs zip64: 0xFFFF in the classic
    record, the real count in the zip64 record (https://go.dev/src/archive/zip/writer.go)."""
    at = data.rfind(b"PK\x05\x06")
    _sig, _d, _cd, _n, _total, cd_size, cd_offset, comment_len = struct.unpack_from("<4sHHHHIIH", data, at)
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, cd_size, cd_offset, comment_len)
    return data[:at] + record + locator + end + data[at + 22 :]


def test_a_zip64_end_record_gives_the_count() -> None:
    data = with_zip64_end(zip_bytes(*MODULE), 2)
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == 2
    layout, found = layout_findings(data)
    assert layout is not None and found == []
    assert [i.filename for i in layout.binaries] == ["m.so"]


@pytest.mark.parametrize(("count", "refused"), [(MAX_ENTRIES, False), (MAX_ENTRIES + 1, True)])
def test_the_entry_limit_is_read_from_the_zip64_record(count: int, refused: bool) -> None:
    data = with_zip64_end(zip_bytes(*MODULE), count)
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == count
    layout, found = layout_findings(data)
    limit = ("ZIP018", f"the archive declares {count} entries (the limit is 1000)", "")
    # Refused before zipfile parses the directory: the only finding, and no layout. At the limit the
    # archive is read; its two records under a count of 1000 are the end record's lie (ZIP016).
    assert [f for f in found if f[0] != "ZIP016"] == ([limit] if refused else [])
    assert (layout is None) == refused


def test_a_zip64_locator_pointing_past_the_end_reads_the_record_before_it() -> None:
    """zipfile reads the zip64 record right before its locator, whatever offset the locator gives
    (a self-extractor's stub moves that): so does the count ZIP018 judges."""
    data = bytearray(with_zip64_end(zip_bytes(*MODULE), 2))
    locator = data.rfind(b"PK\x06\x07")
    struct.pack_into("<Q", data, locator + 8, len(data) - 55)  # a 56-byte record cannot start there
    assert bundle.declared_entry_count(io.BytesIO(bytes(data)), len(data)) == 2


def test_a_zip64_locator_pointing_past_the_end_with_no_record_before_it_leaves_the_classic_count() -> None:
    data = bytearray(with_zip64_end(zip_bytes(*MODULE), 2))
    record = data.rfind(b"PK\x06\x06")
    data[record : record + 4] = b"XX\x06\x06"  # no record before the locator either
    locator = data.rfind(b"PK\x06\x07")
    struct.pack_into("<Q", data, locator + 8, len(data) - 55)
    assert bundle.declared_entry_count(io.BytesIO(bytes(data)), len(data)) == 0xFFFF


def with_record_in_comment(count: int, cut: int = 0) -> bytes:
    """A zip64 locator pointing at a record held in the archive comment, ending at the last byte
    (or cut short by `cut` bytes, as in a truncated download)."""
    data = with_zip64_end(zip_bytes(*MODULE), count)
    at = data.rfind(b"PK\x05\x06")
    record = data[data.rfind(b"PK\x06\x06") : data.rfind(b"PK\x06\x07")][: 56 - cut]
    end = bytearray(data[at : at + 22])
    struct.pack_into("<H", end, 20, len(record))
    out = bytearray(data[:at] + bytes(end) + record)
    struct.pack_into("<Q", out, out.rfind(b"PK\x06\x07") + 8, len(out) - len(record))
    return bytes(out)


def test_a_zip64_record_ending_at_the_last_byte_is_read() -> None:
    data = with_record_in_comment(1001)
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == 1001


def test_a_cut_short_zip64_record_is_not_trusted_and_does_not_crash() -> None:
    """The locator points at a record cut short in the comment; the record right before the
    locator, which zipfile reads, gives the count."""
    data = with_record_in_comment(1001, cut=1)
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == 1001
    assert layout_findings(data) == (
        None,
        [("ZIP018", "the archive declares 1001 entries (the limit is 1000)", "")],
    )
    alone = bytearray(data)
    record = alone.find(b"PK\x06\x06")
    alone[record : record + 4] = b"XX\x06\x06"  # only the cut-short one: not trusted
    assert bundle.declared_entry_count(io.BytesIO(bytes(alone)), len(alone)) == 0xFFFF


def test_zip_fz_output_is_read(tmp_path: Path) -> None:
    """`zip -fz` writes zip64 records and keeps the count in the classic record too."""
    import shutil
    import subprocess

    require(shutil.which("zip") is not None, "zip is not installed")
    (tmp_path / "module.json").write_text("{}")
    (tmp_path / "m.so").write_bytes(b"\x7fELF")
    subprocess.run(["zip", "-q", "-fz", "b.zip", "module.json", "m.so"], cwd=tmp_path, check=True)
    data = (tmp_path / "b.zip").read_bytes()
    assert b"PK\x06\x06" in data
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == 2
    layout, found = layout_findings(data)
    assert layout is not None and found == []


@pytest.mark.parametrize(("entries", "refused"), [(MAX_ENTRIES, False), (MAX_ENTRIES + 1, True)])
def test_the_entry_limit_on_real_archives(entries: int, refused: bool) -> None:
    data = zip_bytes(*MODULE, *((f"deps/{n}.tgz", b"") for n in range(entries - 2)))
    layout, found = layout_findings(data)
    limit = ("ZIP018", f"the archive declares {entries} entries (the limit is 1000)", "")
    assert found == ([limit] if refused else [])
    assert (layout is None) == refused


def test_the_longest_comment_a_zip_may_carry_is_read_past() -> None:
    data = zip_bytes(*MODULE, comment=b"c" * 65535)
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == 2
    assert layout_findings(data)[1] == []


@pytest.mark.parametrize("cut", [1, 21])
def test_a_cut_end_record_is_not_a_zip(cut: int) -> None:
    data = zip_bytes(*MODULE)[:-cut]
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) is None
    assert layout_findings(data)[1] == [
        ("ZIP001", "not a zip archive (no end-of-central-directory record)", "")
    ]


def test_a_file_without_an_end_record_is_not_a_zip() -> None:
    data = b"this is not a zip archive\n" * 4
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) is None
    assert layout_findings(data) == (
        None,
        [("ZIP001", "not a zip archive (no end-of-central-directory record)", "")],
    )


def test_a_classic_count_of_0xffff_without_zip64_records_is_taken_as_is() -> None:
    data = bytearray(zip_bytes(*MODULE))
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, at + 8, 0xFFFF, 0xFFFF)
    assert bundle.declared_entry_count(io.BytesIO(bytes(data)), len(data)) == 0xFFFF
    assert ("ZIP018", "the archive declares 65535 entries (the limit is 1000)", "") in layout_findings(
        bytes(data)
    )[1]


def test_the_zip64_record_is_read_only_when_the_classic_count_says_so() -> None:
    """APPNOTE 4.4.1.4: a zip64 field counts only when the classic field holds 0xFFFF."""
    data = bytearray(with_zip64_end(zip_bytes(*MODULE), 5000))
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, at + 8, 2, 2)  # the classic record has the count after all
    assert bundle.declared_entry_count(io.BytesIO(bytes(data)), len(data)) == 2


def test_an_end_record_over_a_damaged_directory_is_an_unreadable_zip() -> None:
    data = zip_bytes(*MODULE).replace(b"PK\x01\x02", b"PK\x01\x09", 1)
    layout, found = layout_findings(data)
    assert layout is None
    assert found == [("ZIP001", "unreadable zip archive: Bad magic number for central directory", "")]


def test_an_empty_archive_is_read_as_zero_entries() -> None:
    data = zip_bytes()
    assert len(data) == 22
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == 0


# --- bundle.py: sizes and ratios ----------------------------------------------------------------


def declared_size(data: bytes, name: str, size: int) -> bytes:
    """The archive with `name`'s uncompressed size changed in its local and central headers."""
    out = bytearray(data)
    encoded = name.encode()
    local = out.find(b"PK\x03\x04" + b"\x14\x00")
    while local >= 0:
        name_len = struct.unpack_from("<H", out, local + 26)[0]
        if out[local + 30 : local + 30 + name_len] == encoded:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", out, central + 28)[0]
        if out[central + 46 : central + 46 + name_len] == encoded:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def compressed_size(data: bytes, name: str) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.getinfo(name).compress_size


def incompressible(size: int) -> bytes:
    import random

    return random.Random(size).randbytes(size)


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)])
def test_the_total_size_limit_is_inclusive(extra: int, refused: bool) -> None:
    # The entries' sizes as the directory declares them: nothing is decompressed to decide.
    payload = incompressible(3 * 1024 * 1024)  # a ratio far below 200:1 even at 500 MiB
    data = zip_bytes(("module.json", b"{}"), ("m.so", payload))
    data = declared_size(data, "m.so", MAX_TOTAL_SIZE - 2 + extra)
    layout, found = layout_findings(data)
    total = MAX_TOTAL_SIZE + extra
    limit = ("ZIP012", f"the entries add up to {total} bytes (the limit is {MAX_TOTAL_SIZE})", "")
    assert (limit in found) == refused
    assert (layout is None) == refused


@pytest.mark.parametrize(("declared", "refused"), [(RATIO_FLOOR, False), (RATIO_FLOOR + 1, True)])
def test_entries_up_to_the_ratio_floor_may_compress_any_amount(declared: int, refused: bool) -> None:
    data = zip_bytes(("module.json", b"{}"), ("m.so", b"\0" * 4096))
    data = declared_size(data, "m.so", declared)
    ratio = declared // compressed_size(data, "m.so")
    _layout, found = layout_findings(data)
    bomb = ("ZIP013", f"entry 'm.so' expands {ratio}:1 to {declared} bytes", "")
    assert (bomb in found) == refused


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)])
def test_the_ratio_limit_is_inclusive(extra: int, refused: bool) -> None:
    payload = incompressible(RATIO_FLOOR // MAX_RATIO + 4096)
    data = zip_bytes(("module.json", b"{}"), ("m.so", payload))
    packed = compressed_size(data, "m.so")
    declared = MAX_RATIO * packed + extra
    assert declared > RATIO_FLOOR
    layout, found = layout_findings(declared_size(data, "m.so", declared))
    assert found == (
        [("ZIP013", f"entry 'm.so' expands {MAX_RATIO}:1 to {declared} bytes", "")] if refused else []
    )
    assert (layout is None) == refused


def test_an_entry_that_claims_to_expand_from_nothing_is_a_bomb() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("module.json", "{}")
        archive.writestr("m.so", b"")
    declared = 40 * MIB
    assert layout_findings(declared_size(out.getvalue(), "m.so", declared)) == (
        None,
        [("ZIP013", f"entry 'm.so' expands {declared}:1 to {declared} bytes", "")],
    )


# --- bundle.py: entries -------------------------------------------------------------------------


def test_flags_methods_and_modes_each_name_the_entry() -> None:
    def patched(flag: int = 0, method: int | None = None) -> bytes:
        data = bytearray(zip_bytes(*MODULE))
        for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
            at = data.find(signature)
            at = data.find(signature, at + 4)  # the second entry: m.so
            struct.pack_into("<H", data, at + flag_at, flag)
            if method is not None:
                struct.pack_into("<H", data, at + method_at, method)
        return bytes(data)

    # Each refusal is the only finding, and the archive is not trusted (no layout) after it.
    encrypted = ("ZIP011", "entry 'm.so' is encrypted", "")
    assert layout_findings(patched(0x01)) == (None, [encrypted])
    assert layout_findings(patched(0x40)) == (None, [encrypted])
    patched_data = ("ZIP017", "entry 'm.so' holds patched data (general purpose flag bit 5)", "")
    assert layout_findings(patched(0x20)) == (None, [patched_data])
    # Flag bit 3 with no data descriptor after the data: Info-ZIP's unzip refuses it as overlapping
    # (exit 12). A real descriptor is fine (tests/fuzz/test_zipstruct.py).
    layout, found = layout_findings(patched(0x08))
    assert layout is None and [f[0] for f in found] == ["ZIP015"]
    # Deflate64 (7-Zip's -mm=Deflate64), which Python's zipfile, and so the unpacker, cannot read
    method = ("ZIP017", "entry 'm.so' uses compression method 9 (Deflate64)", "")
    assert layout_findings(patched(0, 9)) == (None, [method])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/m.so", "entry name '/m.so' leaves the bundle folder"),
        ("C:m.so", "entry name 'C:m.so' leaves the bundle folder"),
        ("C:", "entry name 'C:' leaves the bundle folder"),
        ("a/../m.so", "entry name 'a/../m.so' leaves the bundle folder"),
        ("a\\m.so", "entry name 'a\\\\m.so' contains a backslash or NUL"),
    ],
)
def test_unsafe_names_are_refused_with_the_name(name: str, message: str) -> None:
    data = zip_bytes(("module.json", b"{}"), (name, b"x"))
    assert layout_findings(data) == (None, [("ZIP008", message, "")])


def test_a_one_letter_name_and_a_dotted_name_are_safe() -> None:
    layout, found = layout_findings(zip_bytes(*MODULE, ("deps/a", b""), ("deps/..x.tgz", b"")))
    assert found == [] and layout is not None
    assert sorted(layout.deps) == ["deps/..x.tgz", "deps/a"]
    layout, found = layout_findings(zip_bytes(*MODULE, ("x", b"")))  # one character at the root
    assert found == [("ZIP005", "unexpected entry 'x'", "")] and layout is not None


def test_non_ascii_names_in_utf8_and_in_cp437_are_read_as_their_local_headers_say() -> None:
    layout, found = layout_findings(zip_bytes(*MODULE, ("deps/données.tgz", b"x")))
    assert found == [] and layout is not None and "deps/données.tgz" in layout.deps
    # An old writer: the name in code page 437 without the UTF-8 flag (0x82 is é there).
    legacy = zip_bytes(*MODULE, ("deps/dXnnees.tgz", b"x")).replace(
        b"deps/dXnnees.tgz", b"deps/d\x82nnees.tgz"
    )
    layout, found = layout_findings(legacy)
    assert found == [] and layout is not None and "deps/dénnees.tgz" in layout.deps


def test_the_local_extra_field_counts_towards_where_an_entry_ends() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo("module.json", date_time=(2020, 1, 1, 0, 0, 0))
        info.extra = struct.pack("<HH", 0x6666, 8) + bytes(8)  # an unknown 12-byte extra block
        archive.writestr(info, "{}")
        archive.writestr("m.so", b"x")
    data = bytearray(out.getvalue())
    assert layout_findings(bytes(data))[1] == []
    central = data.find(b"PK\x01\x02")  # module.json's directory entry: 4 bytes too long now
    struct.pack_into("<I", data, central + 20, 2 + 4)
    # ... and its local header agrees (else ZIP016 says that first): the overlap is the one defect
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 18, 2 + 4)
    assert layout_findings(bytes(data)) == (
        None,
        [("ZIP015", "entry 'module.json' overlaps the next entry or the directory", "")],
    )


def test_a_symbolic_link_is_refused() -> None:
    data = zip_bytes(*MODULE)
    link = zip_bytes(("module.json", b"{}"), ("m.so", b"/etc/passwd"), mode=0o120777)
    assert layout_findings(data)[1] == []
    assert layout_findings(link) == (
        None,
        [
            ("ZIP009", "entry 'module.json' is a symbolic link", ""),
            ("ZIP009", "entry 'm.so' is a symbolic link", ""),
        ],
    )


def test_layout_hints_say_where_module_json_must_go() -> None:
    _layout, found = layout_findings(zip_bytes(("pkg/module.json", b"{}"), ("m.so", b"x")))
    assert found == [
        ("ZIP005", "unexpected entry 'pkg/module.json'", "module.json must be at the root."),
        (
            "ZIP002",
            "the bundle has no module.json at its root",
            "It is at 'pkg/module.json'; move it to the root.",
        ),
    ]
    _layout, found = layout_findings(zip_bytes(("a.so", b"x"), ("b.so", b"y"), ("lib/c.so", b"z")))
    assert found == [
        ("ZIP005", "unexpected entry 'lib/c.so'", ""),
        ("ZIP002", "the bundle has no module.json at its root", ""),
        ("ZIP003", "the bundle holds 2 .so files at its root (a.so, b.so)", ""),
    ]
    _layout, found = layout_findings(zip_bytes(("module.json", b"{}")))
    assert found == [("ZIP003", "the bundle holds 0 .so files at its root (none)", "")]
    # Two misplaced copies: the hint names the first in the archive, as unzip would list it.
    _layout, found = layout_findings(
        zip_bytes(("a/module.json", b"{}"), ("b/module.json", b"{}"), ("m.so", b"x"))
    )
    assert (
        "ZIP002",
        "the bundle has no module.json at its root",
        "It is at 'a/module.json'; move it to the root.",
    ) in found


def test_folders_under_deps_are_not_dependencies() -> None:
    layout, found = layout_findings(zip_bytes(*MODULE, ("deps/", b""), ("deps/x.tgz", b"x")))
    assert found == [] and layout is not None
    assert list(layout.deps) == ["deps/x.tgz"]


def test_a_duplicate_entry_is_named() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("module.json", "{}")
        archive.writestr("m.so", "x")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("m.so", "y")
    layout, found = layout_findings(out.getvalue())
    assert layout is None
    assert ("ZIP010", "entry 'm.so' appears more than once", "") in found


def test_an_entry_whose_data_runs_into_the_next_is_refused() -> None:
    data = bytearray(zip_bytes(*MODULE))
    central = data.find(b"PK\x01\x02")  # module.json's directory entry
    packed = struct.unpack_from("<I", data, central + 20)[0]
    struct.pack_into("<I", data, central + 20, packed + 1)
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 18, packed + 1)  # both headers agree
    assert layout_findings(bytes(data)) == (
        None,
        [("ZIP015", "entry 'module.json' overlaps the next entry or the directory", "")],
    )


def test_an_entry_that_exactly_fills_its_slot_is_fine() -> None:
    layout, found = layout_findings(zip_bytes(*MODULE))
    assert layout is not None and found == []
    assert layout.module_json is not None and layout.module_json.filename == "module.json"


def test_a_local_header_with_another_name_is_refused() -> None:
    data = bytearray(zip_bytes(*MODULE))
    local = data.find(b"PK\x03\x04")
    data[local + 30 : local + 41] = b"modulX.json"
    assert layout_findings(bytes(data)) == (
        None,
        [("ZIP016", "entry 'module.json' is named b'modulX.json' in its local header", "")],
    )


def test_a_directory_offset_outside_the_archive_is_refused() -> None:
    data = bytearray(zip_bytes(*MODULE))
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)  # m.so's directory entry
    start_dir = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 42, start_dir)
    assert layout_findings(bytes(data)) == (None, [("ZIP016", "entry 'm.so' points outside the archive", "")])


def test_a_directory_offset_that_is_not_a_local_header_is_refused() -> None:
    data = bytearray(zip_bytes(*MODULE))
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)  # m.so's directory entry
    offset = struct.unpack_from("<I", data, central + 42)[0]
    struct.pack_into("<I", data, central + 42, offset + 1)  # one byte into m.so's local header
    assert layout_findings(bytes(data)) == (
        None,
        [("ZIP016", "entry 'm.so' has no local header where the directory says", "")],
    )


@pytest.mark.parametrize(("size", "refused"), [(MAX_MODULE_JSON, False), (MAX_MODULE_JSON + 1, True)])
def test_module_json_may_be_up_to_4_mib(tmp_path: Path, size: int, refused: bool) -> None:
    from modpack import validate

    text = b'{"module_name": "hello"}'
    text += b" " * (size - len(text))
    path = tmp_path / "b.zip"
    path.write_bytes(zip_bytes(("module.json", text), ("m.so", b"\x7fELF")))
    found = validate.validate_bundle(path).findings
    too_large = [f.message for f in found if f.code == "ZIP019"]
    assert too_large == (
        [f"module.json cannot be read: module.json is larger than {MAX_MODULE_JSON} bytes"] if refused else []
    )


def test_the_image_of_a_bundled_binary_is_a_raw_stream_buffered_readers_accept() -> None:
    payload = b"\x7fELF" + incompressible(3 * MIB)
    data = zip_bytes(("module.json", b"{}"), ("m.so", payload))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        streamed = bundle.stream_binary(archive, archive.getinfo("m.so"))
    assert streamed.size == len(payload)
    reader = io.BufferedReader(streamed.image)
    assert reader.seekable() and reader.readable()
    assert reader.read(8) == payload[:8]
    assert reader.seek(-4, io.SEEK_END) == len(payload) - 4
    assert reader.read() == payload[-4:]
    assert streamed.image.seek(10) == 10 and streamed.image.seek(5, io.SEEK_CUR) == 15
    assert streamed.image.tell() == 15
    with pytest.raises(OSError, match="negative seek position") as refused:
        streamed.image.seek(-1)
    assert refused.value.errno == errno.EINVAL
    assert streamed.image.seek(len(payload) + 50) == len(payload) + 50  # past the end: EOF
    assert streamed.image.read(10) == b""


def test_read_small_takes_exactly_the_limit() -> None:
    data = zip_bytes(("module.json", b"x" * 100), ("m.so", b""))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("module.json")
        assert bundle.read_small(archive, info, 100) == b"x" * 100
        with pytest.raises(ValueError, match=r"module\.json is larger than 99 bytes"):
            bundle.read_small(archive, info, 99)


@pytest.mark.parametrize(
    ("mode", "executable"), [(0o644, False), (0o744, True), (0o654, True), (0o645, True)]
)
def test_any_execute_bit_makes_the_module_executable(mode: int, executable: bool) -> None:
    info = zipfile.ZipInfo("m.so")
    info.external_attr = (0o100000 | mode) << 16
    assert bundle.is_executable(info) == executable


def test_hash_member_hashes_what_the_member_holds() -> None:
    import hashlib

    payload = incompressible(bundle.CHUNK + 17)
    data = zip_bytes(("module.json", b"{}"), ("m.so", payload))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert bundle.hash_member(archive, archive.getinfo("m.so")) == hashlib.sha256(payload).hexdigest()
        assert b"".join(bundle.member_chunks(archive, archive.getinfo("m.so"))) == payload


def test_a_damaged_member_fails_its_crc() -> None:
    data = bytearray(zip_bytes(("module.json", b"{}"), ("m.so", b"abc" * 1000)))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("m.so")
    struct.pack_into("<I", data, data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4) + 16, info.CRC ^ 1)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive, pytest.raises(zipfile.BadZipFile):
        bundle.hash_member(archive, archive.getinfo("m.so"))


# One reading of a number in an integer field, shared by the command checks (which take what it
# means) and the manifest readers (which keep what no check should take for a number as its text).
NUMBER_EDGES = [
    (3, 3, 3),
    (-1, -1, -1),
    (3.0, 3, 3),
    (-0.0, 0, 0),
    (2.5, None, "2.5"),
    (float("inf"), None, "inf"),
    (float("nan"), None, "nan"),
    (1e308, int(1e308), "1e+308"),
    (True, None, True),
    (False, None, False),
    (2**31 - 1, 2**31 - 1, 2**31 - 1),
    (2**31, 2**31, repr(2**31)),
    (-(2**31), -(2**31), -(2**31)),
    (-(2**31) - 1, -(2**31) - 1, repr(-(2**31) - 1)),
    (10**400, 10**400, repr(10**400)),
    (2147483647.0, 2**31 - 1, 2**31 - 1),
    (2147483648.0, 2**31, "2147483648.0"),
    ("3", None, "3"),
    ("", None, ""),
    (None, None, None),
    ([1], None, [1]),
]


@pytest.mark.parametrize(("value", "number", "kept"), NUMBER_EDGES)
def test_an_integer_field_is_read_one_way_by_the_checks_and_the_readers(
    value: object, number: int | None, kept: object
) -> None:
    from modpack.checks.commands import parse_commands
    from modpack.checks.numbers import as_integer, integer_value

    assert integer_value(value) == number and type(integer_value(value)) is type(number)
    assert as_integer(value) == kept and type(as_integer(value)) is type(kept)
    (command,) = parse_commands([{"command_name": "x", "command_arity": value, "first_key": value}])
    assert command.arity == number and command.first == number
