"""Where a local cluster keeps what it has: the configuration store and each node's artifacts.

- The configuration store (the CCS of a real cluster) is one SQLite database,
  `<data>/ccs.sqlite3`, in WAL mode with synchronous=FULL: a committed module object survives a
  crash of the process and of the machine.
- Each node keeps its artifacts under `<data>/node-<uid>/<module_name>/<version>/` (the uploaded
  zip as `module.zip`, and its `module.json`). An artifact folder is built complete in the node's
  `.tmp/` folder, then renamed into place, so a reader sees a whole artifact or none.

Names coming from requests become path components only after `module_name()` / `version()`
accepted them: one safe component, never `/`, `..`, NUL or an absolute path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from modpack.atomic import fsync_folder
from modpack.errors import ModpackError
from modpack.types import JSON, Module

ARTIFACT_ZIP = "module.zip"
ARTIFACT_JSON = "module.json"
TEMP_FOLDER = ".tmp"
MAX_VERSION = 2**63 - 1  # SQLite INTEGER

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_VERSION = re.compile(r"[0-9]{1,19}")


class UnsafeNameError(ValueError):
    """A module name or version that cannot be used (as a path component or at all)."""


class ModuleExistsError(Exception):
    """The configuration store already holds a module object with this name and version."""

    def __init__(self, existing: Module) -> None:
        super().__init__(f"{existing['module_name']} {existing['version']} exists")
        self.existing = existing


class DamagedModuleError(Exception):
    """The store holds a row under this name and version that no response can carry (see
    `ConfigStore.unservable`): it takes the name and version, and only its uid removes it."""

    def __init__(self, uid: str, why: str, name: str, number: int) -> None:
        super().__init__(f"{name} {number}: {why}")
        self.uid, self.why, self.name, self.number = uid, why, name, number

    def describe(self, *, legacy: bool = False) -> str:
        """`legacy`: the cluster serves RS 7.x's API, whose DELETE is /v2/modules/<uid>."""
        return (
            f"the configuration store holds a damaged module object for {self.name} version {self.number}"
            f" (uid {self.uid}: {self.why}); {delete_route(self.uid, legacy=legacy)} removes it"
        )


def delete_route(uid: str, *, legacy: bool) -> str:
    """The request that deletes module object `uid` on this API (RS 7.x: /v2/modules/<uid>)."""
    return f"DELETE /v2/modules/{uid}" if legacy else f"DELETE /v2/modules/user-defined/{uid}"


