"""Mutations shared by both engines: hypothesis draws them (and shrinks them), the long
campaign's random engine draws them from a seeded `random.Random`.

A mutation is a plain triple `(operator, position, argument)` of integers, so it is data that
both engines can produce and a crash report can print. `mutate_bytes` works on binaries (with
`anchors`, the offset and width of every header field, for field-aware changes), `mutate_text`
on manifests (with a dictionary of tokens of the format, as AFL dictionaries do).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

Mutation = tuple[int, int, int]
Field = tuple[int, int]

# Values that break size and offset arithmetic: limits of each width, their neighbours, signs.
INTERESTING = (
    0, 1, 2, 3, 4, 7, 8, 16, 32, 64, 0x7F, 0x80, 0xFF, 0x100, 0x3FF, 0x400, 0x7FFF, 0x8000, 0xFFFE,
    0xFFFF, 0x10000, 0xFF00, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF, 2**32, 2**40,
    2**62, 2**63 - 1, 2**63, 2**64 - 16, 2**64 - 1, 4096, 1_500_000, 65535 * 64,
)  # fmt: skip
NEST_DEPTHS = (10, 50, 150, 199, 201, 300, 999, 1000, 3000)
BYTE_OPERATORS = 10
TEXT_OPERATORS = 10
MAX_TEXT = 1 << 20  # characters: repeated line copies must not grow a manifest to gigabytes
MAX_BYTES = 4 << 20

JSON_TOKENS = (
    "{", "}", "[", "]", ",", ":", '"', "\\", "null", "true", "false", "-0", "1e400", "-1e400",
    "NaN", "Infinity", "9" * 40, '"\\ud800"', '"\\u0000"', '"commands": [{}]', '"module_name": ""',
    '"version": 99999999999', '"flags": ["write", "readonly"]', '"first_key": -1', '"step": 0',
    '"operating_systems": ["rhel9"]', '"dependencies": {"x": {}}', '"command_arity": -2147483649',
    '"capabilities": ["types", "types"]', '"min_redis_version": "7.9.9.9"', '"sha256": 1',
)  # fmt: skip
TOML_TOKENS = (
    "[module]", "[[commands]]", "[platform]", "[build]", "[validate]", "[[targets]]", "[module.x]",
    "=", '"', "'''", '"""', "[", "]", "{", "}", ",", "\\u0000", "\\U0010FFFF", "${HOME}", "${NOPE}",
    "$$", "inf", "nan", "-0", "0x7FFFFFFFFFFFFFFF", "1979-05-27T07:32:00Z", "name = \"../x\"",
    "load = true", "strict = true", "so = \"/dev/null\"", "output = \"../{module_name}.zip\"",
    "flags = [\"write\", \"readonly\"]", "arity = 0", "step = -3", "semantic_version = \"1.2.3-rc.1\"",
    "select = [\"ZIP\"]", "operating_systems = [\"rhel9\", 1]", "a.b.c = 1", "\r\n", "\t",
)  # fmt: skip
YAML_TOKENS = (
    ":", "- ", "? ", "&a ", "*a", "<<: *a", "!!binary ", "!!python/name:os.system", "!!set",
    "!!timestamp ", "!!float .nan", "|", ">", "---", "...", "%YAML 1.1", "%TAG ! tag:x,2000:", "{",
    "}", "[", "]", "'", '"', "\\x00", "\t", "\ufeff", "~", "null", "yes", "no", "0o777", "1_000",
    "${HOME}", "{module_name}", "{{x}}", "commands:", "overide_command:", "add_command:",
    "capabilities: [types, types]", "min_redis_version: 7.0", "module_name: ../x", "\r",
)  # fmt: skip


def _field_value(data: bytearray, offset: int, width: int) -> int:
    return int.from_bytes(data[offset : offset + width], "little")


def _put(data: bytearray, offset: int, width: int, value: int) -> None:
    data[offset : offset + width] = (value % (1 << (8 * width))).to_bytes(width, "little")


def mutate_bytes(data: bytes, mutations: Sequence[Mutation], anchors: Sequence[Field] = ()) -> bytes:
    """Apply each mutation in turn; positions wrap around the current length (never raises)."""
    out = bytearray(data)
    for operator, position, argument in mutations:
        _apply_byte_mutation(out, operator % BYTE_OPERATORS, position, argument, anchors)
        del out[MAX_BYTES:]
    return bytes(out)


