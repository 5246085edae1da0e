"""Hostile input for the readers (issue 12, "Readers"): each test is one finding of the probe.

Archives are generated here, small enough to build in a fraction of a second, yet past every
limit they test; bounds are on memory (tracemalloc) and CPU time, never on wall-clock time.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from modpack import bundle
from modpack.regular import NOT_REGULAR_HINT
from modpack.validate import validate_bundle
from tests.fuzz.seeds import GOOD_BUNDLE
from tests.support.cli import run_modpack, run_python

ROOT = Path(__file__).resolve().parent.parent
HANG_GUARD = 60  # seconds: each command answers in about 1 s; only a hang gets near this


def modpack(*args: str | Path, timeout: float = HANG_GUARD) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "modpack", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def good_module() -> dict[str, object]:
    with zipfile.ZipFile(GOOD_BUNDLE) as archive:
        document: dict[str, object] = json.loads(archive.read("module.json"))
    return document


def rebundle(tmp_path: Path, module_json: str, name: str = "bundle.zip") -> Path:
    """The good bundle with its module.json replaced."""
    out = tmp_path / name
    with zipfile.ZipFile(GOOD_BUNDLE) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = module_json.encode() if info.filename == "module.json" else source.read(info)
            target.writestr(info, data)
    return out


# --- entry count: the central directory is counted, not the end record believed ---------------


def many_entries(count: int, declared: int) -> bytes:
    """A stored zip of `count` empty entries whose end record declares `declared` of them."""
    local = io.BytesIO()
    central = io.BytesIO()
    for index in range(count):
        name = f"e{index}".encode()
        offset = local.tell()
        local.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name)
        central.write(
            struct.pack(
                "<4s4B4HL2L5H2L",
                b"PK\x01\x02",
                20,
                3,
                20,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                len(name),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + name
        )
    directory = central.getvalue()
    start = local.tell()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, declared, declared, len(directory), start, 0)
    return local.getvalue() + directory + end


def test_the_generated_archive_is_a_real_zip() -> None:
    data = many_entries(3, 3)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["e0", "e1", "e2"]
        assert archive.testzip() is None


def test_an_end_record_that_understates_the_entries_is_zip018(tmp_path: Path) -> None:
    path = tmp_path / "lying.zip"
    path.write_bytes(many_entries(bundle.MAX_ENTRIES + 500, 2))
    result = modpack("validate", path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ZIP018" in result.stdout
    assert f"more than {bundle.MAX_ENTRIES} entries" in result.stdout
    assert "declares 2" in result.stdout
    assert "internal error" not in result.stderr


def test_counting_stops_at_the_limit_whatever_the_archive_holds(tmp_path: Path) -> None:
    """40 times the limit costs what the limit costs: the directory is never parsed whole."""
    path = tmp_path / "huge.zip"
    path.write_bytes(many_entries(40 * bundle.MAX_ENTRIES, 2))
    tracemalloc.start()
    cpu = time.process_time()
    try:
        findings = validate_bundle(path).findings
        cpu = time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [f.code for f in findings] == ["ZIP018"]
    # zipfile parsing all 40,000 records takes ~25 MB and ~0.5 s of CPU; counting 1001 takes ~0
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"
    assert cpu < 5, f"{cpu:.2f} s of CPU"


def test_an_archive_at_the_limit_is_not_zip018(tmp_path: Path) -> None:
    path = tmp_path / "limit.zip"
    path.write_bytes(many_entries(bundle.MAX_ENTRIES, bundle.MAX_ENTRIES))
    findings = validate_bundle(path).findings
    assert "ZIP018" not in {f.code for f in findings}


# --- numbers and strings past Python's limits -------------------------------------------------


def _with(key: str, raw: str) -> str:
    """The good module.json text with the first `key` set to `raw` (JSON text, unparsed)."""
    text = json.dumps(good_module(), indent=2)
    at = text.index(f'"{key}": ') + len(key) + 4
    end = min(text.index(",", at), text.index("\n", at))
    return text[:at] + raw + text[end:]


HUGE = [
    ("version", "9" * 4400, "IN002", "key 'version'"),
    ("step", "9" * 4400, "IN002", "key 'step'"),
    ("last_key", "9" * 4200, "KEY004", "last_key"),
    ("semantic_version", '"' + "1" * 5000 + '.0.0"', "VER001", "more than 18 digits"),
    ("min_redis_version", '"' + "7" * 5000 + '.0"', "VER005", "min_redis_version"),
]


@pytest.mark.parametrize(("key", "raw", "code", "text"), HUGE, ids=[h[0] for h in HUGE])
def test_huge_numbers_are_findings_in_module_json(
    tmp_path: Path, key: str, raw: str, code: str, text: str
) -> None:
    path = tmp_path / "module.json"
    path.write_text(_with(key, raw))
    result = modpack("validate", path)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    assert code in result.stdout and text in result.stdout


@pytest.mark.parametrize(("key", "raw", "code", "text"), HUGE, ids=[h[0] for h in HUGE])
def test_huge_numbers_are_findings_in_bundles(
    tmp_path: Path, key: str, raw: str, code: str, text: str
) -> None:
    path = rebundle(tmp_path, _with(key, raw))
    result = modpack("validate", path)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    assert code in result.stdout and text in result.stdout


def test_a_huge_step_within_pythons_limit_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "module.json"
    path.write_text(_with("step", "9" * 4200))
    result = modpack("validate", path)
    assert "internal error" not in result.stderr
    assert result.returncode in (0, 1)


# --- local header against central directory ---------------------------------------------------

_LOCAL_FIELDS = {
    "flags": (6, "<H"),
    "method": (8, "<H"),
    "crc": (14, "<L"),
    "compressed": (18, "<L"),
    "size": (22, "<L"),
}


def patched_local(tmp_path: Path, field: str, value: int) -> tuple[Path, str]:
    """The good bundle with one field of the .so's local header changed; returns it and the .so name."""
    data = bytearray(GOOD_BUNDLE.read_bytes())
    with zipfile.ZipFile(GOOD_BUNDLE) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(".so"))
    at, fmt = _LOCAL_FIELDS[field]
    struct.pack_into(fmt, data, info.header_offset + at, value)
    path = tmp_path / f"local-{field}.zip"
    path.write_bytes(bytes(data))
    return path, info.filename


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("size", 0, "uncompressed size 0"),
        ("compressed", 0, "compressed size 0"),
        ("crc", 0x12345678, "CRC-32 0x12345678"),
        ("method", 0, "compression method 0"),
        ("flags", 0x01, "flags 0x1"),
    ],
)
def test_a_local_header_that_disagrees_with_the_directory_is_zip016(
    tmp_path: Path, field: str, value: int, what: str
) -> None:
    path, name = patched_local(tmp_path, field, value)
    result = modpack("validate", path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ZIP016" in result.stdout
    assert f"entry {name!r}: the local header gives {what}" in result.stdout


def test_a_data_descriptor_bundle_is_not_zip016(tmp_path: Path) -> None:
    """Written to an unseekable stream, zipfile sets flag bit 3 and zeroes the local sizes: valid."""

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, chunk: object) -> int:
            view = memoryview(chunk)  # type: ignore[arg-type]
            self.data += view
            return len(view)

    sink = Unseekable()
    with zipfile.ZipFile(GOOD_BUNDLE) as source, zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
    path = tmp_path / "descriptor.zip"
    path.write_bytes(bytes(sink.data))
    with zipfile.ZipFile(path) as archive:
        assert all(i.flag_bits & 0x08 for i in archive.infolist())
    result = modpack("validate", path)
    assert "ZIP016" not in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


