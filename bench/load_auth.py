"""Wrong-password flood against `modpack serve`: does an authorised client still get answers?

The server is `python -m modpack serve --nodes 1` in its own process on a fresh data folder (plain
HTTP unless --https). The admin's credentials are verified once (warm). Then CLIENTS attackers loop
GET /v1/modules with a wrong password, each on its own keep-alive connection (a new connection per
request with --new-connections: a TLS handshake each time under --https) and each from its own
loopback source address (127.0.0.2, ...: a separate failure budget each, as an attacker with many
addresses has; --one-address sends them all from 127.0.0.1). They ignore Retry-After and send the
next request as soon as an answer arrives: the worst a client can do without breaking HTTP.

The attackers run in a process of their own and speak raw HTTP/1.1 over asyncio streams, so the
flood is as fast as this machine allows and the admin's figures are not its own client's queue: the
admin is a separate process's plain blocking client (httpx), as a CI job beside an attacker is.
It makes ADMIN_REQUESTS requests one after another (10 ms apart) on one connection.

Then a second user, never verified before, asks once, retrying after each 429's Retry-After: how
long an honest first check waits while the flood has spent the server's shared failure budget.

Reported: the admin's p50 / p99 / max latency, the newcomer's wait, the attackers' answers by
status and their rate,
the server's CPU time and peak memory (VmHWM), and the load average before and after (the machine
is shared: quote it with the figures). Target (issue 12): admin p99 under 200 ms with 200 attackers.
Usage: python bench/load_auth.py [--clients 200] [--admin-requests 300] [--https] [--one-address]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-auth-password"
NEWCOMER = "newcomer-password"  # a user whose password is first checked during the flood


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (children inherit it): every attacker holds a socket
    here and one in the server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def start_server(data: Path, https: bool) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    sys.path.insert(0, str(ROOT))
    from modpack.rest.auth import write_users

    ports, users = data.parent / "ports.json", data.parent / "users.json"
    write_users(users, {"admin": ("admin", PASSWORD), "newcomer": ("cluster_viewer", NEWCOMER)})
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0", "--nodes", "1"]
    command += ["--ports-file", str(ports), "--users", str(users)] + ([] if https else ["--http"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MODPACK_ADMIN_PASSWORD", None)
    env.pop("MODPACK_SERVE_ADMIN_PASSWORD", None)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ports.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(
                f"modpack serve did not start: {process.stderr.read().decode() if process.stderr else ''}"
            )
        time.sleep(0.05)
    described: dict[str, object] = json.loads(ports.read_text())
    return process, described


def process_figures(pid: int) -> tuple[float, float]:
    """(CPU seconds used so far, peak RSS in MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return cpu, int(line.split()[1]) / 1024
    return cpu, 0.0


# --- the attackers' process -----------------------------------------------------------------------


async def _answer_status(reader: asyncio.StreamReader) -> tuple[str, bool]:
    """The status code of one HTTP/1.1 answer (its body read and dropped), and whether the
    server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")[1]
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            keep = False
    await reader.readexactly(length)
    return status, keep


async def _attacker(
    url: str, source: str, tls: ssl.SSLContext | None, fresh: bool, stop: asyncio.Event, answers: Counter[str]
) -> None:
    parts = urlsplit(url)
    credentials = base64.b64encode(b"admin:wrong-password").decode()
    request = (
        f"GET /v1/modules HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Basic {credentials}\r\n\r\n"
    ).encode()
    writer: asyncio.StreamWriter | None = None
    while not stop.is_set():
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(
                    parts.hostname, parts.port, ssl=tls, local_addr=(source, 0)
                )
            writer.write(request)
            status, keep = await _answer_status(reader)
            answers[status] += 1
            if fresh or not keep:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError) as exc:
            answers[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


async def _attack(url: str, clients: int, one_address: bool, ca: str | None, fresh: bool) -> None:
    tls = ssl.create_default_context(cafile=ca) if ca else None
    stop, answers = asyncio.Event(), Counter[str]()
    sources = [
        "127.0.0.1" if one_address else f"127.0.{(i + 2) // 250}.{(i + 2) % 250 + 1}" for i in range(clients)
    ]
    tasks = [asyncio.create_task(_attacker(url, s, tls, fresh, stop, answers)) for s in sources]
    loop, began = asyncio.get_running_loop(), time.monotonic()
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop the flood
    answers["flood seconds"] = round(time.monotonic() - began)
    stop.set()
    await asyncio.wait(tasks, timeout=60)
    print(json.dumps(answers))


# --- the admin (this process) ---------------------------------------------------------------------


def admin(url: str, count: int, failures: Counter[str], ca: str | None) -> list[float]:
    """Latencies of `count` requests; a failed one counts at its full duration, and is named."""
    import httpx

    latencies = []
    with httpx.Client(auth=("admin", PASSWORD), timeout=60, verify=ca or True) as http:
        for _ in range(count):
            started = time.perf_counter()
            try:
                answer = http.get(url + "/v1/modules")
                if answer.status_code != 200:
                    failures[str(answer.status_code)] += 1
            except httpx.HTTPError as exc:
                failures[f"{type(exc).__name__} after {time.perf_counter() - started:.2f} s"] += 1
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
    return latencies


def newcomer(url: str, ca: str | None) -> tuple[float, Counter[str]]:
    """Seconds until a user never verified before gets a 200, retrying after each Retry-After,
    and the refusals met on the way: what the shared failure budget costs an honest client."""
    import httpx

    started, refusals = time.perf_counter(), Counter[str]()
    with httpx.Client(auth=("newcomer", NEWCOMER), timeout=60, verify=ca or True) as http:
        while time.perf_counter() - started < 300:
            answer = http.get(url + "/v1/modules")
            if answer.status_code == 200:
                break
            why = answer.json().get("description", "") if answer.status_code == 429 else ""
            refusals[f"{answer.status_code} {why.partition(':')[0]}".strip()] += 1
            time.sleep(int(answer.headers.get("retry-after", "1")))
    return time.perf_counter() - started, refusals


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--admin-requests", type=int, default=300)
    parser.add_argument("--https", action="store_true", help="serve over TLS (the attackers handshake too)")
    parser.add_argument(
        "--new-connections", action="store_true", help="attackers open a connection per request"
    )
    parser.add_argument("--one-address", action="store_true", help="every attacker from 127.0.0.1")
    parser.add_argument("--attack", metavar="URL", help=argparse.SUPPRESS)  # the attackers' process
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args()
    limit = raise_fd_limit()
    if args.attack:
        asyncio.run(_attack(args.attack, args.clients, args.one_address, args.ca, args.new_connections))
        return
    if limit < 2 * args.clients + 64:
        sys.exit(f"the open-file limit is {limit}: too low for {args.clients} clients (ulimit -Hn)")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        process, described = start_server(Path(folder) / "data", args.https)
        url, ca = str(described["cluster"]), described.get("ca_cert")
        ca = str(ca) if ca else None
        try:
            failures = Counter[str]()
            admin(url, 1, failures, ca)  # warm: the admin's credentials are verified once
            command = [sys.executable, __file__, "--attack", url, "--clients", str(args.clients)]
            command += (["--ca", ca] if ca else []) + (["--one-address"] if args.one_address else [])
            command += ["--new-connections"] if args.new_connections else []
            flood = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            time.sleep(3.0)  # let the flood build up
            cpu_before, _ = process_figures(process.pid)
            started = time.monotonic()
            latencies = admin(url, args.admin_requests, failures, ca)
            seconds = time.monotonic() - started
            cpu_after, peak = process_figures(process.pid)
            first, refusals = newcomer(url, ca)
            output, _ = flood.communicate("", timeout=120)
            answers: dict[str, int] = json.loads(output)
        finally:
            alive = process.poll() is None
            process.terminate()
            _, errors = process.communicate(timeout=30)
            if not alive or "Traceback" in errors.decode(errors="replace"):
                print(
                    f"server {'died' if not alive else 'stderr'}: {errors.decode(errors='replace')[-2000:]}"
                )
    load_after = os.getloadavg()
    ms = [1000 * v for v in latencies]
    attacks = sum(v for k, v in answers.items() if k.isdigit())
    print(
        f"{args.clients} wrong-password clients ({'one address' if args.one_address else 'one address each'},"
        f" {'https' if args.https else 'http'}, {'a connection per request' if args.new_connections else 'keep-alive'});"
        f" admin {len(ms)} requests in {seconds:.1f} s"
    )
    print(
        f"admin latency ms: p50 {percentile(ms, 0.5):.1f}  p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )
    print("admin failures:", dict(failures) or "none")
    print(f"attackers' answers: {answers} (about {attacks / max(1, answers['flood seconds']):.0f} a second)")
    print(
        f"a user never verified before: first 200 after {first:.1f} s; refused on the way: {dict(refusals)}"
    )
    print(f"server CPU {cpu_after - cpu_before:.1f} s in {seconds:.1f} s; peak RSS {peak:.0f} MB")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*load_before))
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*load_after))
    print("target p99 < 200 ms:", "met" if percentile(ms, 0.99) < 200 else "MISSED")


if __name__ == "__main__":
    main()
