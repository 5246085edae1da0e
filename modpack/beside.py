"""Files around a path: the one module binary in a folder, a file whose name is close to one that
is not there, and what in a folder a dependency archive cannot hold. Messages name them."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection


def only_binary_in(folder: Path) -> Path | None:
    """The one .so file in `folder`, when its name can be module_file (SCH006 refuses others, so
    a build from it would fail); None when there is none, or several to choose from."""
    try:
        found = [p for p in folder.glob("*.so") if p.is_file()]
    except OSError:
        return None
    from modpack.checks.metadata import SAFE_NAME

    if len(found) != 1 or not SAFE_NAME.fullmatch(found[0].name):
        return None
    return found[0]


def close_sibling(path: Path, *, skip: Collection[str] = (), most: int = 1000) -> str | None:
    """The name of a regular file beside `path` (which is not there) that differs from its name by a
    typo: same suffix, difflib ratio at least 0.85 ("helo.so" for "hello.so"); None when there is
    none, or the folder cannot be read. `skip`: names not to give (what the declarations name for
    other builds: "hello-rhel8.so" is close to a "hello-rhel9.so" not built yet). A name, not a
    verdict: callers say it beside what they say, and do not call the path a typo. At most `most`
    entries of the folder are read."""
    import difflib
    import itertools

    try:
        with os.scandir(path.parent if str(path.parent) else ".") as entries:
            names = [
                e.name
                for e in itertools.islice(entries, most)
                if e.name != path.name
                and e.name not in skip
                and Path(e.name).suffix == path.suffix
                and e.is_file()
            ]
    except (OSError, ValueError):
        return None
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.85)
    return close[0] if close else None


UNPACKABLE_HINT = (
    "Put a copy of the file itself in its place (cp -L copies what a symlink points to), or move it"
    " out of the folder that local_path names."
)


def first_unpackable(root: Path) -> str | None:
    """What at `root` or in the folder `root` a dependency archive cannot hold, said as "PATH is a
    symbolic link" (a symlink, a FIFO, a device: only folders and regular files are packed,
    builder._tar_gz); None when all of it can be packed, or `root` is not there. In the order the
    build packs it."""
    from modpack.regular import kind_of as kind_of_mode

    try:
        mode = root.lstat().st_mode
    except (OSError, ValueError):
        return None  # not there, or not a path: the build names that
    if stat.S_ISLNK(mode):
        return f"{root} is a symbolic link"
    if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        return f"{root} is {kind_of_mode(mode)}"

    def walk(folder: Path) -> str | None:
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError:
            return None  # the build names what it cannot read
        for child in children:
            try:
                mode = child.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                found = walk(child)
                if found is not None:
                    return found
            elif stat.S_ISLNK(mode):
                return f"{child} is a symbolic link"
            elif not stat.S_ISREG(mode):
                return f"{child} is {kind_of_mode(mode)}"
        return None

    return walk(root) if stat.S_ISDIR(mode) else None
