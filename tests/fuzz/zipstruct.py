"""Structural zip mutations: archives that parse, but whose records contradict each other.

Byte flips rarely get past the first sanity check of a zip reader; the lies that fooled readers
before (issue 12: an end record that under-counts, a local header whose sizes disagree with the
central directory) are coherent archives with one field changed. This module reads a zip into a
model (members with their local and central records, the end record, any zip64 records), applies
one structural lie to the model, and writes it back with every other length and offset kept
consistent, so the lie is the only thing wrong.

The lies (one operator each, `OPERATORS` in all), from APPNOTE.TXT 4.3 (the zip format):
end-record entry counts, directory offset and size, comment length and disk numbers; a field of
one local header against its central record (version, flags, method, time, date, CRC, sizes, name,
name length, extra length); extra fields (zip64 with every size, unknown ids, truncated, long);
zip64 end records and locators that lie; members needing zip64 with or without the extra;
duplicate names (same, case-folded, `./`-prefixed, directory records only); header offsets that
point elsewhere (another member, the data, past the end); data descriptors that lie; many
entries under a small count; external attributes (links, folders, devices); version fields;
payloads that no longer match their sizes or CRC; junk between records.

`mutate(data, operator, argument)` is pure and deterministic (the argument seeds every choice), never
raises, and returns the bytes unchanged when they are no zip it can read. Output stays under
`MAX_BYTES`.
"""

from __future__ import annotations

import bisect
import random
import struct
import zlib
from dataclasses import dataclass, field, replace

MAX_BYTES = 4 << 20
MAX_MEMBERS = 2048
FLOOD_MOST = 1500  # members added by the flood operator (the reader's limit is 1000: ZIP018)

_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes (APPNOTE 4.3.7)
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes (APPNOTE 4.3.12)
_EOCD = struct.Struct("<4sHHHHIIH")  # 22 bytes (APPNOTE 4.3.16)
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes (APPNOTE 4.3.14)
_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes (APPNOTE 4.3.15)

# Field names of the records, in struct order after the signature.
LOCAL_FIELDS = (
    "version",
    "flags",
    "method",
    "time",
    "date",
    "crc",
    "csize",
    "usize",
    "name_len",
    "extra_len",
)
CENTRAL_FIELDS = (
    "made_by", "version", "flags", "method", "time", "date", "crc", "csize", "usize", "name_len",
    "extra_len", "comment_len", "disk", "internal", "external", "offset",
)  # fmt: skip
_SHARED = ("version", "flags", "method", "time", "date", "crc", "csize", "usize")
_WIDTH = {"crc": 4, "csize": 4, "usize": 4, "external": 4, "offset": 4}

NUMBERS = (
    0, 1, 2, 7, 8, 9, 12, 14, 20, 45, 51, 63, 93, 95, 98, 99, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000,
    0xFFFE, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
)  # fmt: skip
HOSTILE_NAMES = (
    b"module.json", b"Module.json", b"MODULE.JSON", b"./module.json", b"module.json/", b"hello.so",
    b"./hello.so", b"HELLO.SO", b"hello.so\x00.txt", b"../hello.so", b"/hello.so", b"deps/", b"deps/x",
    b"deps//x", b"", b"\xff\xfe", b"a\\..\\b.so", b"x" * 300, b"module.json\n", b"\xc3\xa9.so",
)  # fmt: skip


@dataclass
class Member:
    local: dict[str, int]
    central: dict[str, int]
    name: bytes  # the central record's
    local_name: bytes
    extra: bytes
    local_extra: bytes
    comment: bytes
    payload: bytes
    descriptor: bytes = b""  # bytes between the payload and the next record (data descriptor)
    # Written as they are when not None (a lie); otherwise computed when the archive is written.
    lengths: dict[str, int] = field(default_factory=dict)


@dataclass
class End:
    disk: int = 0
    cd_disk: int = 0
    disk_entries: int | None = None
    total_entries: int | None = None
    cd_size: int | None = None
    cd_offset: int | None = None
    comment: bytes = b""
    comment_len: int | None = None
    zip64: dict[str, int] | None = None  # fields of a zip64 end record to write (lies allowed)
    locator: dict[str, int] | None = None


