"""modpack: package, validate and publish custom Redis modules for Redis Enterprise Software."""

__version__ = "0.1.0"