def module_name(value: object) -> str:
    """`value` when it is a safe module name: letters, digits, `_`, `.`, `-`, starting alnum."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise UnsafeNameError(
            f"module_name {value!r} is not usable: it must be 1-128 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    return value


def version(value: object) -> int:
    """`value` as a module version: a non-negative integer (or its decimal digits)."""
    if isinstance(value, bool):
        raise UnsafeNameError(f"version {value!r} is not an integer")
    if isinstance(value, int) and 0 <= value <= MAX_VERSION:
        return value
    if isinstance(value, str) and _VERSION.fullmatch(value) and int(value) <= MAX_VERSION:
        return int(value)
    if (isinstance(value, int) and value > MAX_VERSION) or (
        isinstance(value, str) and value.isascii() and value.isdigit()
    ):
        # digits only, and too many for one (a 20-digit number, or 19 above the largest)
        shown = (
            value if isinstance(value, int) or len(value) <= 40 else f"{value[:40]}... ({len(value)} digits)"
        )
        raise UnsafeNameError(f"version {shown!r} is larger than the largest version, {MAX_VERSION}")
    raise UnsafeNameError(f"version {value!r} is not a non-negative integer")


# --- configuration store ----------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS modules (
    uid TEXT PRIMARY KEY,
    module_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    UNIQUE (module_name, version)
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ConfigStore:
    """Module objects and cluster settings, in SQLite. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            # a store of another program with a `modules` table fails here, not at the first request
            self._db.execute("SELECT uid, module_name, version, document FROM modules LIMIT 0")
        except sqlite3.Error as exc:  # a damaged file, a folder at its name: an internal error before
            raise unusable(path, exc, "open") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create_module(self, document: Module) -> Module:
        """Store a module object; returns it with its new `uid`."""
        stored: Module = {**document, "uid": uuid.uuid4().hex, "is_bundled": False}
        name, number = module_name(document.get("module_name")), version(document.get("version"))
        with self._lock:
            existing = self._find(name, number)
            if existing is not None:
                raise ModuleExistsError(existing)
            self._db.execute(
                "INSERT INTO modules (uid, module_name, version, document) VALUES (?, ?, ?, ?)",
                (stored["uid"], name, number, dumps(stored)),
            )
        return stored

    def has_modules(self) -> bool:
        """Whether any module object is stored, servable or not."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM modules LIMIT 1").fetchone() is not None

    def add_bundled(self, documents: list[Module]) -> None:
        """Module objects a release ships, each with its own uid and `is_bundled` true; one whose
        name and version are already stored is left out."""
        with self._lock:
            for document in documents:
                name, number = module_name(document.get("module_name")), version(document.get("version"))
                if self._find(name, number) is None:
                    self._db.execute(
                        "INSERT INTO modules (uid, module_name, version, document) VALUES (?, ?, ?, ?)",
                        (document["uid"], name, number, dumps({**document, "is_bundled": True})),
                    )

    def modules(self) -> list[Module]:
        """Every module object that can be served; a row that cannot (see `unservable`) is skipped."""
        with self._lock:
            rows = self._db.execute("SELECT document FROM modules ORDER BY module_name, version").fetchall()
        return [document for row in rows if (document := _servable(row[0])) is not None]

    def module(self, uid: str) -> Module | None:
        with self._lock:
            row = self._db.execute("SELECT document FROM modules WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else _servable(row[0])

    def unservable(self) -> list[tuple[str, str]]:
        """(uid, why) of each stored row no response could carry (NaN, a lone surrogate, not an
        object: written before the server refused such bodies). They are skipped by `modules()`
        and can still be deleted by uid."""
        with self._lock:
            rows = self._db.execute("SELECT uid, document FROM modules ORDER BY uid").fetchall()
        found = []
        for uid, text in rows:
            why = _unservable_reason(text)
            if why is not None:
                found.append((str(uid), why))
        return found

    def find(self, name: str, number: int) -> Module | None:
        with self._lock:
            return self._find(name, number)

    def _find(self, name: str, number: int) -> Module | None:
        """The module object of this name and version; DamagedModuleError when its row cannot be
        served (a JSONDecodeError once answered every request for it with a 500)."""
        row = self._db.execute(
            "SELECT uid, document FROM modules WHERE module_name = ? AND version = ?", (name, number)
        ).fetchone()
        if row is None:
            return None
        document, why = _read(row[1])
        if document is None:
            raise DamagedModuleError(str(row[0]), why, name, number)
        return document

    def update_module(self, document: Module) -> None:
        """Rewrite a stored module object (same uid, name and version)."""
        with self._lock:
            self._db.execute(
                "UPDATE modules SET document = ? WHERE uid = ?", (dumps(document), document["uid"])
            )

    def delete_module(self, uid: str) -> bool:
        return self.take_module(uid) is not None

    def module_key(self, uid: str) -> tuple[str, int] | None:
        """The module name and version of the module object `uid`, its document readable or not
        (a damaged row too); None when there is none."""
        with self._lock:
            row = self._db.execute(
                "SELECT module_name, version FROM modules WHERE uid = ?", (uid,)
            ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def take_module(self, uid: str) -> tuple[str, int] | None:
        """Delete the module object `uid`, its document readable or not (a damaged row too), and
        return its module name and version; None when there is none."""
        with self._lock:
            row = self._db.execute(
                "SELECT module_name, version FROM modules WHERE uid = ?", (uid,)
            ).fetchone()
            if row is None:
                return None
            self._db.execute("DELETE FROM modules WHERE uid = ?", (uid,))
        return str(row[0]), int(row[1])

    def setting(self, key: str, default: JSON) -> JSON:
        """A stored setting, or `default`: also for a value that is no JSON (edited by hand), which
        made serve exit with "internal error: JSONDecodeError"; a warning names it."""
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return loads(str(row[0]))
        except (ValueError, RecursionError):
            logging.getLogger(__name__).warning(
                "setting %s in %s is not JSON (%r): taken as not set", key, self.path, str(row[0])[:40]
            )
            return default

    def set_setting(self, key: str, value: JSON) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )


# Less room than this on the store's file system is why sqlite failed when its error does not say
# so itself: opening a WAL store sizes its 32 KiB -shm index (a full disk fails that with
# SQLITE_IOERR_SHMSIZE, "disk I/O error") and a write appends WAL frames of a page each.
LOW_SPACE = 1024 * 1024


def disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT from the system, or sqlite's SQLITE_FULL ("database or disk is full"),
    read from the error code sqlite3 sets on what it raises (Python 3.11), not from the message."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_FULL


def unusable(path: Path, exc: sqlite3.Error, doing: str) -> ModpackError:
    """Why serve cannot `doing` ("open", "use") its configuration store, and what to do.

    A full file system is said as such, naming the folder: serve restarted on a full disk said
    the store was damaged and to give a new --data folder, abandoning a healthy store (a full
    disk fails a transaction, it does not damage the file). Its error is SQLITE_FULL, or one
    that does not say why (SQLITE_IOERR_SHMSIZE "disk I/O error", SQLITE_CANTOPEN), and then
    the file system's free space tells."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    name = getattr(exc, "sqlite_errorname", None) or "sqlite"
    folder = path.parent
    room = room_left(folder) if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN) else None
    if disk_full(exc) or room is not None:
        return ModpackError(
            f"cannot {doing} the configuration store {path}: the file system holding {folder} is full"
            f" ({f'{room}; ' if room else ''}{name}: {exc})",
            "Free space on that file system (or raise the quota), then start serve again with the same"
            " --data: a full disk does not damage the store.",
        )
    if primary == sqlite3.SQLITE_IOERR:
        return ModpackError(
            f"cannot {doing} the configuration store {path}: {exc} ({name})",
            f"The file system holding {folder} failed a read or a write (the kernel's log may say why);"
            " check that disk, then start serve again with the same --data.",
        )
    return ModpackError(
        f"cannot {doing} the configuration store {path}: {exc}",
        "--data names a folder whose store is damaged or another program's: give a new --data"
        " folder (or move this one away).",
    )