@dataclass
class Archive:
    members: list[Member]
    end: End
    prefix: bytes = b""
    gap: bytes = b""  # between the last member and the directory
    offsets: dict[int, int] = field(default_factory=dict)  # member index -> forced header offset
    order: list[int] | None = None  # central records in this order (default: members' order)
    extra_central: list[tuple[int, dict[str, int], bytes]] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------------------


def parse(data: bytes) -> Archive | None:
    """The archive as a model, or None when it is not a zip this simple reader follows."""
    end_at = data.rfind(b"PK\x05\x06")
    if end_at < 0 or end_at + _EOCD.size > len(data):
        return None
    _, _disk, _cd_disk, _n_disk, count, cd_size, cd_offset, comment_len = _EOCD.unpack_from(data, end_at)
    start = end_at - cd_size
    if start < 0 or data[start : start + 4] != b"PK\x01\x02":
        start = cd_offset
    shift = start - cd_offset  # bytes prepended to the archive (self-extracting stubs)
    if count == 0xFFFF or cd_offset == 0xFFFFFFFF:
        return None  # zip64 archives are made here, not read: the seeds hold plain ones too
    members: list[Member] = []
    at = start
    while data[at : at + 4] == b"PK\x01\x02" and len(members) < MAX_MEMBERS:
        if at + _CENTRAL.size > len(data):
            return None
        values = dict(zip(CENTRAL_FIELDS, _CENTRAL.unpack_from(data, at)[1:], strict=True))
        body = at + _CENTRAL.size
        name = data[body : body + values["name_len"]]
        extra = data[body + values["name_len"] : body + values["name_len"] + values["extra_len"]]
        comment_at = body + values["name_len"] + values["extra_len"]
        comment = data[comment_at : comment_at + values["comment_len"]]
        at = comment_at + values["comment_len"]
        local_at = values["offset"] + shift
        if (
            local_at < 0
            or local_at + _LOCAL.size > len(data)
            or data[local_at : local_at + 4] != b"PK\x03\x04"
        ):
            return None
        local = dict(zip(LOCAL_FIELDS, _LOCAL.unpack_from(data, local_at)[1:], strict=True))
        lbody = local_at + _LOCAL.size
        local_name = data[lbody : lbody + local["name_len"]]
        local_extra = data[lbody + local["name_len"] : lbody + local["name_len"] + local["extra_len"]]
        payload_at = lbody + local["name_len"] + local["extra_len"]
        payload = data[payload_at : payload_at + values["csize"]]
        members.append(Member(local, values, name, local_name, extra, local_extra, comment, payload))
    if not members and count:
        return None
    starts = sorted({m.central["offset"] + shift for m in members} | {start})
    for member in members:  # data descriptors: what lies between a payload and the next record
        here = member.central["offset"] + shift
        stop = starts[bisect.bisect_right(starts, here)] if here < starts[-1] else start
        payload_end = (
            here + _LOCAL.size + member.local["name_len"] + member.local["extra_len"] + len(member.payload)
        )
        if member.local["flags"] & 0x08 and 0 <= stop - payload_end <= 24:
            member.descriptor = data[payload_end:stop]
    prefix = data[:shift] if shift > 0 else b""
    end = End(comment=data[end_at + _EOCD.size : end_at + _EOCD.size + comment_len])
    return Archive(members, end, prefix=prefix)


# --- writing ------------------------------------------------------------------------------------------


def _u(value: int, width: int) -> int:
    return value % (1 << (8 * width))


def _local_bytes(member: Member) -> bytes:
    values = dict(member.local)
    values["name_len"] = member.lengths.get("local_name_len", len(member.local_name))
    values["extra_len"] = member.lengths.get("local_extra_len", len(member.local_extra))
    packed = [_u(values[name], _WIDTH.get(name, 2)) for name in LOCAL_FIELDS]
    return _LOCAL.pack(b"PK\x03\x04", *packed) + member.local_name + member.local_extra


