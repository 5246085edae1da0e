"""Writes tests/cases/: one good case per input kind and one bad case per rule.

Each bad case is the good module with one defect, in a folder named after the rule it must
trigger (and only that rule). Run `python tests/cases/make_cases.py` after changing a case; the
output is committed so that a reviewer reads the inputs, not this script.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent.parent / "fixtures" / "so"
HELLO = FIXTURES / "x86_64" / "hello.so"
STAMP = (1980, 1, 1, 0, 0, 0)


def command(name: str, arity: int, flags: list[str], first: int, last: int, step: int) -> dict[str, Any]:
    return {
        "command_name": name,
        "command_arity": arity,
        "flags": flags,
        "first_key": first,
        "last_key": last,
        "step": step,
    }


def good_module() -> dict[str, Any]:
    """hello.so's module.json, as COMMAND INFO on Redis 7 reports its commands."""
    return {
        "module_name": "hello",
        "display_name": "Hello",
        "version": 10203,
        "semantic_version": "1.2.3",
        "min_redis_version": "7.0",
        "compatible_redis_version": "7.4",
        "min_redis_pack_version": "7.8",
        "capabilities": ["types", "replica_of", "persistence_rdb", "clustering"],
        "command_line_args": "",
        "author": "modpack",
        "email": "modules@example.com",
        "description": "test module",
        "homepage": "https://example.com",
        "license": "MIT",
        "architecture": "x86_64",
        "operating_systems": ["rhel8", "rhel9", "ubuntu20", "ubuntu22", "amzn2023"],
        "module_file": "hello.so",
        "sha256": hashlib.sha256(HELLO.read_bytes()).hexdigest(),
        "commands": [
            command("hello.set", 3, ["write", "denyoom", "module"], 1, 1, 1),
            command("hello.get", 2, ["readonly", "module", "fast"], 1, 1, 1),
            command("hello.mset", -3, ["write", "denyoom", "module"], 1, -1, 2),
            command("hello.ping", 1, ["module", "fast"], 0, 0, 0),
            command("hello.copy", 3, ["write", "module"], 1, 2, 1),
        ],
    }


Mutation = Callable[[dict[str, Any]], None]


def cmd(index: int, **changes: Any) -> Mutation:
    def apply(module: dict[str, Any]) -> None:
        module["commands"][index].update(changes)

    return apply


def drop(*keys: str, index: int | None = None) -> Mutation:
    def apply(module: dict[str, Any]) -> None:
        target = module if index is None else module["commands"][index]
        for key in keys:
            target.pop(key)

    return apply


def put(**changes: Any) -> Mutation:
    def apply(module: dict[str, Any]) -> None:
        module.update(changes)

    return apply


def flags(index: int, *extra: str, remove: tuple[str, ...] = ()) -> Mutation:
    def apply(module: dict[str, Any]) -> None:
        current = module["commands"][index]["flags"]
        module["commands"][index]["flags"] = [f for f in current if f not in remove] + list(extra)

    return apply


def add_command(entry: dict[str, Any]) -> Mutation:
    def apply(module: dict[str, Any]) -> None:
        module["commands"].append(entry)

    return apply


