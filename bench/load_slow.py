"""Slow clients against `modpack serve`: thousands of connections trickling headers, one real client.

The server is `python -m modpack serve` (3 nodes, HTTPS, its default limits unless `--serve-arg`
says otherwise) in its own process, on a fresh data folder. A real client opens its connection
to node 1 and makes one authorised request (its credentials are then cached). Then opener
processes open CONNECTIONS connections to node 1, each completing the TLS handshake and sending
the start of a request head, then one more header byte per connection every second. While they
open and trickle, the real client sends GET /v1/nodes every PING seconds, on its kept-alive
connection and on a fresh connection (a new client, TLS handshake included), and the server's
RSS is sampled from /proc.

Reported: slow connections opened / refused at the handshake / closed by the server while
trickling / still open; the real requests' latencies (median, max) during the flood, and one of
each once every slow connection was opened; the server's peak RSS during the run and its VmHWM.
Targets (issue 12): RSS under 150 MB, a real request under 1 s.

Usage: nice python bench/load_slow.py [--connections 3000] [--openers 4]
           [--serve-arg=--max-connections=4000 --serve-arg=--header-timeout=120]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "admin", "slow-bench-password"
PING = 0.25
TRICKLE_EVERY = 1.0
START = b"GET /v1/nodes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


# --- the server -------------------------------------------------------------------------------


def start_server(data: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    ports = data.parent / "ports.json"
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0"]
    command += ["--ports-file", str(ports), *extra]
    env = {**os.environ, "MODPACK_ADMIN_PASSWORD": PASSWORD}  # never on the command line (ps)
    log = (data.parent / "serve.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while not ports.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"modpack serve did not start: {(data.parent / 'serve.log').read_text()}")
        time.sleep(0.05)
    return process, json.loads(ports.read_text())


def memory_mb(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_sockets(pid: int) -> int:
    """The server's open sockets: connections held, lingering in their TLS close included."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += str(fd.readlink()).startswith("socket:")
        except OSError:
            continue
    return count


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- the slow clients (one process per opener) ------------------------------------------------


def raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def open_slow(port: int, context: ssl.SSLContext) -> ssl.SSLSocket | None:
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        sock.sendall(START)
    except OSError:
        return None
    sock.setblocking(False)
    return sock


def still_open(sock: ssl.SSLSocket) -> bool:
    """Send one more header byte; False when the server answered (408) or closed the connection."""
    try:
        if sock.recv(1):
            return False
    except (ssl.SSLWantReadError, BlockingIOError):
        pass
    except OSError:
        return False
    else:
        return False  # EOF
    try:
        sock.send(b"a")
    except (ssl.SSLWantWriteError, BlockingIOError):
        pass
    except OSError:
        return False
    return True


def opener(port: int, ca: str, count: int, report: Any, stop: Any) -> None:
    """Open `count` slow connections, then trickle until `stop`; report counts on the queue."""
    raise_file_limit(count + 64)
    context = ssl.create_default_context(cafile=ca)
    open_socks: list[ssl.SSLSocket] = []
    refused = closed = 0
    next_round = time.monotonic() + TRICKLE_EVERY
    for _ in range(count):
        sock = open_slow(port, context)
        if sock is None:
            refused += 1
        else:
            open_socks.append(sock)
        if time.monotonic() >= next_round:  # keep the ones already open trickling
            open_socks, lost = trickle(open_socks)
            closed += lost
            next_round += TRICKLE_EVERY
    report.put({"opened": count - refused, "refused": refused})
    while not stop.wait(max(0.0, next_round - time.monotonic())):
        open_socks, lost = trickle(open_socks)
        closed += lost
        next_round += TRICKLE_EVERY
    report.put({"closed_by_server": closed, "still_open": len(open_socks)})
    for sock in open_socks:
        sock.close()


def trickle(socks: list[ssl.SSLSocket]) -> tuple[list[ssl.SSLSocket], int]:
    kept = [s for s in socks if still_open(s)]
    for sock in set(socks) - set(kept):
        sock.close()
    return kept, len(socks) - len(kept)


# --- the real client --------------------------------------------------------------------------


@dataclass
class Real:
    kept_alive: list[float] = field(default_factory=list)
    fresh: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    sockets: list[int] = field(default_factory=list)


def timed_get(http: httpx.Client, url: str, into: list[float], real: Real) -> None:
    start = time.perf_counter()
    try:
        http.get(url + "/v1/nodes").raise_for_status()
    except httpx.HTTPError as exc:
        real.failures.append(f"{type(exc).__name__}: {exc}")
        return
    into.append(time.perf_counter() - start)


