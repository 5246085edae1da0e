"""The fast paths of validating module.json say exactly what the full paths say.

`read_regular` sizes its reads by the file (a buffered read of the 4 MiB limit allocated that
much per file); `parse_json` parses with a shared decoder first and falls back to the full parse,
which names the defect, for anything that decoder refuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modpack.findings import Sink
from modpack.regular import read_regular
from modpack.sources import json_line_resolver, parse_json, parse_json_text
from tests.support.cli import modules_loaded
from tests.support.paths import CASES, HELLO


def test_read_regular_returns_the_whole_small_file(tmp_path: Path) -> None:
    path = tmp_path / "module.json"
    path.write_bytes(b'{"a": 1}\n')
    assert read_regular(path, 1024) == b'{"a": 1}\n'


def test_read_regular_returns_limit_plus_one_bytes_of_a_larger_file(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 5000)
    assert read_regular(path, 100) == b"x" * 101
    assert read_regular(path, 4999) == b"x" * 5000
    assert read_regular(path, 5000) == b"x" * 5000


def test_read_regular_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    assert read_regular(path, 100) == b""


def test_read_regular_reads_past_a_size_that_understates_the_content() -> None:
    # /proc files are regular files whose st_size is 0: the content must still be read whole.
    status = Path("/proc/self/status")
    assert status.stat().st_size == 0
    data = read_regular(status, 1 << 20)
    assert b"Name:" in data and data.endswith(b"\n")
    assert len(read_regular(status, 10)) == 11


def _parsed(text: str) -> tuple[object, list[tuple[str, str, str, int | None]]]:
    sink = Sink("m.json")
    document = parse_json(text, sink)
    return document, [(f.code, f.location.path, f.message, f.location.line) for f in sink.findings]


def test_parse_json_reports_each_duplicate_key_and_keeps_the_last_value() -> None:
    document, findings = _parsed('{"a": 1, "b": {"c": 1, "c": 2}, "a": 3}')
    assert document == {"a": 3, "b": {"c": 2}}
    assert [(code, path) for code, path, _, _ in findings] == [("IN006", "c"), ("IN006", "a")]


def _json_error(text: str) -> str:
    """What the standard parser says of `text`, as parse_json words it."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    raise AssertionError(f"{text!r} parses")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1,}', _json_error('{"a": 1,}')),
        ('\ufeff{"a": 1}', "invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) (line 1, column 1)"),
        ('{"a": 1} x', "invalid JSON: Extra data (line 1, column 10)"),
        (
            '{"version": ' + "9" * 4301 + "}",
            "invalid JSON: a number (key 'version') has more than 4300 digits",
        ),
    ],
)
def test_parse_json_names_what_the_fast_decoder_refuses(text: str, message: str) -> None:
    document, findings = _parsed(text)
    assert document is None
    assert [f[:1] + f[2:3] for f in findings] == [("IN002", message)]


def test_parse_json_takes_a_4300_digit_number() -> None:
    document, findings = _parsed('{"version": ' + "9" * 4300 + "}")
    assert findings == [] and isinstance(document, dict) and document["version"] == int("9" * 4300)


