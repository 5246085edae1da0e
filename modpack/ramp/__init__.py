"""RAMP (Redis Enterprise's packer) in one place: reading ramp.yml (`reader`), its command edits
(`edits`) and packing as `ramp pack` does (`pack`). See shared/reference/ramp.md."""