# rule name -> the one defect that must trigger it (and nothing else) in a module.json
MODULE_JSON_CASES: dict[str, Mutation] = {
    "missing-field": drop("display_name"),
    "wrong-type": put(description=5),
    "null-text": put(description=None),
    "unknown-field": put(homepage_url="https://example.com"),
    "empty-value": put(module_name=""),
    "invalid-value": put(sha256="abc"),
    "unsafe-name": put(module_name="../hello"),
    "semantic-version-invalid": put(semantic_version="1.2"),
    "semantic-version-overflow": put(semantic_version="1.100.3", version=20003),
    "version-not-integer": put(version=10203.5),
    "version-float": put(version=10203.0),
    "version-mismatch": put(version=10204),
    "redis-version-format": put(min_redis_version="7"),
    "compatible-redis-version-missing": drop("compatible_redis_version"),
    "min-above-compatible": put(min_redis_version="7.6"),
    # min_redis_version still matters for a database before 7.4 (redis-enterprise.md §9)
    "redis-major-mismatch": put(min_redis_version="6.2", compatible_redis_version="7.2"),
    "compatible-redis-version-patch": put(compatible_redis_version="7.4.1", min_redis_version="7.4.0"),
    "placeholder-version": put(compatible_redis_version="99.99"),
    "unknown-capability": put(capabilities=["types", "resharding"]),
    "duplicate-capability": put(capabilities=["types", "clustering", "types"]),
    "capabilities-not-list": put(capabilities="types,clustering"),
    "no-capabilities": put(capabilities=[]),
    "no-multi-key-contradicted": put(capabilities=["types", "no_multi_key"]),
    "no-commands": put(commands=[]),
    "command-name-empty": cmd(3, command_name=""),
    "command-name-invalid": cmd(3, command_name="hello ping"),
    "duplicate-command": cmd(3, command_name="HELLO.SET"),
    "invalid-arity": cmd(3, command_arity=0),
    "arity-missing": drop("command_arity", index=3),
    "command-incomplete": drop("flags", "first_key", "last_key", "step", index=3),
    "unknown-flag": flags(3, "speedy"),
    "module-flag-spelling": flags(0, "deny-oom", remove=("denyoom",)),
    "native-only-flag": flags(3, "asking"),
    "write-and-readonly": flags(3, "write", "readonly"),
    "keys-without-access-flag": flags(4, remove=("write",)),
    "readonly-denyoom": flags(1, "denyoom"),
    "movablekeys": flags(1, "movablekeys"),
    "no-auth-data-access": flags(1, "no_auth"),
    "loading-with-data": flags(1, "loading"),
    "no-mandatory-keys-without-keys": flags(3, "no_mandatory_keys"),
    "stale-write": flags(0, "stale"),
    "random-flag": flags(3, "random"),
    "may-replicate-flag": flags(0, "may_replicate"),
    "module-flag-vs-target": flags(3, remove=("module",)),
    "admin-skip-monitor": flags(3, "admin", "skip_monitor"),
    "subcommand-entry": add_command(command("hello.config|get", -2, ["readonly", "module"], 0, 0, 0)),
    "negative-first-key": cmd(1, first_key=-1, last_key=-1),
    "zero-step": cmd(0, step=0),
    "last-before-first": cmd(2, first_key=3, last_key=1, step=1),
    "key-outside-arity": cmd(1, first_key=2, last_key=2),
    "keys-ignored": cmd(3, last_key=1, step=1),
    "unreachable-last-key": cmd(4, step=2),
    "minimal-call-no-key": cmd(2, command_arity=-2, first_key=2, last_key=-1, step=1),
    "unknown-routing-policy": cmd(3, step=-5),
    "os-invalid": put(operating_systems=["rhel"]),  # no version: RE reads "rhel-9" as rhel9
    "os-unsupported": put(operating_systems=["rhel9", "debian12"]),
    "architecture-invalid": put(architecture="arm64", operating_systems=["rhel9"]),
    "architecture-os-unsupported": put(architecture="aarch64", operating_systems=["rhel8"]),
    "os-not-linux": put(os="Darwin"),
    "duplicate-os": put(operating_systems=["rhel9", "rhel9"]),
    "os-alias": put(operating_systems=["rocky9", "ubuntu22"]),  # RAMP writes rhel9 for a Rocky build
    "legacy-os-list": put(os_list=["rhel9"]),
    "dependency-incomplete": put(dependencies={"dep1": {"url": "https://example.com/dep1.tgz"}}),
    "dependency-bad-sha256": put(
        dependencies={"dep1": {"url": "https://example.com/d.tgz", "sha256": "xyz"}}
    ),
    "dependency-bad-url": put(dependencies={"dep1": {"url": "ftp://example.com/d.tgz", "sha256": "a" * 64}}),
}