def test_parse_json_with_another_int_digit_limit_still_refuses_huge_numbers(tmp_path: Path) -> None:
    """Under PYTHONINTMAXSTRDIGITS=0 the C scanner reads any number: the full parse still refuses."""
    path = tmp_path / "module.json"
    path.write_text('{"version": ' + "9" * 5000 + "}")
    result = subprocess.run(
        [sys.executable, "-m", "modpack", "validate", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONINTMAXSTRDIGITS": "0"},
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "IN002 invalid JSON: a number (key 'version') has more than 4300 digits" in result.stdout


def test_unhashable_flags_are_looked_at_one_by_one(tmp_path: Path) -> None:
    """The vocabulary check first asks whether every flag is known at once; a list or an object
    among the flags cannot be asked that way, and the flag after it is still judged."""
    from modpack.checks.commands import check_commands

    sink = Sink("m.json")
    entry = {"command_name": "x.y", "command_arity": 2, "first_key": 1, "last_key": 1, "step": 1}
    check_commands({"commands": [{**entry, "flags": [["write"], {"a": 1}, "deny-oom", "readonly"]}]}, sink)
    found = [(f.code, f.location.path, f.message) for f in sink.findings if f.code.startswith("CMD00")]
    assert found == [
        ("CMD008", "commands[0].flags[2]", "flag 'deny-oom' is the RedisModule_CreateCommand spelling")
    ]
    assert [f.code for f in sink.findings if f.code == "CMD012"] == ["CMD012"]  # deny-oom read as denyoom


# --- the ELF reader names types and machines without pyelftools ---------------------------------


def test_the_reader_names_types_and_machines_as_pyelftools_does() -> None:
    from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

    from modpack.elf import _E_TYPES, _MACHINES

    for table, enum in ((_E_TYPES, ENUM_E_TYPE), (_MACHINES, ENUM_E_MACHINE)):
        for value, name in table.items():
            assert [k for k, v in enum.items() if v == value] == [name], value


def test_reading_a_module_imports_no_pyelftools() -> None:
    script = (
        "import sys\n"
        "from modpack.elf import read_elf\n"
        f"info = read_elf({str(HELLO)!r})\n"
        "print(info.e_type, info.machine, sorted(m for m in sys.modules if m.startswith('elftools')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["ET_DYN", "EM_X86_64", "[]"]


def test_a_machine_the_reader_does_not_know_is_named_by_pyelftools(tmp_path: Path) -> None:
    from modpack.elf import read_elf

    data = bytearray(HELLO.read_bytes())
    data[18:20] = (88).to_bytes(2, "little")  # e_machine: EM_M32R, in no table of modpack's
    path = tmp_path / "m32r.so"
    path.write_bytes(bytes(data))
    info = read_elf(path)
    assert (info.machine, info.e_type, info.architecture) == ("EM_M32R", "ET_DYN", None)


# --- the background hash: one thread, no concurrent.futures ---------------------------------------


def test_background_hash_equals_hashlib_over_many_chunks() -> None:
    import hashlib

    from modpack.hashing import BackgroundHash

    chunks = [bytes([i % 251]) * (1000 + i * 37) for i in range(300)]
    with BackgroundHash() as digest:
        for chunk in chunks:
            digest.feed(chunk)
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_background_hash_raises_the_workers_error_and_never_hangs() -> None:
    from modpack.hashing import BackgroundHash

    with pytest.raises(TypeError):
        with BackgroundHash() as digest:
            digest.feed(b"ok")
            digest.feed("not bytes")  # type: ignore[arg-type]
            for _ in range(3):
                digest.feed(b"more")  # the error surfaces here, or on exit
    with pytest.raises(TypeError):
        with BackgroundHash() as digest:
            digest.feed("not bytes")  # type: ignore[arg-type]


def test_the_bundle_path_imports_no_concurrent_futures_and_no_pyelftools(tmp_path: Path) -> None:
    """Reading a bundle needs neither: a thread hashes, and the ELF reader is modpack's own."""
    from tests.support.paths import ROOT

    out = tmp_path / "out"
    toml = ROOT / "fixtures" / "example" / "modpack.toml"
    subprocess.run(
        [sys.executable, "-m", "modpack", "build", str(toml), "--so", str(HELLO), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    bundle = next(out.glob("*.zip"))
    loaded = modules_loaded("validate", bundle)
    assert sorted(m for m in loaded if m.startswith(("elftools", "concurrent", "logging"))) == []


# --- lines of JSON paths, found by walking toward them ------------------------------------------

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from modpack.locate import MAX_DEPTH, json_lines, json_resolver, parent_path, resolver  # noqa: E402

_KEYS = st.sampled_from(["a", "b", "a.b", "b[0]", "", "é", 'q"uote', "x\\\\y", "[0]", "commands"])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.lists(st.tuples(_KEYS, children), max_size=4),
    max_leaves=40,
)


def _text(value: Any, indent: Any) -> str:
    """JSON text; a list of (key, value) pairs is an object, so keys may repeat."""
    pad = "\n" + " " * indent if indent is not None else ""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        items = [f"{pad}{json.dumps(k)}: {_text(v, indent)}" for k, v in value]
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(f"{pad}{_text(v, indent)}" for v in value) + "]"
    return json.dumps(value)


def _paths(text: str) -> set[str]:
    """Every mapped path, its parents, and paths near them that are not there."""
    paths = set()
    for mapped in json_lines(text):
        path = mapped
        while True:
            paths |= {path, path + ".zz", path + "[9]", path + "]"}
            if not path:
                break
            path = parent_path(path)
    return paths | {"nothere", "[3]", "a.", "a..b"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, st.sampled_from([None, 0, 2]))
def test_the_walking_resolver_answers_as_the_full_map(value: Any, indent: Any) -> None:
    text = _text(value, indent)
    full = resolver(json_lines(text))
    walking = json_resolver(text)
    for path in sorted(_paths(text)):
        assert walking(path) == full(path), (text, path)


def test_the_walking_resolver_answers_as_the_full_map_on_every_case_file(realworld_folder: Path) -> None:
    cases = sorted(Path(__file__).resolve().parent.glob("cases/**/*.json"))
    real = sorted(realworld_folder.glob("*.json"))
    assert len(cases) > 20 and len(real) > 0
    files = [file for file in cases + real if file.is_file()]  # a case may be a broken link on purpose
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        full, walking = resolver(json_lines(text)), json_resolver(text)
        for path in sorted(_paths(text)):
            assert walking(path) == full(path), (file, path)


def test_malformed_text_is_mapped_as_json_lines_maps_it() -> None:
    text = '{\n "a": 1,\n "b": [1,\n 2,,\n "c": 3}'
    full, walking = resolver(json_lines(text)), json_resolver(text)
    for path in ("", "a", "b", "b[1]", "b[2]", "c"):
        assert walking(path) == full(path), path


def _guided(text: str) -> Any:
    """The resolver as validate builds it: with what parse_json_text learnt of the text (None for
    text it refuses, Infinity say, which json_lines maps)."""
    return json_line_resolver(text, parse_json_text(text, Sink("m.json")))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, st.sampled_from([None, 0, 2]))
def test_the_resolver_guided_by_the_parsed_document_answers_as_the_full_map(value: Any, indent: Any) -> None:
    """With unique keys the document says which paths exist (no scan for a missing one) and the
    text is walked by member ordinals; with a repeated key the text walk of before is used."""
    text = _text(value, indent)
    full, guided = resolver(json_lines(text)), _guided(text)
    for path in sorted(_paths(text)):
        assert guided(path) == full(path), (text, path)


def test_the_guided_resolver_answers_as_the_full_map_on_every_case_file(realworld_folder: Path) -> None:
    cases = sorted(Path(__file__).resolve().parent.glob("cases/**/*.json"))
    files = [file for file in cases + sorted(realworld_folder.glob("*.json")) if file.is_file()]
    checked = 0
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        if parse_json_text(text, Sink("m.json")) is None:
            continue  # no JSON: mapped by json_lines itself
        checked += 1
        full, guided = resolver(json_lines(text)), _guided(text)
        for path in sorted(_paths(text)):
            assert guided(path) == full(path), (file, path)
    assert checked > 20


@pytest.mark.parametrize("make", [json_resolver, _guided], ids=["walking", "guided"])
def test_the_resolvers_stop_where_json_lines_stops_mapping(make: Callable[[str], Any]) -> None:
    deep = "[" * (MAX_DEPTH + 3) + "1" + "]" * (MAX_DEPTH + 3)
    full, fast = resolver(json_lines(deep)), make(deep)
    for depth in range(MAX_DEPTH - 1, MAX_DEPTH + 4):
        path = "[0]" * depth
        assert fast(path) == full(path), depth


def test_a_key_far_into_its_object_is_found_past_look_alikes() -> None:
    """A key well into an object is searched for (in text without a backslash): an occurrence
    inside a nested object or list, a string value spelling it, and brackets inside strings are
    passed over; the member itself is what json_lines places."""
    text = (
        '{\n"a": "]",\n"b": {"k": 0,\n "x": [1]},\n"c": ["k", {"k": 1}],\n"d": "k",\n'
        '"e": "]}",\n"k": {"k": 2},\n"z": 3\n}'
    )
    full, guided = resolver(json_lines(text)), _guided(text)
    assert guided("k") == full("k") == 8 and guided("k.k") == full("k.k") == 8
    for path in sorted(_paths(text)):
        assert guided(path) == full(path), path


def _findings_module(tmp_path: Path) -> Path:
    """A module.json with findings at a missing key, an unknown key, a nested flag and a list."""
    document = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    document["dispaly_name"] = document.pop("display_name")
    document["commands"][0]["flags"] = ["write", "deny-oom"]
    path = tmp_path / "module.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def test_a_module_json_with_findings_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line resolver takes what the parse learnt: placing every finding never parses the
    text again (it once called json.loads on it to learn whether the text was well-formed)."""
    from modpack.validate import validate_module_file

    path = _findings_module(tmp_path)
    decoded: list[str] = []
    decode = json.JSONDecoder.decode

    def counting(self: json.JSONDecoder, text: str, *args: Any) -> Any:
        decoded.append(text)
        return decode(self, text, *args)

    monkeypatch.setattr(json.JSONDecoder, "decode", counting)  # json.loads and the fast decoder
    findings = validate_module_file(path)
    placed = {(f.code, f.location.path): f.location.line for f in findings}
    lines = path.read_text().splitlines()
    assert '"deny-oom"' in lines[placed["CMD008", "commands[0].flags[1]"] - 1]
    assert '"dispaly_name"' in lines[placed["SCH003", "dispaly_name"] - 1]
    assert placed["SCH001", "display_name"] == 1  # missing: the document's own line
    assert decoded.count(path.read_text()) == 1  # (policy tables are read once per process too)


def test_a_missing_key_is_placed_without_scanning_the_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parsed document says `display_name` is not there: its finding goes to the line of the
    document without a value of the text being read."""
    from modpack import locate
    from modpack.validate import validate_module_file

    document = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    del document["display_name"]
    path = tmp_path / "module.json"
    path.write_text(json.dumps(document, indent=2))
    scanned: list[int] = []
    scan = locate._SCAN_ONCE

    def counting(text: str, index: int) -> Any:
        scanned.append(index)
        return scan(text, index)

    monkeypatch.setattr(locate, "_SCAN_ONCE", counting)
    findings = validate_module_file(path)
    assert [(f.code, f.location.path, f.location.line) for f in findings] == [("SCH001", "display_name", 1)]
    assert scanned == []


# --- the parallel deflate takes whole blocks without copying, and writes the same bytes ----------


def test_parallel_deflate_writes_the_same_bytes_however_the_input_is_cut() -> None:
    import random
    import zlib

    from modpack import codec

    rng = random.Random(16)
    words = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))) for _ in range(500)]
    data = b"".join(rng.choice(words) for _ in range(700_000))[: int(3.5 * codec.BLOCK)]
    expected = codec.deflate(data, workers=2)
    for size, kind in (
        (codec.BLOCK, bytes),
        (codec.BLOCK + 7, bytes),
        (codec.BLOCK, bytearray),
        (4096, bytes),
    ):
        compressor = codec.ParallelDeflate(workers=2)
        out = b"".join(compressor.compress(kind(data[i : i + size])) for i in range(0, len(data), size))
        assert out + compressor.flush() == expected, (size, kind)
    assert zlib.decompress(expected, -15) == data