def _central_bytes(values: dict[str, int], member: Member, name: bytes | None = None) -> bytes:
    values = dict(values)
    name = member.name if name is None else name
    values["name_len"] = member.lengths.get("name_len", len(name))
    values["extra_len"] = member.lengths.get("extra_len", len(member.extra))
    values["comment_len"] = member.lengths.get("comment_len", len(member.comment))
    packed = [_u(values[key], _WIDTH.get(key, 2)) for key in CENTRAL_FIELDS]
    return _CENTRAL.pack(b"PK\x01\x02", *packed) + name + member.extra + member.comment


def write(archive: Archive) -> bytes:
    out = bytearray(archive.prefix)
    base = len(archive.prefix)
    offsets = []
    for member in archive.members:
        offsets.append(len(out) - base)
        out += _local_bytes(member) + member.payload + member.descriptor
        if len(out) > MAX_BYTES:
            break
    out += archive.gap
    cd_start = len(out)
    order = archive.order if archive.order is not None else list(range(len(offsets)))
    records = 0
    for index in order:
        if index >= len(offsets):
            continue
        member = archive.members[index]
        values = dict(member.central)
        values["offset"] = archive.offsets.get(index, offsets[index])
        out += _central_bytes(values, member)
        records += 1
        if len(out) > MAX_BYTES:  # the output is cut there: building more would only cost memory
            break
    for index, changes, name in archive.extra_central:
        if index < len(offsets):
            member = archive.members[index]
            values = dict(member.central) | {"offset": offsets[index]} | changes
            out += _central_bytes(values, member, name)
            records += 1
            if len(out) > MAX_BYTES:
                break
    cd_end = len(out)
    end = archive.end
    if end.zip64 is not None:
        record_at = len(out)
        z = {"size": 44, "made_by": 45, "version": 45, "disk": 0, "cd_disk": 0, "disk_entries": records,
             "total_entries": records, "cd_size": cd_end - cd_start, "cd_offset": cd_start - base} | end.zip64  # fmt: skip
        out += _EOCD64.pack(b"PK\x06\x06", *(_u(z[k], 8 if k in ("size", "disk_entries", "total_entries",
                            "cd_size", "cd_offset") else (2 if k in ("made_by", "version") else 4))
                            for k in ("size", "made_by", "version", "disk", "cd_disk", "disk_entries",
                                      "total_entries", "cd_size", "cd_offset")))  # fmt: skip
        loc = {"disk": 0, "offset": record_at - base, "disks": 1} | (end.locator or {})
        out += _LOCATOR.pack(b"PK\x06\x07", _u(loc["disk"], 4), _u(loc["offset"], 8), _u(loc["disks"], 4))
    elif end.locator is not None:  # a locator with no record behind it
        loc = {"disk": 0, "offset": cd_start - base, "disks": 1} | end.locator
        out += _LOCATOR.pack(b"PK\x06\x07", _u(loc["disk"], 4), _u(loc["offset"], 8), _u(loc["disks"], 4))
    fields = (
        end.disk,
        end.cd_disk,
        records if end.disk_entries is None else end.disk_entries,
        records if end.total_entries is None else end.total_entries,
        cd_end - cd_start if end.cd_size is None else end.cd_size,
        cd_start - base if end.cd_offset is None else end.cd_offset,
        len(end.comment) if end.comment_len is None else end.comment_len,
    )
    widths = (2, 2, 2, 2, 4, 4, 2)
    out += _EOCD.pack(b"PK\x05\x06", *(_u(v, w) for v, w in zip(fields, widths, strict=True))) + end.comment
    return bytes(out[:MAX_BYTES])


# --- the lies -----------------------------------------------------------------------------------------


def _number(rng: random.Random, old: int, width: int) -> int:
    choice = rng.randrange(4)
    if choice == 0:
        return rng.choice(NUMBERS)
    if choice == 1:
        return old + rng.choice((-2, -1, 1, 2, 16, -16))
    if choice == 2:
        return old ^ (1 << rng.randrange(8 * width))
    return rng.getrandbits(8 * width)


def _pick(archive: Archive, rng: random.Random) -> Member:
    return rng.choice(archive.members)


def end_counts(archive: Archive, rng: random.Random) -> None:
    n = len(archive.members)
    choices = (0, 1, 2, n - 1, n + 1, 2 * n, 0xFFFF, 1000, 1001, rng.randrange(0x10000))
    archive.end.total_entries = rng.choice(choices)
    archive.end.disk_entries = archive.end.total_entries if rng.random() < 0.6 else rng.choice(choices)


