"""A real redis-server, when one is installed: discover what a module registers and cross-check it.

Nothing here is imported by `modpack validate` unless `--load` asks for it, and nothing here needs
a redis-server until a function that loads a module is called.
"""
