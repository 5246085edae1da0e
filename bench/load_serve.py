"""Load on `modpack serve`: many concurrent clients uploading and listing, then an artifact audit.

The server is `python -m modpack serve --allow-modules-upload` (3 nodes, HTTPS, 127.0.0.1; the
8.2 switch starts off on a fresh data folder) in its own process, on a fresh data folder. Each client owns one module (`load-<n>`, versions 1..VERSIONS, module objects created
before the clock starts) and loops until the time is up: upload one of its bundles to a node
(rotating), list that node's artifacts, list the module objects. One iteration in four it uploads
the shared bundle (`shared` version 1, the same bytes from every client) instead: deliberate
collisions on one artifact.

Reported: requests, answers by status per kind, p50/p99 latency per kind, the server's peak
memory (VmHWM). Then, without downloading anything, every artifact file on disk is checked:
its sha256 is the sha256 of the bundle uploaded for it, every upload answered 200 is on disk,
every listed artifact exists. Targets (issue 8): 0 5xx, 0 lost or corrupted artifacts.
Usage: python bench/load_serve.py [--seconds 30] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.rest import module_json  # a valid module.json for hello.so

HELLO = ROOT / "fixtures" / "so" / "x86_64" / "hello.so"
USER, PASSWORD = "admin", "load-bench-password"
ARTIFACTS = "/v2/local/modules/user-defined/artifacts"
VERSIONS = 3
SHARED = ("shared", 1)
COLLIDE_EVERY = 4


def module(name: str, version: int) -> dict[str, Any]:
    semantic = f"{version // 10000}.{version // 100 % 100}.{version % 100}"
    return module_json(module_name=name, version=version, semantic_version=semantic)


def bundle_bytes(name: str, version: int) -> bytes:
    """A deterministic bundle (fixed timestamps): the same (name, version) gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry_name, data, mode in (
            ("module.json", json.dumps(module(name, version)).encode(), 0o644),
            ("hello.so", HELLO.read_bytes(), 0o755),
        ):
            entry = zipfile.ZipInfo(entry_name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = (0o100000 | mode) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return buffer.getvalue()


@dataclass
class Stats:
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    uploaded: set[tuple[int, str, int]] = field(default_factory=set)  # (node, name, version) answered 200

    def record(self, kind: str, seconds: float, status: str) -> None:
        self.latencies[kind].append(seconds)
        self.statuses[kind][status] += 1


# --- the server -------------------------------------------------------------------------------


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    ports = data.parent / "ports.json"
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0"]
    command += ["--ports-file", str(ports), "--allow-modules-upload"]
    env = {**os.environ, "MODPACK_ADMIN_PASSWORD": PASSWORD}  # never on the command line (ps)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not ports.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            error = process.stderr.read().decode() if process.stderr else ""
            sys.exit(f"modpack serve did not start: {error}")
        time.sleep(0.05)
    return process, json.loads(ports.read_text())


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if process.stderr:
        process.stderr.close()


# --- the clients ------------------------------------------------------------------------------


async def timed(stats: Stats, kind: str, call: Any) -> httpx.Response | None:
    start = time.perf_counter()
    try:
        response: httpx.Response = await call
    except httpx.HTTPError as exc:
        stats.record(kind, time.perf_counter() - start, f"transport:{type(exc).__name__}")
        return None
    stats.record(kind, time.perf_counter() - start, str(response.status_code))
    return response


async def run_client(
    number: int,
    http: httpx.AsyncClient,
    nodes: list[str],
    bundles: dict[tuple[str, int], bytes],
    stats: Stats,
    until: float,
) -> None:
    iteration = 0
    while time.monotonic() < until:
        node = (number + iteration) % len(nodes)
        key = (
            SHARED
            if iteration % COLLIDE_EVERY == number % COLLIDE_EVERY
            else (f"load-{number}", iteration % VERSIONS + 1)
        )
        files = {"module": (f"{key[0]}-{key[1]}.zip", bundles[key], "application/zip")}
        response = await timed(stats, "upload", http.post(nodes[node] + ARTIFACTS, files=files))
        if response is not None and response.status_code == 200:
            stats.uploaded.add((node + 1, *key))
        await timed(stats, "list_artifacts", http.get(nodes[node] + ARTIFACTS))
        await timed(stats, "list_modules", http.get(nodes[0] + "/v1/modules"))
        iteration += 1


async def create_modules(http: httpx.AsyncClient, cluster: str, keys: list[tuple[str, int]]) -> None:
    for name, version in keys:
        response = await http.post(f"{cluster}/v2/modules/user-defined", json=module(name, version))
        response.raise_for_status()


async def drive(
    info: dict[str, Any], clients: int, seconds: float, bundles: dict[tuple[str, int], bytes]
) -> Stats:
    stats = Stats()
    nodes = [n["url"] for n in info["nodes"]]
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(
        auth=(USER, PASSWORD), verify=info["ca_cert"], timeout=60, limits=limits
    ) as http:
        await create_modules(http, info["cluster"], list(bundles))
        until = time.monotonic() + seconds
        await asyncio.gather(*(run_client(i, http, nodes, bundles, stats, until) for i in range(clients)))
    return stats


# --- the audit --------------------------------------------------------------------------------


def audit(data: Path, info: dict[str, Any], stats: Stats, bundles: dict[tuple[str, int], bytes]) -> list[str]:
    """Problems found on disk: lost, corrupted, unexpected, or listed but missing artifacts."""
    problems = []
    expected_sha = {key: hashlib.sha256(body).hexdigest() for key, body in bundles.items()}
    on_disk = {}
    for node_dir in sorted(data.glob("node-*")):
        uid = int(node_dir.name.removeprefix("node-"))
        leftovers = list((node_dir / ".tmp").iterdir())
        if leftovers:
            problems.append(f"node {uid}: {len(leftovers)} files left in .tmp/")
        for zipped in node_dir.glob("*/*/module.zip"):
            if zipped.parent.parent.name == ".tmp":
                continue
            key = (zipped.parent.parent.name, int(zipped.parent.name))
            on_disk[(uid, *key)] = hashlib.sha256(zipped.read_bytes()).hexdigest()
    for found, sha in sorted(on_disk.items()):
        if expected_sha.get(found[1:]) != sha:
            problems.append(f"corrupted or unexpected: node {found[0]} {found[1]} {found[2]}")
    problems += [
        f"lost: node {k[0]} {k[1]} {k[2]} (answered 200)" for k in sorted(stats.uploaded - set(on_disk))
    ]
    with httpx.Client(auth=(USER, PASSWORD), verify=info["ca_cert"], timeout=30) as http:
        for node in info["nodes"]:
            for artifact in http.get(node["url"] + ARTIFACTS).raise_for_status().json():
                if (node["uid"], artifact["module_name"], artifact["version"]) not in on_disk:
                    problems.append(f"listed but missing: node {node['uid']} {artifact}")
    return problems


# --- report -----------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def report(
    stats: Stats, seconds: float, clients: int, peak_mb: float, problems: list[str], on_disk: int
) -> None:
    total = sum(len(v) for v in stats.latencies.values())
    print(f"{clients} clients, {seconds:.0f} s, 3 nodes HTTPS: {total} requests ({total / seconds:.0f}/s)")
    print(f"{'kind':<16}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    for kind, values in sorted(stats.latencies.items()):
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(stats.statuses[kind].items()))
        p50, p99 = percentile(values, 0.50) * 1000, percentile(values, 0.99) * 1000
        print(f"{kind:<16}{len(values):>9}{p50:>9.1f}{p99:>9.1f}  {statuses}")
    five_xx = sum(n for c in stats.statuses.values() for s, n in c.items() if s.startswith("5"))
    transport = sum(n for c in stats.statuses.values() for s, n in c.items() if s.startswith("transport"))
    print(f"5xx: {five_xx}; transport errors: {transport}")
    print(f"server peak memory (VmHWM): {peak_mb:.1f} MB")
    print(f"artifacts on disk: {on_disk}; uploads answered 200 (distinct): {len(stats.uploaded)}")
    print(f"artifact audit: {'OK' if not problems else f'{len(problems)} problems'}")
    for problem in problems[:20]:
        print(f"  {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    keys = [SHARED] + [(f"load-{c}", v) for c in range(args.clients) for v in range(1, VERSIONS + 1)]
    bundles = {key: bundle_bytes(*key) for key in keys}
    with tempfile.TemporaryDirectory(prefix="modpack-load-") as work:
        data = Path(work) / "data"
        process, info = start_server(data)
        try:
            stats = asyncio.run(drive(info, args.clients, args.seconds, bundles))
            peak_mb = peak_memory_mb(process.pid)
            problems = audit(data, info, stats, bundles)
            on_disk = len([p for p in data.glob("node-*/*/*/module.zip") if ".tmp" not in p.parts])
        finally:
            stop_server(process)
    report(stats, args.seconds, args.clients, peak_mb, problems, on_disk)
    five_xx = any(s.startswith("5") for c in stats.statuses.values() for s in c)
    return 1 if problems or five_xx else 0


if __name__ == "__main__":
    sys.exit(main())