# --- inspect on a damaged bundle --------------------------------------------------------------


def damaged(tmp_path: Path, how: str) -> Path:
    """The good bundle with its .so's data damaged: a bad CRC or a broken deflate stream."""
    data = bytearray(GOOD_BUNDLE.read_bytes())
    with zipfile.ZipFile(GOOD_BUNDLE) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(".so"))
    assert info.compress_type == zipfile.ZIP_DEFLATED
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    if how == "crc":
        data[start + info.compress_size // 2] ^= 0xFF  # still inflates, to the wrong bytes
    else:
        data[start : start + 16] = b"\xff" * 16  # block type 3: zlib error -3
    path = tmp_path / f"{how}.zip"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["crc", "deflate"])
def test_inspect_on_a_damaged_bundle_gives_validates_finding(tmp_path: Path, how: str) -> None:
    path = damaged(tmp_path, how)
    result = modpack("inspect", path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "internal error" not in result.stderr
    assert "ZIP014" in result.stdout and "hello.so does not decompress" in result.stdout
    assert f"modpack: {path}: the .so in the bundle is damaged" in result.stderr
    validated = modpack("validate", path)
    assert validated.returncode == 1 and "ZIP014" in validated.stdout


# --- non-regular files: a FIFO never blocks a reader ------------------------------------------

FIFO_NAMES = ["module.json", "bundle.zip", "modpack.toml", "ramp.yml"]


@pytest.mark.parametrize("name", FIFO_NAMES)
def test_validate_refuses_a_fifo(tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    result = modpack("validate", fifo)  # the timeout is the hang guard: the old reader blocked forever
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"IN001 cannot read {fifo}: a named pipe (FIFO), not a regular file" in result.stdout
    # the fix said "Check the path and the file's permissions", which fixes nothing for a FIFO
    assert f"fix: {NOT_REGULAR_HINT}" in result.stdout


def test_validate_refuses_a_fifo_named_as_a_module_binary(tmp_path: Path) -> None:
    fifo = tmp_path / "module.so"
    os.mkfifo(fifo)
    result = modpack("validate", fifo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"IN001 cannot open {fifo}: a named pipe (FIFO), not a regular file" in result.stdout
    assert f"fix: {NOT_REGULAR_HINT}" in result.stdout


def test_validate_refuses_a_fifo_met_while_walking_a_folder(tmp_path: Path) -> None:
    (tmp_path / "module.json").write_text(json.dumps(good_module()))
    nested = tmp_path / "sub"
    nested.mkdir()
    os.mkfifo(nested / "module.json")
    result = modpack("validate", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot read {nested / 'module.json'}: a named pipe (FIFO)" in result.stdout


@pytest.mark.parametrize("name", ["module.json", "bundle.zip", "ramp.yml"])
def test_init_from_a_fifo_is_refused(tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "modpack", "init", "--from", str(fifo)],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a named pipe (FIFO), not a regular file" in result.stdout + result.stderr
    assert list(out.iterdir()) == []  # nothing written


def test_open_regular_refuses_a_fifo_swapped_in_after_a_check(tmp_path: Path) -> None:
    """The type is checked on the open descriptor: no window between a check and the open."""
    from modpack.regular import open_regular

    path = tmp_path / "module.json"
    path.write_text("{}")
    with open_regular(path) as stream:
        assert stream.read() == b"{}"
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(OSError, match="named pipe"):
        open_regular(path)


def test_a_huge_integer_in_the_settings_modpack_toml_is_a_message(tmp_path: Path) -> None:
    """validate reads [validate] from the modpack.toml nearest a file before it checks the file."""
    (tmp_path / "modpack.toml").write_text(f'[module]\nname = "hello"\nversion = {"9" * 4400}\n')
    (tmp_path / "module.json").write_text("{}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "modpack", "validate", "module.json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "internal error" not in result.stderr
    assert f"cannot read settings from {tmp_path / 'modpack.toml'}" in result.stderr
    own = run_modpack("validate", "modpack.toml", cwd=tmp_path)  # its own table: a finding of it
    assert own.returncode == 1 and "error IN003 TOML value cannot be read" in own.stdout, (
        own.stdout + own.stderr
    )
    assert "4300 digits" in result.stderr


def test_discover_refuses_to_merge_into_a_fifo_named_modpack_toml(tmp_path: Path) -> None:
    """init --discover merges into an existing modpack.toml: a FIFO there is refused, never read."""
    fifo = tmp_path / "modpack.toml"
    os.mkfifo(fifo)
    code = (
        "import sys; from pathlib import Path; from modpack.errors import ModpackError\n"
        "from modpack.redis import discover\n"
        "try: discover._read_existing(Path(sys.argv[1]))\n"
        "except ModpackError as exc: print(exc.message)\n"
    )
    result = run_python(code, fifo, timeout=HANG_GUARD)  # in a child: the old reader blocked forever
    assert f"cannot read {fifo}: a named pipe (FIFO), not a regular file" in result.stdout, result.stderr


def test_a_zip64_end_record_that_understates_the_entries_is_zip018(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is found through the zip64 end record as zipfile finds it, then counted."""
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # zipfile writes zip64 end records
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(bundle.MAX_ENTRIES + 100):
            archive.writestr(f"e{index}", b"")
    data = bytearray(out.getvalue())
    zip64 = data.rfind(b"PK\x06\x06")
    struct.pack_into("<QQ", data, zip64 + 24, 2, 2)  # the zip64 record's counts
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 0xFFFF, 0xFFFF)  # "see the zip64 record"
    path = tmp_path / "zip64.zip"
    path.write_bytes(bytes(data))
    findings = validate_bundle(path).findings
    assert [f.code for f in findings] == ["ZIP018"]
    assert "declares 2" in findings[0].message


@pytest.mark.parametrize("depth", [900, 950, 980, 990])
def test_a_deeply_nested_value_is_described_not_an_internal_error(tmp_path: Path, depth: int) -> None:
    """Near Python's recursion limit the message's preview of the value (json.dumps) recursed past it
    while the parser and the walker had not: 'internal error: RecursionError' at depth 980."""
    path = tmp_path / "module.json"
    path.write_text('{"module_name": ' + "[" * depth + "]" * depth + "}")
    result = run_modpack("validate", path)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stdout + result.stderr
    # a type finding at module_name, or past the parser's own depth limit an IN002 saying so
    assert "SCH002" in result.stdout or "IN002" in result.stdout, result.stdout


@pytest.mark.parametrize("text", [b"null", b"[]", b"7"])
def test_a_bundled_module_json_that_is_no_object_is_a_finding(tmp_path: Path, text: bytes) -> None:
    """A bare module.json of `null` got SCH002 while the same text in a bundle got nothing: the two
    readers had drifted apart (now one, checks.document.check_module_json_text)."""
    path = tmp_path / "null.zip"
    with zipfile.ZipFile(GOOD_BUNDLE) as good, zipfile.ZipFile(path, "w") as out:
        for info in good.infolist():
            out.writestr(info, text if info.filename == "module.json" else good.read(info))
    result = run_modpack("validate", path)
    assert result.returncode == 1, result.stdout
    assert "module.json:1: error SCH002" in result.stdout, result.stdout


@pytest.mark.rule("SCH001")
def test_a_bundle_whose_module_json_names_no_module_file_is_refused(tmp_path: Path) -> None:
    """Redis Enterprise's unpacker opens the .so by module.json's module_file before any check
    (zf.open(metadata["module_file"])): a bundle without it fails to upload, and validated clean
    (module_file "" was SCH004, null SCH002)."""
    path = tmp_path / "nameless.zip"
    with zipfile.ZipFile(GOOD_BUNDLE) as good, zipfile.ZipFile(path, "w") as out:
        for info in good.infolist():
            data = good.read(info)
            if info.filename == "module.json":
                module = json.loads(data)
                del module["module_file"]
                data = json.dumps(module).encode()
            out.writestr(info, data)
    result = run_modpack("validate", path)
    assert result.returncode == 1, result.stdout
    assert "module.json:1 [module_file]: error SCH001 `module_file` is missing" in result.stdout, (
        result.stdout
    )
    assert 'fix: Add "module_file": "hello.so".' in result.stdout


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_anywhere_in_module_json(tmp_path: Path, constant: str) -> None:
    """Python's json reads them; inside a dependency object, which the schema leaves open, one
    validated clean, and a bundle carrying it reached the server's store, which cannot write it."""
    document = json.loads((GOOD_BUNDLE.parent.parent / "module-json" / "module.json").read_text())
    text = json.dumps(document)[:-1] + f', "dependencies": {{"a": {{"weight": {constant}}}}}}}'
    path = tmp_path / "module.json"
    path.write_text(text)
    result = run_modpack("validate", path)
    assert result.returncode == 1, result.stdout
    assert f"IN002 invalid JSON: {constant} is not a JSON value" in result.stdout


@pytest.mark.parametrize(
    ("where", "said"),
    [("author", "`author` holds a lone surrogate (mod\\ud800pack)"), ("key", "a key holds a lone surrogate")],
)
def test_a_lone_surrogate_in_module_json_is_not_json_text(tmp_path: Path, where: str, said: str) -> None:
    """ "\\ud800" parses (Python's json reads it) but no UTF-8 text can hold it: validate passed such a
    bundle clean and publish ended in 'internal error: UnicodeEncodeError'. A pair is one character."""
    document = json.loads((GOOD_BUNDLE.parent.parent / "module-json" / "module.json").read_text())
    if where == "author":
        document["author"] = "mod\ud800pack"
    else:
        document["x\udc00"] = 1
    text = json.dumps(document)  # ensure_ascii: each surrogate as its \\u escape
    path = tmp_path / "module.json"
    path.write_text(text)
    result = run_modpack("validate", path)
    assert result.returncode == 1, result.stdout
    assert f"IN002 invalid JSON: {said}" in result.stdout, result.stdout
    paired = text.replace("\\ud800", "\\ud83d\\ude00").replace("\\udc00", "\\ud83d\\ude00")
    path.write_text(paired)
    assert "IN002" not in run_modpack("validate", path).stdout


# --- text that is not UTF-8: what it is, where, and how to save it ----------------------------

MODULE_JSON_TEXT = '{\n  "module_name": "hello"\n}\n'
ENCODINGS = {
    "utf-16": (
        MODULE_JSON_TEXT.encode("utf-16"),
        ":1: error IN001 {name} is UTF-16 (little-endian) text (it starts with the byte order mark FF FE), not UTF-8",
    ),
    "utf-32-be": (
        b"\x00\x00\xfe\xff" + MODULE_JSON_TEXT.encode("utf-32-be"),
        ":1: error IN001 {name} is UTF-32 (big-endian) text",
    ),
    "utf-8-bom": (
        MODULE_JSON_TEXT.encode("utf-8-sig"),
        ":1: error IN001 {name} starts with a UTF-8 byte order mark (EF BB BF)",
    ),
    "utf-16-no-bom": (
        MODULE_JSON_TEXT.encode("utf-16-le"),
        ":1: error IN001 {name} holds a NUL byte at line 1, column 2: it is not text",
    ),
    "latin-1": (
        b'{\n  "module_name": "caf\xe9"\n}\n',
        ":2: error IN001 {name} is not UTF-8 text: byte 0xe9 at line 2, column 22 (byte 23) is not valid UTF-8",
    ),
}


@pytest.mark.parametrize(
    ("kind", "encoding"),
    [
        (kind, encoding)
        for kind in ("module.json", "modpack.toml")
        for encoding in ENCODINGS
        # read as Redis Enterprise reads it: test_a_module_json_byte_order_mark_is_read_as_...
        if (kind, encoding) != ("module.json", "utf-8-bom")
    ],
)
def test_text_that_is_not_utf8_is_named_and_located(tmp_path: Path, kind: str, encoding: str) -> None:
    """It was IN001 with Python's codec message ("'utf-8' codec can't decode byte 0xff in position
    0"), no line, and the hint to check the file's permissions; a UTF-8 byte order mark was a
    syntax error at line 1, column 1 ("Invalid statement" in TOML)."""
    raw, expected = ENCODINGS[encoding]
    path = tmp_path / kind
    path.write_bytes(raw)
    result = modpack("validate", path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}{expected.format(name=path)}" in result.stdout
    assert "codec can't decode" not in result.stdout
    assert "permissions" not in result.stdout
    assert "fix: Save the file as UTF-8" in result.stdout or "fix: Pass the text file itself" in result.stdout


def test_a_byte_order_mark_in_ramp_yml_is_read_as_ramp_reads_it(tmp_path: Path) -> None:
    """YAML allows a UTF-8 byte order mark and RAMP's PyYAML skips it: no finding for it."""
    path = tmp_path / "ramp.yml"
    path.write_bytes("\ufeffmodule_name: hello\ncapabilities: [types]\n".encode())
    result = modpack("validate", path)
    assert "IN001" not in result.stdout and "IN004" not in result.stdout, result.stdout


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_ramp_yml_is_read_as_ramp_reads_it(tmp_path: Path, encoding: str) -> None:
    """`ramp pack -m` opens the manifest in binary and PyYAML reads UTF-16 by its byte order mark
    (Windows PowerShell 5's `>` writes it): validate refused the file RAMP packs (IN001), and said
    nothing of what is in it."""
    import yaml

    text = "display_name: X\ncapabilities: [types]\nmin_redis_version: '7.4'\nbad: 1\n"
    raw = text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    assert yaml.load(raw, Loader=yaml.FullLoader)["bad"] == 1  # RAMP's reading of it
    path = tmp_path / "ramp.yml"
    path.write_bytes(raw)
    result = modpack("validate", path)
    assert "IN001" not in result.stdout, result.stdout
    assert f"{path}:4 [bad]: warning DECL006 RAMP does not know the key 'bad'" in result.stdout, result.stdout


def test_a_byte_order_mark_on_a_bundles_module_json_is_read_as_redis_enterprise_reads_it(
    tmp_path: Path,
) -> None:
    """Redis Enterprise's unpacker (RAMP's mirrors it) reads the member with json.load, whose bytes
    may start with a UTF-8 byte order mark; the bundle was IN002 "which JSON readers refuse"."""
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(GOOD_BUNDLE) as good, zipfile.ZipFile(path, "w") as archive:
        for item in good.infolist():
            data = good.read(item)
            archive.writestr(item, b"\xef\xbb\xbf" + data if item.filename == "module.json" else data)
    with zipfile.ZipFile(path) as archive:
        assert json.load(archive.open("module.json"))  # as the unpacker reads it
    result = modpack("validate", path)
    assert result.returncode == 0 and "IN002" not in result.stdout, result.stdout


def test_a_utf16_module_json_in_a_bundle_is_named(tmp_path: Path) -> None:
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("module.json", MODULE_JSON_TEXT.encode("utf-16"))
    result = modpack("validate", path)
    assert result.returncode == 1
    assert "b.zip!module.json:1: error IN002 module.json is UTF-16 (little-endian) text" in result.stdout


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-bom", "latin-1"])
def test_settings_and_init_sources_that_are_not_utf8_are_named(tmp_path: Path, encoding: str) -> None:
    """--config and init --from gave Python's codec message (or "Invalid statement" for a BOM)."""
    raw, expected = ENCODINGS[encoding]
    config = tmp_path / "settings.toml"
    config.write_bytes(raw)
    module_json = tmp_path / "module.json"
    module_json.write_bytes(raw)
    settings = modpack("validate", module_json, "--config", config)
    assert settings.returncode == 2, settings.stdout + settings.stderr
    what = expected.split(" {name} ")[1]
    assert f"modpack: cannot read settings: {config} {what}" in settings.stderr
    assert "  hint: Save the file as UTF-8" in settings.stderr
    if encoding == "utf-8-bom":
        return  # init --from reads module.json as Redis Enterprise does (the test below)
    init = modpack("init", "--from", module_json, tmp_path / "out.toml")
    assert init.returncode == 1, init.stdout + init.stderr
    assert f"modpack: {module_json} {what}" in init.stderr
    assert not (tmp_path / "out.toml").exists()


def test_a_module_json_byte_order_mark_is_read_as_redis_enterprise_reads_it(tmp_path: Path) -> None:
    """A module.json starting with a UTF-8 byte order mark was IN001 "which TOML and JSON readers
    refuse", and init --from refused it, where the same bytes in a bundle pass: Redis Enterprise's
    json.load of bytes skips it (RFC 8259 §8.1 lets a parser ignore one)."""
    path = tmp_path / "module.json"
    path.write_bytes(json.dumps(good_module(), indent=2).encode("utf-8-sig"))
    assert json.loads(path.read_bytes())  # as json.load of the bundle's member reads it
    result = modpack("validate", path)
    assert result.returncode == 0 and "IN001" not in result.stdout, result.stdout
    broken = path.read_text("utf-8-sig").replace('"semantic_version"', '"semantic_version" 1')
    path.write_bytes(broken.encode("utf-8-sig"))
    located = modpack("validate", path)  # lines are counted from the text after the mark
    assert f"{path}:5: error IN002" in located.stdout, located.stdout
    path.write_bytes(json.dumps(good_module(), indent=2).encode("utf-8-sig"))
    init = modpack("init", "--from", path, tmp_path / "out.toml")
    assert init.returncode == 0, init.stdout + init.stderr
    assert (tmp_path / "out.toml").is_file()


def test_a_fifo_as_config_is_named_not_called_missing(tmp_path: Path) -> None:
    """It was "--config FIFO does not exist" (is_file() is False for a FIFO)."""
    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    (tmp_path / "module.json").write_text(json.dumps(good_module()))
    result = modpack("validate", tmp_path / "module.json", "--config", fifo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"modpack: cannot read settings from {fifo}: a named pipe (FIFO), not a regular file" in result.stderr
    )
    assert f"  hint: {NOT_REGULAR_HINT}" in result.stderr  # was "Fix the file or pass --config."


def _rest_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MODPACK_USER": "ann", "MODPACK_PASSWORD": "x"}


def test_publish_refuses_a_fifo_bundle(tmp_path: Path) -> None:
    """publish read each bundle's module.json with zipfile before validating: it blocked for ever."""
    fifo = tmp_path / "bundle.zip"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "modpack", "publish", str(fifo), "--cluster", "https://127.0.0.1:1"]
    result = subprocess.run(
        command, capture_output=True, text=True, env=_rest_env(), timeout=HANG_GUARD, check=False
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"IN001 cannot read {fifo}: a named pipe (FIFO), not a regular file" in result.stdout
    assert f"modpack: {fifo} does not validate; nothing was published" in result.stderr


def test_a_fifo_or_a_file_of_no_certificate_as_ca_cert_is_named(tmp_path: Path) -> None:
    """OpenSSL opened a FIFO and blocked for ever; a file without a certificate got OpenSSL's
    "[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:4154)"."""
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    for ca, message in [
        (fifo, f"cannot use --ca-cert {fifo}: a named pipe (FIFO), not a regular file"),
        (text, f"cannot use --ca-cert {text}: it holds no PEM certificate (no -----BEGIN CERTIFICATE-----"),
    ]:
        command = [sys.executable, "-m", "modpack", "modules", "list", "--cluster", "https://127.0.0.1:1"]
        result = subprocess.run(
            [*command, "--ca-cert", str(ca)],
            capture_output=True,
            text=True,
            env=_rest_env(),
            timeout=HANG_GUARD,
            check=False,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"modpack: {message}" in result.stderr
        assert (f"  hint: {NOT_REGULAR_HINT}" in result.stderr) is (ca == fifo)


def test_serve_refuses_a_fifo_as_certificate(tmp_path: Path) -> None:
    fifo = tmp_path / "cert.pem"
    os.mkfifo(fifo)
    result = modpack(
        "serve",
        "--data",
        tmp_path / "d",
        "--port",
        "0",
        "--admin-password",
        "pw",
        "--cert",
        fifo,
        "--key",
        fifo,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"modpack: cannot use the certificate {fifo}: a named pipe (FIFO), not a regular file"
        in result.stderr
    )
    assert f"  hint: {NOT_REGULAR_HINT}" in result.stderr


def test_what_stands_where_a_file_was_expected_is_named(tmp_path: Path) -> None:
    """validate, inspect, build and discover said "does not exist" (or "does not exist or is not
    a file") of a symbolic link loop, a device, a FIFO, a dangling link and a path through a file."""
    loop = tmp_path / "loop.so"
    loop.symlink_to(loop)
    dangling = tmp_path / "gone.so"
    dangling.symlink_to(tmp_path / "nowhere.so")
    fifo = tmp_path / "pipe.so"
    os.mkfifo(fifo)
    (tmp_path / "file").write_text("x")
    project = tmp_path / "project"
    project.mkdir()
    example = (ROOT / "fixtures" / "example" / "modpack.toml").read_text("utf-8")
    (project / "modpack.toml").write_text(example.replace("../so/x86_64/hello.so", "hello.so"), "utf-8")
    cases = {
        loop: "is a loop of symbolic links",
        Path("/dev/zero"): "is a character device, not a regular file",
        fifo: "is a named pipe (FIFO), not a regular file",
        dangling: f"is a symbolic link to '{tmp_path / 'nowhere.so'}', which does not exist",
        tmp_path / "file" / "x.so": "does not exist (a part of the path before it is a file, not a folder)",
    }
    for path, what in cases.items():
        for command in (["inspect", path], ["discover", path], ["build", project, "--so", path]):
            result = modpack(*command)
            assert result.returncode in (1, 2), result.stdout + result.stderr
            assert f"modpack: {path} {what}" in result.stderr, (command, result.stderr)
    for path in (loop, dangling):
        result = modpack("validate", path)
        assert f"IN001 {path} {cases[path]}" in result.stdout, result.stdout


def test_deep_nesting_in_settings_users_and_a_published_bundle_is_a_message(tmp_path: Path) -> None:
    """tomllib and json recurse per level: --config, serve --users and publish's first look at a
    bundle's module.json were internal errors (RecursionError) for a deeply nested value."""
    settings = tmp_path / "settings.toml"
    settings.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "module.json").write_text(json.dumps(good_module()))
    result = modpack("validate", tmp_path / "module.json", "--config", settings)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"modpack: cannot read settings from {settings}: a value is nested too deeply" in result.stderr

    users = tmp_path / "users.json"
    users.write_text('{"users": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = modpack("serve", "--data", tmp_path / "d", "--port", "0", "--users", users)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"modpack: the users file {users} is not valid JSON: a value is nested too deeply" in result.stderr

    bundle = tmp_path / "deep.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("module.json", "[" * 100_000 + "]" * 100_000)
    command = [sys.executable, "-m", "modpack", "publish", str(bundle), "--cluster", "https://127.0.0.1:1"]
    done = subprocess.run(
        command, capture_output=True, text=True, env=_rest_env(), timeout=HANG_GUARD, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "IN002 invalid JSON: nested too deeply" in done.stdout
    assert f"modpack: {bundle} does not validate; nothing was published" in done.stderr


def _damaged_module_json(bundle: Path, damage: str) -> None:
    """A bundle whose module.json (its first entry) is damaged as `damage` says."""
    import struct

    text = "null" if damage == "null" else json.dumps(good_module())
    method = zipfile.ZIP_LZMA if damage == "lzma" else zipfile.ZIP_STORED
    with zipfile.ZipFile(bundle, "w", method) as archive:
        archive.writestr("module.json", text)
    data = bytearray(bundle.read_bytes())
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.find(signature)
        if damage == "encrypted":
            struct.pack_into("<H", data, at + flag_at, 0x01)
        elif damage == "method 99":
            struct.pack_into("<H", data, at + method_at, 99)
    if damage == "lzma":
        start = 30 + len("module.json") + 4  # past the local header and LZMA's own properties header
        data[start : start + 16] = b"\xff" * 16
    bundle.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["encrypted", "method 99", "null", "lzma"])
def test_publish_of_a_bundle_whose_module_json_cannot_be_read_says_why(tmp_path: Path, damage: str) -> None:
    """publish read each bundle's module.json before validating it, and an encrypted entry, an
    unknown method, bad LZMA data or a module.json that is no object ended in 'internal error'
    (RuntimeError, NotImplementedError, LZMAError, AttributeError); validate said what is wrong."""
    bundle = tmp_path / "damaged.zip"
    _damaged_module_json(bundle, damage)
    assert modpack("validate", bundle).returncode == 1
    command = [sys.executable, "-m", "modpack", "publish", str(bundle), "--cluster", "https://127.0.0.1:1"]
    done = subprocess.run(
        command, capture_output=True, text=True, env=_rest_env(), timeout=HANG_GUARD, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert f"modpack: {bundle} does not validate; nothing was published" in done.stderr, done.stderr


def test_a_dash_is_not_taken_for_standard_input_in_silence(tmp_path: Path) -> None:
    """'-' read as a file named '-' that 'does not exist': say that no standard input is read."""
    for command in (["validate", "-"], ["inspect", "-"], ["build", "-"]):
        result = subprocess.run(
            [sys.executable, "-m", "modpack", *command],
            capture_output=True,
            text=True,
            input="{}",
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=HANG_GUARD,
            check=False,
        )
        assert result.returncode in (1, 2), result.stdout + result.stderr
        assert "- does not exist (modpack reads no standard input: pass the file's path)" in (
            result.stdout + result.stderr
        )


def test_a_settings_file_that_cannot_be_read_gets_the_fix_for_where_it_came_from(tmp_path: Path) -> None:
    """'Fix the file or pass --config.' was the fix for a --config file, too."""
    (tmp_path / "module.json").write_text(json.dumps(good_module()))
    given = tmp_path / "settings.toml"
    given.write_text("[validate\nselect = ")
    named = modpack("validate", tmp_path / "module.json", "--config", given)
    assert named.returncode == 2, named.stdout + named.stderr
    assert named.stderr.splitlines()[-1] == "  hint: Fix the file given to --config."
    found = tmp_path / "project"
    found.mkdir()
    (found / "modpack.toml").write_text("[module\n")
    (found / "module.json").write_text(json.dumps(good_module()))
    nearest = run_modpack("validate", "module.json", cwd=found)
    assert nearest.returncode == 2, nearest.stdout + nearest.stderr
    assert f"cannot read settings from {found / 'modpack.toml'}" in nearest.stderr
    assert nearest.stderr.splitlines()[-1] == (
        "  hint: Fix the file, or give --config another modpack.toml to take the [validate] settings from."
    )


def test_a_surrogate_pair_does_not_send_the_parse_to_walk_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any \\uD8xx escape, a pair too (json.dump writes an emoji so), made the lone-surrogate check
    walk every string of the document in Python: a 4.7 MB module.json took 194 ms, not 20 ms.
    Only an escape that may be a lone half leads to the walk now."""
    from modpack import sources
    from modpack.findings import Sink

    def walked(*args: object) -> None:
        raise AssertionError("the document was walked for a surrogate pair")

    monkeypatch.setattr(sources, "_surrogate_at", walked)
    text = json.dumps({"author": "emoji \U0001f600", "x": "\\u"})
    assert "\\ud83d\\ude00" in text
    sink = Sink("module.json")
    assert sources.parse_json_text(text, sink) is not None and sink.findings == []
    with pytest.raises(AssertionError, match="walked"):
        sources.parse_json_text(text.replace("\\ude00", ""), Sink("module.json"))


@pytest.mark.parametrize(
    ("text", "lone"),
    [
        (r'{"a": "\\uD800\uDC00"}', True),  # a literal \uD800, then a lone low half
        (r'{"a": "\\\\\uDBFF\uDFFF"}', False),  # two escaped backslashes, then a pair
        (r'{"a": "\\\\\\uDBFF\uDFFF"}', True),  # three: a literal \uDBFF, then a lone low half
        (r'{"a": "x\ud83d\ude00\udc00"}', True),  # a low half right after a pair
        (r'{"a": "\\uD800"}', False),  # the text \uD800, no surrogate at all
    ],
)
def test_the_lone_surrogate_check_reads_escaped_backslashes_as_json_does(text: str, lone: bool) -> None:
    """A `\\u` after an escaped backslash is the letter u: taken for a high half, it made the
    check pass over the lone low half after it, which then ended `init --from` in 'not UTF-8'."""
    from modpack import sources
    from modpack.findings import Sink

    decoded = json.loads(text)["a"]
    assert any("\ud800" <= c <= "\udfff" for c in decoded) is lone  # what JSON itself reads
    sink = Sink("module.json")
    sources.parse_json_text(text, sink)
    assert [f.code for f in sink.findings] == (["IN002"] if lone else [])


def test_build_and_ramp_pack_of_a_file_under_a_broken_modpack_toml_name_no_config_option(
    tmp_path: Path,
) -> None:
    """A modpack.toml above the files that cannot be read stops build and ramp-pack too, and their
    fix said "Fix the file, or give --config another modpack.toml to take the [validate] settings
    from": neither has --config (No such option: --config, exit 2). Their fix says only to fix the
    file; validate and publish, which have --config, say it as before, and done so it runs."""
    import shutil

    from tests.support.paths import HELLO

    module = tmp_path / "mod"
    module.mkdir()
    shutil.copy2(HELLO, module / "hello.so")
    (module / "ramp.yml").write_text(
        "display_name: Hello\nauthor: me\nemail: a@b.c\ndescription: d\nhomepage: https://x\n"
        'license: MIT\ncommand_line_args: ""\ncompatible_redis_version: "7.4"\nmin_redis_version: "7.0"\n'
        "module_name: hello\nsemantic_version: 1.2.3\ncommands: []\ncapabilities:\n  - types\n"
    )
    (tmp_path / "modpack.toml").write_text("[validate\n")
    fix = "  hint: Fix the file: its [validate] settings apply to the files in its folder and below."
    for command in (
        ("build", "mod/ramp.yml", "--so", "mod/hello.so"),
        ("ramp-pack", "-m", "mod/ramp.yml", "mod/hello.so"),
    ):
        done = run_modpack(*command, cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"cannot read settings from {tmp_path / 'modpack.toml'}" in done.stderr
        assert done.stderr.splitlines()[-1] == fix, done.stderr
        assert run_modpack(*command, "--config", "x.toml", cwd=tmp_path).returncode == 2  # no such option
    validated = run_modpack("validate", "mod/ramp.yml", cwd=tmp_path)
    assert validated.stderr.splitlines()[-1] == (
        "  hint: Fix the file, or give --config another modpack.toml to take the [validate] settings from."
    )
    (tmp_path / "other.toml").write_text("[validate]\nselect = []\n")
    assert run_modpack("validate", "mod/ramp.yml", "--config", "other.toml", cwd=tmp_path).returncode == 0