def test_the_same_operating_systems_and_redis_versions_are_judged_once_per_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every file of a run lists the same few OSes and Redis versions: the second file's are not
    parsed or looked up again, and still get their findings (PLT002, PLT004, PLT007)."""
    from modpack import policy, versions
    from modpack.checks import metadata

    document = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    document["architecture"] = "aarch64"
    document["operating_systems"] = ["rhel9", "rhel7", "rhel9", "ubuntu20"]
    metadata.check_module(document, Sink("a.json"))
    calls: list[str] = []
    for module, name in ((policy, "canonical_os"), (versions, "parse_redis_version")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda text, o=original, n=name: calls.append(n) or o(text))
    sink = Sink("b.json")
    metadata.check_module(document, sink)
    assert calls == []
    found = [(f.code, f.location.path) for f in sink.findings if f.code.startswith("PLT")]
    assert found == [
        ("PLT002", "operating_systems[1]"),
        ("PLT007", "operating_systems[2]"),
        ("PLT004", "operating_systems[3]"),
    ]


def test_a_key_behind_many_look_alikes_is_placed_in_linear_time() -> None:
    """200,000 nested occurrences of a key before the member itself: each character is counted
    once (the first search recounted from the object's start for every occurrence, and a 3.8 MB
    module.json with a finding on that key took minutes). Bounded by CPU, 10x what it takes."""
    nested = ",".join(['{"capabilities":0}'] * 200_000)
    text = f'{{"a":1,"b":2,"c":3,"junk":[{nested}],\n"capabilities":"bad"}}'
    start = time.process_time()
    line = _guided(text)("capabilities")
    assert line == 2
    assert time.process_time() - start < 5.0


def test_skip_unrelated_reads_yaml_with_libyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--skip-unrelated read each ramp*.yml with PyYAML's pure-Python loader to see its top-level
    keys: on 400 real manifests that added 0.7 s of CPU to the 1.4 s validating them takes, half
    again the hook's run. It reads them with libyaml, and tells the same files apart."""
    import yaml

    from modpack.unrelated import unrelated

    assert yaml.__with_libyaml__, "PyYAML is built with libyaml wherever modpack's wheels are"
    workflow = tmp_path / "ramp-release.yml"
    workflow.write_text("name: release\non: [push]\njobs:\n  pack:\n    runs-on: ubuntu-latest\n")
    manifest = tmp_path / "ramp.yml"
    manifest.write_text((CASES / "good" / "ramp-yml" / "ramp.yml").read_text())

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pure-Python YAML loader was used")

    monkeypatch.setattr(yaml.SafeLoader, "__init__", refused)
    assert unrelated(workflow) == "YAML with none of the keys a RAMP manifest has: not a RAMP manifest"
    assert unrelated(manifest) is None