def _apply_byte_mutation(
    out: bytearray, operator: int, position: int, argument: int, anchors: Sequence[Field]
) -> None:
    size = len(out)
    if operator == 7 and size:  # truncate
        del out[position % size :]
        return
    if operator == 4:  # insert a run of one byte, or of interesting little-endian values
        at = position % (size + 1)
        chunk = bytes([argument & 0xFF]) * (argument % 97) if argument % 2 else _interesting(argument)
        out[at:at] = chunk
        return
    if not size:
        return
    at = position % size
    if operator == 0:
        out[at] ^= 1 << (argument % 8)
    elif operator == 1:
        out[at] = argument & 0xFF
    elif operator == 2:
        width = (1, 2, 4, 8)[argument % 4]
        _put(out, at, min(width, size - at), INTERESTING[(argument // 4) % len(INTERESTING)])
    elif operator in (3, 8) and anchors:
        offset, width = anchors[position % len(anchors)]
        if offset + width <= size:
            old = _field_value(out, offset, width)
            value = (
                INTERESTING[argument % len(INTERESTING)] if operator == 3 else old + (argument % 257) - 128
            )
            _put(out, offset, width, value)
    elif operator == 5:
        del out[at : at + 1 + argument % 512]
    elif operator == 6:  # copy a chunk from elsewhere over this place
        length = 1 + argument % 256
        source = (argument * 7919) % size
        out[at : at + length] = out[source : source + length]
    elif operator == 9:  # duplicate a chunk in place
        length = 1 + argument % 1024
        out[at:at] = out[at : at + length]


def _interesting(argument: int) -> bytes:
    width = (2, 4, 8)[argument % 3]
    value = INTERESTING[(argument // 3) % len(INTERESTING)]
    return (value % (1 << (8 * width))).to_bytes(width, "little")


def mutate_text(text: str, mutations: Sequence[Mutation], tokens: Sequence[str]) -> str:
    """Line and token level changes: the kind a person or a broken generator makes."""
    for operator, position, argument in mutations:
        text = _apply_text_mutation(text, operator % TEXT_OPERATORS, position, argument, tokens)[:MAX_TEXT]
    return text


def _apply_text_mutation(
    text: str, operator: int, position: int, argument: int, tokens: Sequence[str]
) -> str:
    lines = text.splitlines(keepends=True)
    at = position % (len(text) + 1)
    token = tokens[argument % len(tokens)] if tokens else ""
    if operator in (0, 1, 2, 7) and lines:
        index = position % len(lines)
        if operator == 0:
            del lines[index]
        elif operator == 1:
            lines.insert(index, lines[index])
        elif operator == 2:
            other = argument % len(lines)
            lines[index], lines[other] = lines[other], lines[index]
        else:
            lines[index:index] = [lines[index]] * (argument % 200)
        return "".join(lines)
    if operator == 3:
        return text[:at] + token + text[at:]
    if operator == 4:
        return text[:at] + token + text[at + 1 + argument % 16 :]
    if operator == 5:
        return text[:at] + text[at + 1 + argument % 64 :]
    if operator == 6:
        return _nest(text, at, argument)
    if operator == 8:
        return text[:at] + chr(argument % 0x110000) + text[at + 1 :]
    return text[:at]  # 9: truncate


def _nest(text: str, at: int, argument: int) -> str:
    depth = NEST_DEPTHS[argument % len(NEST_DEPTHS)]
    opening, closing = (("[", "]"), ("{", "}"), ('{"a": ', "}"), ("{a = ", "}"))[(argument // 16) % 4]
    return text[:at] + opening * depth + closing * depth + text[at:]


def random_mutations(rng: random.Random, operators: int, *, most: int = 8) -> list[Mutation]:
    """What the random engine applies: 1 to `most` mutations, fewer more often (AFL's havoc)."""
    count = 1 + int(rng.expovariate(0.6)) % most
    return [(rng.randrange(operators), rng.getrandbits(32), rng.getrandbits(16)) for _ in range(count)]


# --- structural zip mutations: counts and headers that contradict each other -------------------

ZIP_OPERATORS = 4
_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
# (local offset, central offset, width) of the fields both headers repeat: flags, method, CRC,
# compressed and uncompressed size (APPNOTE.TXT 4.3.7 and 4.3.12)
_SHARED_FIELDS = ((6, 8, 2), (8, 10, 2), (14, 16, 4), (18, 20, 4), (22, 24, 4))


def mutate_zip_structure(data: bytes, operator: int, argument: int) -> bytes:
    """One structural lie in a zip (never raises; bytes that are no zip come back unchanged).

    0: the end record's entry counts say something else than the directory holds;
    1: the directory's records repeated (up to ~1,500 entries) while the end record keeps its count;
    2: one field of one local header differs from its central record; 3: the reverse.
    """
    out = bytearray(data)
    end = out.rfind(_EOCD)
    if end < 0 or end + 22 > len(out):
        return data
    count, size_cd = _field_value(out, end + 10, 2), _field_value(out, end + 12, 4)
    operator %= ZIP_OPERATORS
    if operator == 0:
        value = (0, 1, 2, count - 1, count + 1, 0xFFFF, 1001)[argument % 7]
        _put(out, end + 8, 2, value)
        _put(out, end + 10, 2, value)
    elif operator == 1:
        directory = bytes(out[end - size_cd : end]) if 0 < size_cd <= end else b""
        if not directory:
            return data
        copies = 1 + argument % (1 + 1500 // max(count, 1))
        grown = directory * (1 + copies)
        out[end - size_cd : end] = grown
        _put(out, end - size_cd + len(grown) + 12, 4, len(grown))
    else:
        locals_ = [at for at in _offsets(out, _LOCAL) if at + 30 <= end]
        centrals = [at for at in _offsets(out, _CENTRAL) if at + 46 <= end]
        if not locals_ or not centrals:
            return data
        local, central = locals_[argument % len(locals_)], centrals[argument % len(centrals)]
        at_local, at_central, width = _SHARED_FIELDS[(argument // 7) % len(_SHARED_FIELDS)]
        where = local + at_local if operator == 2 else central + at_central
        _put(out, where, width, _field_value(out, where, width) ^ (1 + (argument // 35) % 255))
    return bytes(out[:MAX_BYTES])


def _offsets(data: bytearray, signature: bytes) -> list[int]:
    found, at = [], data.find(signature)
    while at >= 0 and len(found) < 4096:
        found.append(at)
        at = data.find(signature, at + 4)
    return found
