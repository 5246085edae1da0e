"""The random engine: a seeded stream of inputs per target, for campaigns too long for hypothesis.

Each target draws a seed (real or crafted) and applies 1-8 random mutations, with the same
operators hypothesis uses (`tests.fuzz.mutate`). Zips get structural lies half of the time
(`tests.fuzz.zipstruct`: counts, offsets, local against central fields, zip64, duplicates). Module objects are edited as data instead (a
random node replaced, removed or grown), since mutated JSON text would rarely parse. The stream
is reproducible: the same `seed` gives the same inputs.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator, Sequence
from typing import Any

from tests.fuzz import mutate, seeds, zipstruct

_TEXT_KINDS = {
    "module_json": (seeds.module_json_seeds, "json", mutate.JSON_TOKENS),
    "modpack_toml": (seeds.toml_seeds, "toml", mutate.TOML_TOKENS),
    "ramp_yml": (seeds.yaml_seeds, "yaml", mutate.YAML_TOKENS),
}


def text_corpus(target: str) -> list[str]:
    real, crafted, _tokens = _TEXT_KINDS[target]
    hostile = seeds.crafted_texts()[crafted].values()
    return [data.decode("utf-8", "replace") for data in (*real(), *hostile)]


def binary_corpus(target: str) -> list[tuple[bytes, tuple[seeds.Field, ...]]]:
    """(seed, field anchors) for the binary targets."""
    if target in ("elf", "bundled_elf"):
        found = [*seeds.elf_seeds(), *seeds.crafted_elves().values()]
        return [(data, seeds.elf_anchors(data)) for data in found]
    found = [*seeds.zip_seeds(), *(d for d in seeds.crafted_zips().values() if len(d) < 200_000)]
    return [(data, seeds.zip_anchors(data)) for data in found]


def random_inputs(target: str, seed: int) -> Iterator[bytes]:
    """An endless, reproducible stream of inputs for `target`."""
    rng = random.Random(seed)
    if target == "module_object":
        yield from _documents(rng)
    elif target in _TEXT_KINDS:
        corpus, tokens = text_corpus(target), _TEXT_KINDS[target][2]
        while True:
            text = mutate.mutate_text(
                rng.choice(corpus), mutate.random_mutations(rng, mutate.TEXT_OPERATORS), tokens
            )
            yield text.encode("utf-8", "surrogatepass")
    else:
        items = binary_corpus(target)
        zips = target not in ("elf", "bundled_elf")
        while True:
            data, anchors = rng.choice(items)
            draw = rng.random()
            if zips and draw < 0.4:  # a coherent zip with one to three structural lies (zipstruct)
                yield zipstruct.mutate(
                    data,
                    rng.randrange(zipstruct.OPERATORS),
                    rng.getrandbits(32),
                    rounds=1 + int(rng.expovariate(1.2)) % 3,
                )
                continue
            if zips and draw < 0.5:  # one header field patched in place, or the directory repeated
                yield mutate.mutate_zip_structure(
                    data, rng.randrange(mutate.ZIP_OPERATORS), rng.randrange(1 << 16)
                )
                continue
            yield mutate.mutate_bytes(data, mutate.random_mutations(rng, mutate.BYTE_OPERATORS), anchors)


# --- module objects as data ---------------------------------------------------------------------------


def _documents(rng: random.Random) -> Iterator[bytes]:
    documents = []
    for data in seeds.module_json_seeds():
        try:
            documents.append(json.loads(data))
        except ValueError:
            continue
    pool = _values(documents)
    while True:
        document = copy.deepcopy(rng.choice(documents))
        for _ in range(1 + int(rng.expovariate(0.7)) % 6):
            document = _edit(document, rng, pool)
        yield json.dumps(document).encode()


def _values(documents: Sequence[Any]) -> list[Any]:
    """Every value found in the seeds, plus values that break types and ranges."""
    found: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        2**63,
        -(2**63) - 1,
        1e308,
        float("nan"),
        "",
        "x" * 5000,
        [],
        {},
    ]
    found += [[["deep"]] * 3, {"a": {"b": {"c": []}}}, "../x", "a\x00b", "\ud800", "7.0", "7.4.2", "rhel9"]
    stack = list(documents)
    while stack:
        value = stack.pop()
        found.append(value)
        if isinstance(value, dict):
            stack += list(value.values())
            found += list(value)
        elif isinstance(value, list):
            stack += value
    return found


def _containers(value: Any) -> list[Any]:
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack += list(item.values()) if isinstance(item, dict) else item
    return found


def _edit(document: Any, rng: random.Random, pool: Sequence[Any]) -> Any:
    """Replace, remove or add one value somewhere in the document (or replace the whole)."""
    containers = _containers(document)
    if not containers or rng.random() < 0.03:
        return copy.deepcopy(rng.choice(pool))
    node = rng.choice(containers)
    value = copy.deepcopy(rng.choice(pool))
    if isinstance(node, dict):
        keys = list(node)
        key = (
            rng.choice(keys)
            if keys and rng.random() < 0.7
            else rng.choice([k for k in pool if isinstance(k, str)] or ["k"])
        )
        if rng.random() < 0.2 and key in node:
            del node[key]
        else:
            node[key] = value
    elif node and rng.random() < 0.5:
        node[rng.randrange(len(node))] = value
    elif node and rng.random() < 0.3:
        del node[rng.randrange(len(node))]
    else:
        node.insert(rng.randrange(len(node) + 1), value)
    return document