GOOD_TOML = """\
[module]
name = "hello"
display_name = "Hello"
semantic_version = "1.2.3"
capabilities = ["types", "clustering"]
min_redis_version = "7.0"
compatible_redis_version = "7.4"

[platform]
operating_systems = ["rhel9", "ubuntu22"]
architecture = "x86_64"

[[commands]]
name = "hello.set"
arity = 3
flags = ["write", "deny-oom"]
first_key = 1
last_key = 1
step = 1

[[commands]]
name = "hello.ping"
arity = 1
flags = ["fast"]
"""

TOML_CASES = {
    "toml-syntax": GOOD_TOML.replace('name = "hello"\n', 'name = "hello\n', 1),
    "unknown-key": GOOD_TOML.replace("[platform]\n", "[platform]\noperating_system = []\n"),
    "undefined-variable": GOOD_TOML.replace(
        'display_name = "Hello"', 'display_name = "${MODPACK_TEST_UNSET_VARIABLE}"'
    ),
}

GOOD_RAMP = """\
display_name: Hello
author: modpack
email: modules@example.com
description: test module
homepage: https://example.com
license: MIT
command_line_args: ""
compatible_redis_version: "7.4"
min_redis_version: "7.0"
min_redis_pack_version: "7.8"
capabilities:
    - types
    - clustering
"""

RAMP_CASES = {
    "yaml-syntax": GOOD_RAMP.replace("license: MIT", "license: MIT: or not"),
    "duplicate-key": GOOD_RAMP + "capabilities:\n    - types\n",
    "template-value": GOOD_RAMP.replace(
        'command_line_args: ""', "command_line_args: \"Plugin {os.path.abspath('plugin.so')}\""
    ),
    "ramp-ignored-key": GOOD_RAMP + "module_name: hello\n",
    "ramp-unknown-key": GOOD_RAMP.replace("display_name:", "isplay_name:"),
    "ramp-root": "- display_name: Hello\n",
}


def zip_bytes(entries: list[tuple[str, bytes, int]], compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=STAMP)
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = compress
            archive.writestr(info, data)
    return out.getvalue()


def bundle(
    module: dict[str, Any] | None = None, extra: list[tuple[str, bytes, int]] | None = None, **options: Any
) -> bytes:
    module = good_module() if module is None else module
    so_name = options.get("so_name", "hello.so")
    entries = [("module.json", json.dumps(module, indent=2).encode(), 0o100644)]
    if options.get("so", True):
        entries.append(
            (so_name, options.get("so_bytes", HELLO.read_bytes()), options.get("so_mode", 0o100755))
        )
    return zip_bytes(entries + (extra or []), options.get("compress", zipfile.ZIP_DEFLATED))


def with_module(mutation: Mutation) -> dict[str, Any]:
    module = good_module()
    mutation(module)
    return module