def real_client(
    info: dict[str, Any], pid: int, real: Real, stop: threading.Event, http: httpx.Client
) -> None:
    url = info["nodes"][0]["url"]
    while not stop.wait(PING):
        timed_get(http, url, real.kept_alive, real)
        with httpx.Client(
            auth=(USER, PASSWORD), verify=ssl.create_default_context(cafile=info["ca_cert"]), timeout=30
        ) as fresh:
            timed_get(fresh, url, real.fresh, real)
        real.rss.append(memory_mb(pid, "VmRSS"))
        real.sockets.append(open_sockets(pid))


# --- the run ----------------------------------------------------------------------------------


def flood(
    info: dict[str, Any], pid: int, connections: int, openers: int
) -> tuple[Real, dict[str, int], dict[str, float]]:
    port = int(info["nodes"][0]["url"].rsplit(":", 1)[1])
    real, stop_real = Real(), threading.Event()
    http = httpx.Client(
        auth=(USER, PASSWORD), verify=ssl.create_default_context(cafile=info["ca_cert"]), timeout=30
    )
    http.get(info["nodes"][0]["url"] + "/v1/nodes").raise_for_status()  # the kept-alive connection
    spawn = multiprocessing.get_context("spawn")
    report, stop = spawn.Queue(), spawn.Event()
    shares = [connections // openers + (i < connections % openers) for i in range(openers)]
    workers = [spawn.Process(target=opener, args=(port, info["ca_cert"], n, report, stop)) for n in shares]
    for worker in workers:
        worker.start()
    pinger = threading.Thread(target=real_client, args=(info, pid, real, stop_real, http))
    pinger.start()
    counts: dict[str, int] = {}
    for _ in workers:
        for key, value in report.get(timeout=600).items():
            counts[key] = counts.get(key, 0) + value
    after: dict[str, float] = {"rss_all_opened": memory_mb(pid, "VmRSS")}
    stop_real.set()
    pinger.join()
    url = info["nodes"][0]["url"]
    one = Real()
    timed_get(http, url, one.kept_alive, one)
    with httpx.Client(
        auth=(USER, PASSWORD), verify=ssl.create_default_context(cafile=info["ca_cert"]), timeout=30
    ) as fresh:
        timed_get(fresh, url, one.fresh, one)
    after["kept_alive"] = one.kept_alive[0] if one.kept_alive else float("nan")
    after["fresh"] = one.fresh[0] if one.fresh else float("nan")
    real.failures += one.failures
    stop.set()
    for _ in workers:
        for key, value in report.get(timeout=120).items():
            counts[key] = counts.get(key, 0) + value
    for worker in workers:
        worker.join(timeout=60)
    http.close()
    return real, counts, after


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"median {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms ({len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--openers", type=int, default=4)
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `modpack serve` option")
    args = parser.parse_args()
    raise_file_limit(args.connections + 256)
    with tempfile.TemporaryDirectory(prefix="modpack-slow-") as work:
        process, info = start_server(Path(work) / "data", args.serve_arg)
        try:
            baseline = memory_mb(process.pid, "VmRSS")
            real, counts, after = flood(info, process.pid, args.connections, args.openers)
            peak = max([baseline, after["rss_all_opened"], *real.rss])
            hwm = memory_mb(process.pid, "VmHWM")
        finally:
            stop_server(process)
    options = " ".join(args.serve_arg) or "(defaults)"
    print(f"{args.connections} slow connections to node 1 over HTTPS, serve options: {options}")
    print(
        f"slow connections: {counts.get('opened', 0)} opened, {counts.get('refused', 0)} refused at the"
        f" handshake, {counts.get('closed_by_server', 0)} closed by the server while trickling"
        f" (408), {counts.get('still_open', 0)} still open at the end"
    )
    print(f"real request during the flood, kept-alive connection: {summary(real.kept_alive)}")
    print(f"real request during the flood, fresh connection:      {summary(real.fresh)}")
    print(
        f"real request once all were opened: kept-alive {after['kept_alive'] * 1000:.1f} ms,"
        f" fresh {after['fresh'] * 1000:.1f} ms"
    )
    print(f"server sockets open (sampled): max {max(real.sockets, default=0)}")
    print(f"real request failures: {len(real.failures)}")
    for failure in real.failures[:5]:
        print(f"  {failure}")
    print(
        f"server RSS: {baseline:.1f} MB before, {after['rss_all_opened']:.1f} MB once all were opened,"
        f" {peak:.1f} MB peak sampled; VmHWM {hwm:.1f} MB"
    )
    slow = max([*real.kept_alive, *real.fresh, after["kept_alive"], after["fresh"]])
    return 1 if real.failures or peak >= 150 or slow >= 1.0 else 0


if __name__ == "__main__":
    sys.exit(main())
