"""RAMP (Redis Enterprise's packer) in one place: reading ramp.yml (`reader`), its command edits
(`edits`) and packing as `ramp pack` does (`pack`). See shared/reference/ramp.md."""

# declarations.py and validate.py still call `ramp.load` and `ramp.check`; they import
# modpack.ramp.reader directly in the next step of issue 15, and these two names go.
from modpack.ramp.reader import check, load

__all__ = ["check", "load"]