def bundle_cases() -> dict[str, bytes]:
    dep = b"dependency archive"
    dep_module = put(
        dependencies={
            "dep1": {"url": "https://example.com/dep1.tgz", "sha256": hashlib.sha256(dep).hexdigest()}
        }
    )
    return {
        "not-a-zip": b"this is not a zip archive\n",
        "no-module-json": zip_bytes([("hello.so", HELLO.read_bytes(), 0o100755)]),
        "so-count": bundle(extra=[("other.so", HELLO.read_bytes(), 0o100755)]),
        "module-file-mismatch": bundle(with_module(put(module_file="hello-1.so"))),
        "unexpected-entry": bundle(extra=[("README.md", b"hello\n", 0o100644)]),
        "sha256-mismatch": bundle(with_module(put(sha256="0" * 64))),
        "so-not-executable": bundle(so_mode=0o100644),
        "unsafe-path": bundle(extra=[("deps/../../etc/evil", b"x", 0o100644)]),
        "symlink-entry": bundle(extra=[("deps/link", b"/etc/passwd", 0o120777)]),
        "encrypted-entry": _encrypted(bundle()),
        "unsupported-compression": _method(bundle(), "hello.so", 9),  # Deflate64
        "corrupt-entry": _corrupt(bundle(), "hello.so"),
        "os-missing": bundle(with_module(drop("operating_systems"))),
        "architecture-missing": bundle(with_module(drop("architecture"))),
        # with a url the cluster fetches it; with neither an archive nor a url nothing installs it
        "dependency-not-bundled": bundle(with_module(put(dependencies={"dep1": {"sha256": "0" * 64}}))),
        "dependency-hash-mismatch": bundle(
            with_module(dep_module), extra=[("deps/dep1.tgz", b"another archive", 0o100644)]
        ),
        "duplicate-entry": _duplicated(bundle(), "module.json"),
        "too-large": _sizes(bundle(), "hello.so", 600 * 1024 * 1024),
        "compression-ratio": _sizes(bundle(), "hello.so", 40 * 1024 * 1024),
        "overlapping-entries": _compressed_size(bundle(), "module.json", 400),
        "header-mismatch": _local_name(bundle(), "hello.so", "hellx.so"),
        "too-many-entries": _entry_count(bundle(), 5000),
        "module-json-too-large": bundle(with_module(put(description=" " * (5 * 1024 * 1024)))),
        "library-not-on-os": _needing_openssl3_on_rhel8(),
    }


def _needing_openssl3_on_rhel8() -> bytes:
    """A module that needs libcrypto.so.3 (OpenSSL 3), declared for rhel8 (OpenSSL 1.1)."""
    sys.path.insert(0, str(HERE.parent.parent))
    from tests.elf_cases import builder

    data, _layout = builder.build(builder.Spec(needed=("libc.so.6", "libcrypto.so.3")))
    module = with_module(put(operating_systems=["rhel8"], sha256=hashlib.sha256(data).hexdigest()))
    return bundle(module, so_bytes=data)


def _central(data: bytes, name: str) -> int:
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + length] == name.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise KeyError(name)


def _local(data: bytes, name: str) -> int:
    at = data.find(b"PK\x03\x04")
    while at >= 0:
        length = int.from_bytes(data[at + 26 : at + 28], "little")
        if data[at + 30 : at + 30 + length] == name.encode():
            return at
        at = data.find(b"PK\x03\x04", at + 4)
    raise KeyError(name)


def _sizes(data: bytes, name: str, size: int) -> bytes:
    """Claim a larger uncompressed size in both headers (what a bomb does; they agree: no ZIP016)."""
    blob = bytearray(data)
    at = _central(data, name)
    blob[at + 24 : at + 28] = size.to_bytes(4, "little")
    local = _local(data, name)
    blob[local + 22 : local + 26] = size.to_bytes(4, "little")
    return bytes(blob)


def _compressed_size(data: bytes, name: str, extra: int) -> bytes:
    """Make an entry's compressed data run into the next entry."""
    blob = bytearray(data)
    at = _central(data, name)
    size = int.from_bytes(blob[at + 20 : at + 24], "little") + extra
    blob[at + 20 : at + 24] = size.to_bytes(4, "little")
    local = _local(data, name)  # both headers agree: the overlap alone is the finding
    blob[local + 18 : local + 22] = size.to_bytes(4, "little")
    return bytes(blob)


def _local_name(data: bytes, name: str, other: str) -> bytes:
    blob = bytearray(data)
    at = data.find(b"PK\x03\x04" + data[4:4])
    while at >= 0:
        length = int.from_bytes(data[at + 26 : at + 28], "little")
        if data[at + 30 : at + 30 + length] == name.encode():
            blob[at + 30 : at + 30 + length] = other.encode()
            return bytes(blob)
        at = data.find(b"PK\x03\x04", at + 4)
    raise KeyError(name)


def _entry_count(data: bytes, count: int) -> bytes:
    blob = bytearray(data)
    at = data.rfind(b"PK\x05\x06")
    blob[at + 8 : at + 12] = count.to_bytes(2, "little") * 2
    return bytes(blob)


