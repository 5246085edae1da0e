"""Files named like a module's that hold something else: what pre-commit's hooks pass over.

The hooks pick files by name: docs/screenshots.zip, or a GitHub workflow named ramp-release.yml,
were validated as a bundle and a RAMP manifest and blocked the commit (`modpack validate
--skip-unrelated`).
"""

from __future__ import annotations

from pathlib import Path

from modpack.sources import kind_of


def unrelated(path: Path) -> str | None:
    """Why a file named like a module's holds something else, or None when it may be one.

    Only what is surely no module file is told apart: a readable zip with no .so and no module.json
    but one of another kind (a Foundry VTT module's release zip holds its own module.json), YAML
    whose top level is a mapping with none of the keys only RAMP manifests have (every one of the
    45 real manifests in the reference has one) or a list of such mappings (an Ansible playbook),
    and a module.json that is such a JSON object (a HumHub or Foundry VTT module.json: id, name,
    version, description). A file that cannot be read is left to validation, which says what is
    wrong: it may be a broken bundle or manifest.
    """
    kind = kind_of(path)
    if kind == "bundle":
        return _unrelated_zip(path)
    if kind == "ramp.yml":
        return _unrelated_yaml(path)
    if kind == "module.json":
        return _unrelated_json(path)
    return None


def _unrelated_zip(path: Path) -> str | None:
    import zipfile

    from modpack.bundle import read_small
    from modpack.regular import MAX_TEXT_FILE, open_regular

    try:
        with open_regular(path) as stream, zipfile.ZipFile(stream) as archive:
            names = [n.lower() for n in archive.namelist()]
            if any(n.endswith(".so") or ".so." in n for n in names):
                return None
            manifests = [
                i for i in archive.infolist() if i.filename.lower().rsplit("/", 1)[-1] == "module.json"
            ]
            if not manifests:
                return "a zip with no module.json and no .so: not a module bundle"
            # A Foundry VTT or HumHub module's release zip holds its own module.json, and no .so.
            if len(manifests) > 1:  # no such zip holds two: validation says what it is
                return None
            if not _other_module_json(read_small(archive, manifests[0], MAX_TEXT_FILE)):
                return None
    except Exception:  # damaged (a zip version it cannot read, ...): validation says
        return None
    return "a zip whose module.json has none of a Redis module's keys, and no .so: not a module bundle"


def _unrelated_yaml(path: Path) -> str | None:
    import yaml

    from modpack.ramp.reader import MANIFEST_KEYS, hold_placeholders
    from modpack.regular import MAX_TEXT_FILE, read_regular

    # libyaml when PyYAML has it: only the top-level keys matter here, and the pure-Python reader
    # took as long as validating the manifest afterwards (the reader's own pass reads as RAMP does).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text, _ = hold_placeholders(read_regular(path, MAX_TEXT_FILE).decode("utf-8"))
        document = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except Exception:  # unreadable, not YAML, nested too deep: validation says
        return None
    if isinstance(document, list) and document and all(isinstance(item, dict) and item for item in document):
        # an Ansible playbook (ramp.yml, ramp-up.yml): a list of plays; a manifest is one mapping
        if any(set(map(str, item)) & MANIFEST_KEYS for item in document):
            return None
        return "a YAML list of mappings with none of the keys a RAMP manifest has: not a RAMP manifest"
    if not isinstance(document, dict) or not document or set(map(str, document)) & MANIFEST_KEYS:
        return None
    return "YAML with none of the keys a RAMP manifest has: not a RAMP manifest"


def _unrelated_json(path: Path) -> str | None:
    from modpack.regular import MAX_TEXT_FILE, read_regular

    try:
        text = read_regular(path, MAX_TEXT_FILE)
    except Exception:  # unreadable: validation says
        return None
    if len(text) > MAX_TEXT_FILE or not _other_module_json(text):
        return None
    return "JSON with none of the keys a Redis module's module.json has: another kind of module.json"


def _other_module_json(text: bytes) -> bool:
    """True for a JSON object with none of a Redis module's keys (a HumHub or Foundry VTT module's)."""
    import json

    from modpack.ramp.reader import MANIFEST_KEYS

    try:
        document = json.loads(text.decode("utf-8-sig"))
    except Exception:  # not JSON, nested too deep: validation says
        return False
    return (
        isinstance(document, dict)
        and bool(document)
        and not set(document) & (_MODULE_JSON_KEYS | MANIFEST_KEYS)
    )


# module.json fields RAMP's manifest does not have (module.schema.json), besides MANIFEST_KEYS.
_MODULE_JSON_KEYS = frozenset({"os_list", "platforms", "git_sha"})