def room_left(folder: Path) -> str | None:
    """How little room the file system holding `folder` has ("12 KiB free", "no free inodes")
    when it is below LOW_SPACE; None when there is room, or statvfs cannot tell."""
    try:
        found = os.statvfs(folder)
    except OSError:
        return None
    if found.f_files and not found.f_ffree:  # a file system that counts inodes has none left
        return "no free inodes"
    blocks = found.f_bfree if os.geteuid() == 0 else found.f_bavail  # root writes the reserved ones
    free = blocks * found.f_frsize
    return f"{free // 1024} KiB free" if free < LOW_SPACE else None


# --- JSON a response can carry: what the server accepts is what the store can write --------------


def dumps(document: JSON) -> str:
    """`document` as the JSON text the store keeps and a response carries: strict JSON (no NaN or
    Infinity, RFC 8259 §6) that encodes as UTF-8 (a lone surrogate such as `\\ud800` does not).
    ValueError when it has none, RecursionError when nested past Python's limit."""
    text = json.dumps(document, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # a lone surrogate raises here (UnicodeEncodeError, a ValueError)
    return text


def loads(text: str) -> JSON:
    """Strict JSON text as a value: NaN, Infinity and numbers past a float's range (1e999) are
    refused (ValueError), as `dumps` could not write them back."""
    value: JSON = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    return value


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value (RFC 8259 §6)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def reason(exc: BaseException, limit: int = 300) -> str:
    """What went wrong, for a client or a log line: the message, cut at `limit` characters."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _read(text: object) -> tuple[Module | None, str]:
    """(document, "") for a row a response can carry, else (None, why)."""
    try:
        document = loads(str(text))
        if not isinstance(document, dict):
            return None, "the stored document is not a JSON object"
        dumps(document)
    except (ValueError, RecursionError) as exc:
        return None, reason(exc, 200)
    return document, ""


def _unservable_reason(text: object) -> str | None:
    return _read(text)[1] or None


def _servable(text: object) -> Module | None:
    return _read(text)[0]


# --- artifacts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    module_name: str
    version: int
    dependencies: list[str]

    def as_json(self) -> dict[str, JSON]:
        names: list[JSON] = [*self.dependencies]
        return {"module_name": self.module_name, "version": self.version, "dependencies": names}


class NodeArtifacts:
    """One node's artifact folder. Callers serialise writers of one (name, version) themselves."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp = root / TEMP_FOLDER

    def prepare(self) -> None:
        """Create the folders (0700, whatever the umask) and drop what an interrupted upload or
        delete left in `.tmp/`."""
        from modpack.rest.tls import private_folder

        private_folder(self.root)
        shutil.rmtree(self.temp, ignore_errors=True)
        private_folder(self.temp)

    def new_upload(self) -> tuple[int, Path]:
        """An open file descriptor and path for an upload being received."""
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".zip", dir=self.temp)
        return fd, Path(name)

    def folder(self, name: str, number: int) -> Path:
        return self.root / module_name(name) / str(version(number))

    def exists(self, name: str, number: int) -> bool:
        return (self.folder(name, number) / ARTIFACT_JSON).is_file()

    def artifacts(self) -> list[Artifact]:
        return sorted(self._scan(), key=lambda a: (a.module_name, a.version))

    def _scan(self) -> Iterator[Artifact]:
        for name_dir in _subfolders(self.root):
            if name_dir.name == TEMP_FOLDER:
                continue
            for version_dir in _subfolders(name_dir):
                artifact = _read_artifact(name_dir.name, version_dir)
                if artifact is not None:
                    yield artifact

    def place(self, upload: Path, module: Module) -> None:
        """Move a validated upload into `<name>/<version>/`, replacing what was there.

        Whatever fails (ENOSPC writing module.json, most often), the stage folder goes, with the
        upload renamed into it, and the artifact that was there stays: a failed place once left
        the whole upload in `.tmp/stage-*/`, keeping a full disk full until serve restarted."""
        target = self.folder(module_name(module.get("module_name")), version(module.get("version")))
        stage = Path(tempfile.mkdtemp(prefix="stage-", dir=self.temp))
        moved_in = False
        try:
            upload.replace(stage / ARTIFACT_ZIP)
            _write_synced(stage / ARTIFACT_JSON, json.dumps(module, indent=1).encode())
            fsync_folder(stage)
            target.parent.mkdir(exist_ok=True)
            if target.exists() and _exchange(stage, target):
                fsync_folder(target.parent)  # the old artifact now sits in the stage folder
            else:
                self._move_in(stage, target)
                moved_in = True
        finally:
            if not moved_in:  # the upload, or the artifact it replaced
                shutil.rmtree(stage, ignore_errors=True)

    def _move_in(self, stage: Path, target: Path) -> None:
        """Rename `stage` to `target` where no atomic exchange is to be had: a two-rename gap
        remains. The old artifact is put back when the second rename fails."""
        trash = self._hide(target)
        try:
            stage.replace(target)
        except OSError:
            if trash is not None:
                with contextlib.suppress(OSError):  # else .tmp/ keeps it until the next start
                    (trash / "artifact").replace(target)
                    shutil.rmtree(trash, ignore_errors=True)
            raise
        fsync_folder(target.parent)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def remove(self, name: str, number: int) -> bool:
        """Delete an artifact; False when there was none."""
        target = self.folder(name, number)
        if not target.exists():
            return False
        self._discard(target)
        fsync_folder(target.parent)
        return True

    def _hide(self, folder: Path) -> Path | None:
        """Take a folder out of sight with one rename; the caller deletes it when safe."""
        if not folder.exists():
            return None
        trash = Path(tempfile.mkdtemp(prefix="trash-", dir=self.temp))
        try:
            folder.replace(trash / "artifact")
        except OSError:
            trash.rmdir()  # empty: nothing was hidden
            raise
        return trash

    def _discard(self, folder: Path) -> None:
        """Take a folder out of sight with one rename, then delete it at leisure."""
        trash = self._hide(folder)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported.

    Replacing an artifact this way leaves no moment, even under SIGKILL, without one.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return bool(result == 0)


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _read_artifact(name: str, folder: Path) -> Artifact | None:
    try:
        number = version(folder.name)
        document = json.loads((folder / ARTIFACT_JSON).read_text(encoding="utf-8"))
    except (UnsafeNameError, OSError, ValueError):
        return None
    dependencies = document.get("dependencies") if isinstance(document, dict) else None
    names = sorted(dependencies) if isinstance(dependencies, dict) else []
    return Artifact(name, number, names)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