def end_offset(archive: Archive, rng: random.Random) -> None:
    archive.end.cd_offset = rng.choice(
        (0, 1, 4, 30, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF, -1, -46, 46, rng.randrange(1 << 16))
    )
    if archive.end.cd_offset in (-1, -46, 46):  # relative to the true place
        delta = archive.end.cd_offset
        archive.end.cd_offset = None
        archive.gap += b"\0" * max(delta, 0)
        if delta < 0:
            archive.prefix = b"PK" * rng.randrange(1, 64)


def end_size(archive: Archive, rng: random.Random) -> None:
    size = sum(_CENTRAL.size + len(m.name) + len(m.extra) + len(m.comment) for m in archive.members)
    archive.end.cd_size = rng.choice(
        (0, 1, 45, 46, size - 1, size + 1, size - 46, size + 46, 2 * size, 0x7FFFFFFF, 0xFFFFFFFF)
    )


def end_comment(archive: Archive, rng: random.Random) -> None:
    kind = rng.randrange(4)
    if kind == 0:
        archive.end.comment_len = rng.choice((1, 0xFFFF, len(archive.end.comment) + 1, 100))
    elif kind == 1:
        archive.end.comment = b"x" * rng.randrange(1, 200)
        archive.end.comment_len = rng.choice((0, 5, len(archive.end.comment) - 1))
    elif kind == 2:  # a fake end record in the comment, pointing elsewhere
        archive.end.comment = _EOCD.pack(b"PK\x05\x06", 0, 0, 1, 1, 46, 0, 0) * rng.randrange(1, 8)
    else:
        archive.end.comment = b"PK\x01\x02PK\x03\x04PK\x06\x07" * rng.randrange(1, 300)


def end_disks(archive: Archive, rng: random.Random) -> None:
    archive.end.disk = rng.choice((0, 1, 2, 0xFFFF))
    archive.end.cd_disk = rng.choice((0, 1, 2, 0xFFFF))


def shared_field(archive: Archive, rng: random.Random) -> None:
    """One field both headers repeat, changed in the local, the central or both."""
    member = _pick(archive, rng)
    name = rng.choice(_SHARED)
    width = _WIDTH.get(name, 2)
    value = _number(rng, member.central[name], width)
    side = rng.randrange(3)
    if side in (0, 2):
        member.local[name] = value
    if side in (1, 2):
        member.central[name] = value
    if name == "csize" and side == 2 and rng.random() < 0.5:  # the payload follows the new size
        wanted = max(0, min(_u(value, 4), 1 << 20))  # never more than 1 MB, whatever the lie
        member.payload = (member.payload + bytes(max(0, wanted - len(member.payload))))[:wanted]


def descriptor_sizes(archive: Archive, rng: random.Random) -> None:
    """Flag bit 3: sizes and CRC in a data descriptor, the local header's left 0 (or lying)."""
    member = _pick(archive, rng)
    member.local["flags"] |= 0x08
    if rng.random() < 0.7:
        member.central["flags"] |= 0x08
    for name in ("crc", "csize", "usize"):
        member.local[name] = 0 if rng.random() < 0.7 else _number(rng, member.local[name], 4)
    crc, csize, usize = member.central["crc"], member.central["csize"], member.central["usize"]
    kind = rng.randrange(4)
    if kind == 0:
        member.descriptor = struct.pack("<4sIII", b"PK\x07\x08", _u(crc, 4), _u(csize, 4), _u(usize, 4))
    elif kind == 1:
        member.descriptor = struct.pack("<III", _u(crc, 4), _u(csize, 4), _u(usize, 4))
    elif kind == 2:
        member.descriptor = struct.pack(
            "<4sIII", b"PK\x07\x08", _u(crc ^ 1, 4), _u(csize + 1, 4), _u(usize * 2, 4)
        )
    else:
        member.descriptor = b""