def _duplicated(data: bytes, name: str) -> bytes:
    import warnings

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = copy.copy(source.getinfo(name))
            target.writestr(again, source.read(name))
    return out.getvalue()


def _patch_flags(data: bytes, name: str, flag: int = 0, method: int | None = None) -> bytes:
    """Set a flag bit or the method of one entry in both its local and central headers."""
    blob = bytearray(data)
    encoded = name.encode()
    for signature, flag_at, method_at, name_at in ((b"PK\x03\x04", 6, 8, 30), (b"PK\x01\x02", 8, 10, 46)):
        start = 0
        while (at := blob.find(signature, start)) >= 0:
            if blob[at + name_at : at + name_at + len(encoded)] == encoded:
                blob[at + flag_at] |= flag
                if method is not None:
                    blob[at + method_at : at + method_at + 2] = method.to_bytes(2, "little")
            start = at + 4
    return bytes(blob)


def _encrypted(data: bytes) -> bytes:
    return _patch_flags(data, "hello.so", flag=0x1)


def _method(data: bytes, name: str, method: int) -> bytes:
    return _patch_flags(data, name, method=method)


def _corrupt(data: bytes, name: str) -> bytes:
    """Flip one byte in the middle of an entry's compressed data."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    blob = bytearray(data)
    start = info.header_offset + 30 + len(name)
    blob[start + info.compress_size // 2] ^= 0xFF
    return bytes(blob)


def write(folder: Path, name: str, content: bytes | str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(content.encode() if isinstance(content, str) else content)


def main() -> int:
    for kind in ("good", "bad"):
        shutil.rmtree(HERE / kind, ignore_errors=True)
    good = HERE / "good"
    write(good / "module-json", "module.json", json.dumps(good_module(), indent=2) + "\n")
    write(good / "modpack-toml", "modpack.toml", GOOD_TOML)
    write(good / "ramp-yml", "ramp.yml", GOOD_RAMP)
    write(good / "bundle", "bundle.zip", bundle())
    bad = HERE / "bad"
    for rule, mutation in MODULE_JSON_CASES.items():
        write(bad / rule, "module.json", json.dumps(with_module(mutation), indent=2) + "\n")
    write(
        bad / "json-syntax",
        "module.json",
        json.dumps(good_module(), indent=2).replace('"Hello"', '"Hello",,'),
    )
    write(
        bad / "duplicate-key",
        "module.json",
        json.dumps(good_module(), indent=2).replace(
            '"display_name"', '"module_name": "hello",\n  "display_name"', 1
        ),
    )
    write(bad / "unknown-input", "notes.txt", "not a module\n")
    write(bad / "no-input" / "empty", ".keep", "")
    for rule, text in TOML_CASES.items():
        write(bad / rule, "modpack.toml", text)
    # No [[commands]] at all (the module.json form of the case belongs to the command checks).
    write(bad / "no-commands--toml", "modpack.toml", GOOD_TOML[: GOOD_TOML.index("[[commands]]")])
    # A local_path that is no gzip archive; the dot keeps the file out of the case's inputs.
    unusable = GOOD_TOML.replace(
        "[platform]\n",
        '[module.dependencies.plugin]\nurl = "https://example.com/plugin.tgz"\n'
        'local_path = ".plugin.tgz"\n\n[platform]\n',
    )
    write(bad / "dependency-archive-unusable", "modpack.toml", unusable)
    write(bad / "dependency-archive-unusable", ".plugin.tgz", "PK\x03\x04 a zip, not a tgz\n")
    for rule, text in RAMP_CASES.items():
        write(bad / (rule if rule != "duplicate-key" else "duplicate-key--yaml"), "ramp.yml", text)
    for rule, data in bundle_cases().items():
        write(bad / rule, "bundle.zip", data)
    missing = bad / "unreadable-file"
    missing.mkdir(parents=True, exist_ok=True)
    (missing / "module.json").symlink_to("does-not-exist.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
