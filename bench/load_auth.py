"""Wrong-password flood against `modpack serve`: does an authorised client still get answers?

The server is `python -m modpack serve --http --nodes 1` in its own process on a fresh data folder
(plain HTTP: the figure is about password checks, not TLS). The admin's credentials are verified
once (warm). Then CLIENTS attackers, each from its own loopback source address (127.0.0.2 ...,
so each has its own failure budget on the server), loop GET /v1/modules with a wrong password,
while the admin makes ADMIN_REQUESTS requests one after another on its own connection.

Reported: the admin's p50 / p99 / max latency, the attackers' answers by status, the server's
peak memory (VmHWM). Target (issue 12): admin p99 under 200 ms with 200 attackers.
Usage: python bench/load_auth.py [--clients 200] [--admin-requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-auth-password"


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    ports = data.parent / "ports.json"
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0", "--nodes", "1"]
    command += ["--http", "--ports-file", str(ports)]
    env = {**os.environ, "MODPACK_ADMIN_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ports.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(
                f"modpack serve did not start: {process.stderr.read().decode() if process.stderr else ''}"
            )
        time.sleep(0.05)
    return process, json.loads(ports.read_text())["cluster"]


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def attacker(url: str, source: str, stop: asyncio.Event, statuses: Counter[str]) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(transport=transport, auth=("admin", "wrong"), timeout=60) as http:
        while not stop.is_set():
            try:
                answer = await http.get(url + "/v1/modules")
                statuses[str(answer.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1


async def admin(url: str, count: int, failures: Counter[str]) -> list[float]:
    """Latencies of `count` requests; a failed one counts at its full duration, and is named."""
    latencies = []
    async with httpx.AsyncClient(auth=("admin", PASSWORD), timeout=60) as http:
        for _ in range(count):
            started = time.perf_counter()
            try:
                answer = await http.get(url + "/v1/modules")
                if answer.status_code != 200:
                    failures[str(answer.status_code)] += 1
            except httpx.HTTPError as exc:
                failures[f"{type(exc).__name__} after {time.perf_counter() - started:.2f} s"] += 1
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
    return latencies


async def run(url: str, clients: int, requests: int) -> tuple[list[float], Counter[str]]:
    failures = Counter[str]()
    await admin(url, 1, failures)  # warm: the admin's credentials are verified once
    stop, statuses = asyncio.Event(), Counter[str]()
    sources = [f"127.0.{(i + 2) // 250}.{(i + 2) % 250 + 1}" for i in range(clients)]
    tasks = [asyncio.create_task(attacker(url, s, stop, statuses)) for s in sources]
    await asyncio.sleep(2.0)  # let the flood build up
    latencies = await admin(url, requests, failures)
    stop.set()
    await asyncio.gather(*tasks)
    print("admin failures:", dict(failures) or "none")
    return latencies, statuses


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--admin-requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder) / "data")
        try:
            latencies, statuses = asyncio.run(run(url, args.clients, args.admin_requests))
            peak = peak_memory_mb(process.pid)
        finally:
            alive = process.poll() is None
            process.terminate()
            _, errors = process.communicate(timeout=30)
            if not alive or errors.strip():
                print(
                    f"server {'died' if not alive else 'stderr'}: {errors.decode(errors='replace')[-2000:]}"
                )
    ms = [1000 * v for v in latencies]
    print(f"{args.clients} wrong-password clients; admin {len(ms)} requests")
    print(
        f"admin latency ms: p50 {percentile(ms, 0.5):.1f}  p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )
    print("attackers' answers:", dict(statuses))
    print(f"server peak RSS: {peak:.0f} MB")
    print("target p99 < 200 ms:", "met" if percentile(ms, 0.99) < 200 else "MISSED")


if __name__ == "__main__":
    main()