def names_differ(archive: Archive, rng: random.Random) -> None:
    member = _pick(archive, rng)
    other = rng.choice([*HOSTILE_NAMES, *(m.name for m in archive.members)])
    if rng.random() < 0.5:
        member.local_name = other
    else:
        member.name = other
    if rng.random() < 0.3:  # the same length, one byte changed: the hardest to spot
        name = bytearray(member.name)
        if name:
            name[rng.randrange(len(name))] ^= 0x20
        member.local_name = bytes(name)


def length_lies(archive: Archive, rng: random.Random) -> None:
    member = _pick(archive, rng)
    key = rng.choice(("name_len", "extra_len", "comment_len", "local_name_len", "local_extra_len"))
    current = {"name_len": len(member.name), "extra_len": len(member.extra), "comment_len": len(member.comment),
               "local_name_len": len(member.local_name), "local_extra_len": len(member.local_extra)}[key]  # fmt: skip
    member.lengths[key] = rng.choice((0, current - 1, current + 1, current + 4, current + 46, 0xFFFF, 0x8000))


def _zip64_extra(rng: random.Random, member: Member) -> bytes:
    values = [member.central["usize"], member.central["csize"], member.central["offset"], 0]
    count = rng.randrange(5)
    body = b"".join(
        struct.pack("<Q", _u(_number(rng, v, 8) if rng.random() < 0.4 else v, 8)) for v in values[:count]
    )
    if count == 4:
        body = body[:24] + struct.pack("<I", rng.choice((0, 1, 0xFFFFFFFF)))
    size = len(body) if rng.random() < 0.8 else rng.choice((0, 3, len(body) + 8, 0xFFFF))
    return struct.pack("<HH", 0x0001, size) + body


def extra_fields(archive: Archive, rng: random.Random) -> None:
    member = _pick(archive, rng)
    kind = rng.randrange(6)
    if kind == 0:
        extra = _zip64_extra(rng, member)
    elif kind == 1:  # unknown and known ids, well formed
        extra = b"".join(
            struct.pack("<HH", rng.choice((0x5455, 0x7875, 0x000A, 0x9901, 0xCAFE, 0x0017, 0xFFFF)), n)
            + bytes(n)
            for n in (rng.choice((0, 1, 5, 9, 32)) for _ in range(rng.randrange(1, 5)))
        )
    elif kind == 2:  # a field longer than the space left
        extra = struct.pack("<HH", rng.choice((0x0001, 0x5455, 0x7075)), rng.choice((4, 100, 0xFFFF))) + b"ab"
    elif kind == 3:  # odd bytes that are no field header
        extra = bytes(rng.randrange(1, 4))
    elif kind == 4:  # many small fields, up to the 64 KB limit
        extra = struct.pack("<HH", 0xCAFE, 0) * rng.choice((100, 5000, 16383))
    else:  # an Info-ZIP unicode path naming another file (0x7075, APPNOTE 4.6.9)
        name = rng.choice(HOSTILE_NAMES)
        body = b"\x01" + struct.pack("<I", zlib.crc32(member.name)) + name
        extra = struct.pack("<HH", 0x7075, len(body)) + body
    side = rng.randrange(3)
    if side in (0, 2):
        member.local_extra = extra if rng.random() < 0.5 else member.local_extra + extra
    if side in (1, 2):
        member.extra = extra if rng.random() < 0.5 else member.extra + extra


def zip64_member(archive: Archive, rng: random.Random) -> None:
    """A member marked as needing zip64 (0xFFFFFFFF), with or without a zip64 extra, true or lying."""
    member = _pick(archive, rng)
    names = rng.sample(("csize", "usize", "offset"), rng.randrange(1, 4))
    for name in names:
        member.central[name] = 0xFFFFFFFF
        if name != "offset" and rng.random() < 0.5:
            member.local[name] = 0xFFFFFFFF
    if rng.random() < 0.8:
        member.extra += _zip64_extra(rng, member)
    if rng.random() < 0.5:
        member.local_extra += _zip64_extra(rng, member)
    if rng.random() < 0.3:
        member.central["version"] = member.local["version"] = 45


