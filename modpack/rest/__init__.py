"""The user-defined module REST API of Redis Enterprise, both sides.

- `modpack.rest.server` and `modpack.rest.cluster`: a local cluster (`modpack serve`) that implements
  the endpoints of rest-api-user-defined-modules.txt with a SQLite configuration store and
  per-node artifact folders;
- `modpack.rest.client`: publishing a bundle to a cluster (`modpack publish` and friends).

Nothing heavy is imported here; the commands are in `modpack.cli.rest`.
"""
