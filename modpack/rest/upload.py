"""Receiving an artifact: stream the `module` field to a temporary file, then judge the bundle.

The body is parsed as it arrives (python-multipart's push parser); only the `module` file field
is written, to a temporary file inside the node's own `.tmp/` folder, and the size limit is
checked on every chunk, so an oversized upload stops at the limit and never fills the disk.
Nothing reaches the artifact folder from here: the caller renames a complete, valid upload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from modpack.findings import Finding, Severity
from modpack.rest import store
from modpack.rest.problems import ApiError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

    from modpack.types import Module

FIELD = b"module"
HEADER_SLACK = 64 * 1024  # multipart headers and small fields around the file
WRITE_BUFFER = 256 * 1024


class _TooLarge(Exception):
    pass


@dataclass
class _Receiver:
    """python-multipart callbacks that copy the first `module` part into `out`."""

    out: IO[bytes]
    limit: int
    size: int = 0
    found: bool = False
    duplicate: bool = False
    writing: bool = False
    complete: bool = False
    _field: bytearray = field(default_factory=bytearray)
    _value: bytearray = field(default_factory=bytearray)
    _disposition: bytes = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._field).lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        if params.get(b"name") != FIELD:
            return
        self.duplicate |= self.found
        self.writing = not self.found
        self.found = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.writing:
            return
        self.size += end - start
        if self.size > self.limit:
            raise _TooLarge
        self.out.write(memoryview(data)[start:end])

    def _part_end(self) -> None:
        self.writing = False

    def _end(self) -> None:
        self.complete = True


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(
            "no_module", "send the artifact as multipart/form-data with a file field named 'module'"
        )
    return boundary


def check_declared_length(value: str | None, limit: int) -> None:
    """Refuse before reading a byte when Content-Length already exceeds the limit."""
    if value is not None and value.isdigit() and int(value) > limit + HEADER_SLACK:
        raise too_large(limit)


def too_large(limit: int) -> ApiError:
    return ApiError("module_too_large", f"the artifact is larger than this node's limit of {limit} bytes")


class Upload:
    """One upload being received into `path`; `receive()` then `finish()`, `discard()` always."""

    def __init__(self, artifacts: store.NodeArtifacts, boundary: bytes, limit: int) -> None:
        fd, self.path = artifacts.new_upload()
        self._out = os.fdopen(fd, "wb", buffering=WRITE_BUFFER)
        self._receiver = _Receiver(self._out, limit)
        self._parser = MultipartParser(boundary, self._receiver.callbacks())
        self._limit = limit
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        self._total += len(chunk)
        if self._total > self._limit + HEADER_SLACK:
            raise too_large(self._limit)
        try:
            self._parser.write(chunk)
        except _TooLarge:
            raise too_large(self._limit) from None
        except MultipartParseError as exc:
            raise ApiError("invalid_module", f"the multipart body is malformed: {exc}") from None

    def finish(self) -> Path:
        """Flush and close the received file; errors when the body held no complete artifact.
        `sync` makes it durable, which the caller runs while the bundle is validated."""
        self._out.flush()
        self._out.close()
        receiver = self._receiver
        if not receiver.complete:
            raise ApiError("invalid_module", "the multipart body ended before its closing boundary")
        if not receiver.found:
            raise ApiError("no_module", "the multipart body has no file field named 'module'")
        if receiver.duplicate:
            raise ApiError("invalid_module", "the multipart body has more than one 'module' field")
        if receiver.size == 0:
            raise ApiError("invalid_module", "the 'module' field is empty")
        return self.path

    def sync(self) -> None:
        """fsync the received file (its pages written from any descriptor: fsync(2) syncs the file).
        Before the file is placed: a crash must not leave a placed artifact of unwritten pages."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def discard(self) -> None:
        try:
            if not self._out.closed:
                self._out.close()  # flushes what is buffered: ENOSPC again on a full disk
        except OSError:
            pass  # the file is dropped anyway: what it failed to write does not matter
        finally:
            self.path.unlink(missing_ok=True)


# --- judging the received bundle --------------------------------------------------------------


def judge(module: Module | None, findings: list[Finding]) -> Module:
    """The bundle's module.json when the bundle may be installed; ApiError (400/406) otherwise.

    Errors about the archive itself (ZIP rules) make a bad artifact, 400; errors in what it holds
    (module.json, the binary) make bad metadata, 406. Warnings never refuse an upload.
    """
    errors = [f for f in findings if f.severity is Severity.ERROR]
    archive = [f for f in errors if f.code.startswith(("ZIP", "IN001"))]
    if archive:
        raise ApiError("invalid_module", describe(archive))
    if errors:
        raise ApiError("invalid_module_metadata", describe(errors))
    if module is None:
        raise ApiError("invalid_module", "the bundle has no readable module.json")
    return module


def describe(findings: list[Finding], limit: int = 10) -> str:
    """`code at path: message` for each finding, the way a person fixing them wants to read them."""
    parts = [_one(f) for f in findings[:limit]]
    if len(findings) > limit:
        parts.append(f"and {len(findings) - limit} more")
    return "; ".join(parts)


def _one(finding: Finding) -> str:
    where = f" at {finding.location.path}" if finding.location.path else ""
    return f"{finding.code}{where}: {finding.message}"


def check_platform(module: Module, node_os: str, node_arch: str) -> None:
    """406 when the node's OS or architecture is not one the bundle is built for."""
    from modpack import policy

    name = module["module_name"]
    systems = module.get("operating_systems")
    if isinstance(systems, list) and systems:
        canonical = {policy.canonical_os(str(s)) or str(s).lower() for s in systems}
        if node_os not in canonical:
            raise ApiError(
                "os_not_supported",
                f"Module {name!r} is not compatible with this node's OS {node_os!r}."
                f" Supported operating systems: {systems}",
            )
    arch = module.get("architecture")
    if isinstance(arch, str) and arch and arch != node_arch:
        raise ApiError(
            "module_architecture_not_supported",
            f"Module {name!r} is built for {arch}; this node is {node_arch}",
        )