def zip64_end(archive: Archive, rng: random.Random) -> None:
    n = len(archive.members)
    lie = rng.choice(("disk_entries", "total_entries", "cd_size", "cd_offset", "size", "cd_disk", None))
    archive.end.zip64 = {}
    if lie is not None:
        archive.end.zip64[lie] = rng.choice(
            (0, 1, n + 1, n - 1, 2**32, 2**40, 2**63, 2**64 - 1, 1001, 0xFFFF)
        )
    if rng.random() < 0.4:
        archive.end.locator = {
            rng.choice(("disk", "offset", "disks")): rng.choice((0, 2, 2**63, 2**64 - 1, 1, 56))
        }
    if rng.random() < 0.8:  # the plain end record sends readers to the zip64 one
        archive.end.disk_entries = archive.end.total_entries = 0xFFFF
    if rng.random() < 0.5:
        archive.end.cd_offset = 0xFFFFFFFF
    if rng.random() < 0.3:
        archive.end.cd_size = 0xFFFFFFFF


def zip64_locator_alone(archive: Archive, rng: random.Random) -> None:
    archive.end.locator = {"offset": rng.choice((0, 2**64 - 1, 2**40, 22, 1 << 20))}
    archive.end.total_entries = archive.end.disk_entries = rng.choice((0xFFFF, len(archive.members)))


def duplicates(archive: Archive, rng: random.Random) -> None:
    member = _pick(archive, rng)
    kind = rng.randrange(5)
    if kind == 0:  # the same member again, same name, possibly other content
        copy = replace(member, local=dict(member.local), central=dict(member.central), lengths={})
        if rng.random() < 0.5:
            copy.payload = b"{}"
            copy.local["method"] = copy.central["method"] = 0
            copy.local["csize"] = copy.local["usize"] = copy.central["csize"] = copy.central["usize"] = 2
            copy.local["crc"] = copy.central["crc"] = zlib.crc32(b"{}")
        archive.members.insert(rng.randrange(len(archive.members) + 1), copy)
    elif kind == 1:  # a second central record for the same local header
        archive.extra_central.append((archive.members.index(member), {}, member.name))
    elif kind == 2:  # a second central record, other name, same data (overlapping entries)
        archive.extra_central.append((archive.members.index(member), {}, rng.choice(HOSTILE_NAMES)))
    elif kind == 3:  # another member renamed to this one's name in a look-alike spelling
        other = _pick(archive, rng)
        variant = rng.choice((member.name, member.name.upper(), b"./" + member.name, member.name + b"/"))
        other.name = variant
        if rng.random() < 0.7:
            other.local_name = variant
    else:  # the central directory lists one member twice, the end record counts it
        index = archive.members.index(member)
        archive.order = [*range(len(archive.members)), index]


def header_offsets(archive: Archive, rng: random.Random) -> None:
    index = rng.randrange(len(archive.members))
    choice = rng.randrange(5)
    if choice == 0 and len(archive.members) > 1:
        archive.offsets[index] = 0  # another member's header
    else:
        archive.offsets[index] = rng.choice((1, 30, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF, 4096, 1 << 20))


def order(archive: Archive, rng: random.Random) -> None:
    indexes = list(range(len(archive.members)))
    rng.shuffle(indexes)
    if rng.random() < 0.5:
        archive.order = indexes
    else:
        archive.members = [archive.members[i] for i in indexes]
        archive.order = sorted(range(len(indexes)), key=lambda i: indexes[i])


def flood(archive: Archive, rng: random.Random) -> None:
    """Many small members (distinct or equal names) while the end record counts a few, or truly."""
    template = min(archive.members, key=lambda m: len(m.payload))
    count = rng.choice((999, 1001, FLOOD_MOST, rng.randrange(1, FLOOD_MOST)))
    same = rng.random() < 0.3
    for i in range(count):
        copy = replace(template, local=dict(template.local), central=dict(template.central), lengths={})
        name = template.name if same else b"deps/f%d" % i
        copy.name = copy.local_name = name
        archive.members.append(copy)
    if rng.random() < 0.7:
        archive.end.total_entries = archive.end.disk_entries = rng.choice((1, 2, 3, count % 0x10000))


def attributes(archive: Archive, rng: random.Random) -> None:
    member = _pick(archive, rng)
    mode = rng.choice((0o120777, 0o040755, 0o010644, 0o020644, 0o060644, 0o140755, 0o100000, 0o170777, 0))
    member.central["external"] = (mode << 16) | rng.choice((0, 0x10, 0x01, 0x20))
    member.central["made_by"] = (rng.choice((0, 3, 7, 10, 19, 0xFF)) << 8) | rng.choice((20, 63))
    member.central["internal"] = rng.choice((0, 1, 2, 0xFFFF))
    member.central["disk"] = rng.choice((0, 0, 1, 0xFFFF))


def versions(archive: Archive, rng: random.Random) -> None:
    member = _pick(archive, rng)
    value = rng.choice((0, 10, 20, 45, 46, 51, 62, 63, 99, 0xFFFF))
    if rng.random() < 0.6:
        member.local["version"] = value
    if rng.random() < 0.6:
        member.central["version"] = value


def payloads(archive: Archive, rng: random.Random) -> None:
    """The data no longer matches the headers: cut, grown, corrupted, with the CRC kept or fixed."""
    member = _pick(archive, rng)
    data = bytearray(member.payload)
    kind = rng.randrange(4)
    if kind == 0:
        data = data[: rng.randrange(len(data) + 1)]
    elif kind == 1:
        data += bytes(rng.randrange(1, 512))
    elif kind == 2 and data:
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    else:  # a stored member whose bytes are good but CRC and sizes are those of another member
        other = _pick(archive, rng)
        for name in ("crc", "csize", "usize", "method"):
            member.central[name] = member.local[name] = other.central[name]
    member.payload = bytes(data)
    if rng.random() < 0.5 and kind != 3:  # headers follow the payload's new length (only the CRC lies)
        for header in (member.local, member.central):
            header["csize"] = len(data)
            if header["method"] == 0:
                header["usize"] = len(data)


def gaps(archive: Archive, rng: random.Random) -> None:
    kind = rng.randrange(3)
    if kind == 0:
        archive.prefix = rng.choice((b"#!/bin/sh\n", b"PK\x03\x04", b"\0" * 4096, b"MZ" + bytes(62)))
    elif kind == 1:
        archive.gap = rng.choice((b"\0", b"PK\x03\x04" + bytes(26), b"PK\x07\x08" + bytes(12), bytes(1000)))
    else:
        member = _pick(archive, rng)
        member.descriptor += rng.choice((b"\0" * 7, b"PK\x01\x02", b"PK\x05\x06" + bytes(18)))


def comments(archive: Archive, rng: random.Random) -> None:
    member = _pick(archive, rng)
    member.comment = rng.choice(
        (b"x", b"\n::error::x\n", b"\x1b[31m", b"c" * 0xFFFF, b"PK\x05\x06" + bytes(18))
    )


def empty_directory(archive: Archive, rng: random.Random) -> None:
    """Members present, directory empty (or the reverse): counts 0 with records, records with no data."""
    if rng.random() < 0.5:
        archive.order = []
        archive.end.total_entries = archive.end.disk_entries = rng.choice((0, len(archive.members)))
    else:
        member = _pick(archive, rng)
        member.payload = b""


OPERATORS_LIST = (
    end_counts, end_offset, end_size, end_comment, end_disks, shared_field, shared_field, descriptor_sizes,
    names_differ, length_lies, extra_fields, zip64_member, zip64_end, zip64_locator_alone, duplicates,
    duplicates, header_offsets, order, flood, attributes, versions, payloads, gaps, comments,
    empty_directory,
)  # fmt: skip
OPERATORS = len(OPERATORS_LIST)


def mutate(data: bytes, operator: int, argument: int, *, rounds: int = 1) -> bytes:
    """`rounds` structural lies (the first chosen by `operator`, the rest drawn from `argument`)."""
    archive = parse(data)
    if archive is None or not archive.members:
        return data
    rng = random.Random(argument * 1_000_003 + operator)
    lie = OPERATORS_LIST[operator % OPERATORS]
    for _ in range(max(rounds, 1)):
        lie(archive, rng)
        lie = rng.choice(OPERATORS_LIST)
        if not archive.members:
            break
    return write(archive)


def operator_name(operator: int) -> str:
    return OPERATORS_LIST[operator % OPERATORS].__name__
