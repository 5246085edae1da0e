"""`modpack publish` of a 200 MB bundle to a local 3-node cluster, beside curl on the same endpoints.

The bundle is the fixture hello.so with a 200 MB non-loaded random section (objcopy), zipped
stored. The cluster is `modpack serve` (HTTPS, 3 nodes) in its own process. Measured, best of
--repeat runs, every node emptied before each run:

- curl, one upload after the other (curl -k -u ... -F module=@bundle, per node), and the three at
  once (the module object exists beforehand: curl makes only the upload calls);
- `modpack publish` as a user runs it: validate the bundle, create the module object, upload to
  every node, check every node's listing;
- peak memory (ru_maxrss) of the publish process (wait4) and of the server (VmHWM, its peak over
  the whole benchmark).

Targets (issue 6): publish wall time at most 1.2x curl; both peaks under 100 MB.
Usage: python bench/bench_publish.py [--size-mb 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "fixtures" / "so" / "x86_64" / "hello.so"
WORK = Path(os.environ.get("MODPACK_BENCH_DIR", "/tmp/modpack-bench")) / "publish"
USER, PASSWORD = "admin", "bench-password"
MB = 1024 * 1024
ARTIFACTS = "/v2/local/modules/user-defined/artifacts"


def big_module(size_mb: int) -> Path:
    target = WORK / f"hello-{size_mb}mb-random.so"
    if target.exists():
        return target
    if shutil.which("objcopy") is None:
        sys.exit("objcopy is needed (Debian package binutils)")
    blob = WORK / "blob.bin"
    with blob.open("wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(MB))
    section = ["--add-section", f".blob={blob}", "--set-section-flags", ".blob=noload,readonly"]
    subprocess.run(["objcopy", *section, str(HELLO), str(target)], check=True)
    blob.unlink()
    target.chmod(0o755)
    return target


def module_json(so: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.test_rest_support import module_json as valid_module_json

    digest = hashlib.sha256()
    with so.open("rb") as source:
        while chunk := source.read(MB):
            digest.update(chunk)
    return valid_module_json(HELLO, sha256=digest.hexdigest(), display_name="Hello (200 MB)")


def bundle(so: Path) -> Path:
    target = WORK / f"{so.stem}.zip"
    if target.exists():
        return target
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("module.json", json.dumps(module_json(so)))
        entry = zipfile.ZipInfo("hello.so", date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o100755 << 16
        with so.open("rb") as source, archive.open(entry, "w", force_zip64=True) as out:
            shutil.copyfileobj(source, out, MB)
    return target


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    ports = WORK / "ports.json"
    ports.unlink(missing_ok=True)
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0"]
    server = subprocess.Popen(
        [*command, "--ports-file", str(ports)],
        env={**os.environ, "MODPACK_SERVE_ADMIN_PASSWORD": PASSWORD},
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not ports.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("modpack serve did not start")
        time.sleep(0.05)
    return server, json.loads(ports.read_text())


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def api(info: dict[str, Any]) -> Any:
    from modpack.rest import client

    connection = client.Connection(
        cluster=info["cluster"], credentials=client.Credentials(USER, PASSWORD), ca_cert=Path(info["ca_cert"])
    )
    return client, connection


def reset(info: dict[str, Any], *, keep_module_object: bool) -> None:
    client, connection = api(info)
    with client.Api(connection) as session:
        client.remove_artifacts(session, connection, "hello", 10203)
        if keep_module_object:
            client.create_module(session, module_json(big_module(ARGS.size_mb)))
            return
        for module in client.find_modules(session, "hello", 10203):
            client.delete_module(session, module["uid"])


def curl_uploads(info: dict[str, Any], zipped: Path, *, parallel: bool) -> float:
    commands = [
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            info["ca_cert"],
            "-u",
            f"{USER}:{PASSWORD}",
            "-F",
            f"module=@{zipped}",
            node["url"] + ARTIFACTS,
        ]
        for node in info["nodes"]
    ]
    start = time.perf_counter()
    if parallel:
        running = [subprocess.Popen(c, stdout=subprocess.PIPE) for c in commands]
        codes = [p.communicate()[0] for p in running]
    else:
        codes = [subprocess.run(c, capture_output=True, check=True).stdout for c in commands]
    wall = time.perf_counter() - start
    if set(codes) != {b"200"}:
        sys.exit(f"curl got {codes}")
    return wall


def modpack_publish(info: dict[str, Any], zipped: Path) -> tuple[float, float]:
    command = [
        sys.executable,
        "-m",
        "modpack",
        "publish",
        str(zipped),
        "--cluster",
        info["cluster"],
        "--ca-cert",
        info["ca_cert"],
    ]
    env = {**os.environ, "MODPACK_USER": USER, "MODPACK_PASSWORD": PASSWORD}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"modpack publish failed: {process.stderr.read().decode() if process.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    zipped = bundle(big_module(ARGS.size_mb))
    data = WORK / "cluster"
    shutil.rmtree(data, ignore_errors=True)
    server, info = start_server(data)
    try:
        sequential, parallel, published, client_peaks = [], [], [], []
        for _ in range(ARGS.repeat):
            reset(info, keep_module_object=True)
            sequential.append(curl_uploads(info, zipped, parallel=False))
            reset(info, keep_module_object=True)
            parallel.append(curl_uploads(info, zipped, parallel=True))
            reset(info, keep_module_object=False)
            wall, peak = modpack_publish(info, zipped)
            published.append(wall)
            client_peaks.append(peak)
        server_peak = peak_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)  # 600 MB of artifacts
    report(zipped, min(sequential), min(parallel), min(published), max(client_peaks), server_peak)


def report(
    zipped: Path, sequential: float, parallel: float, published: float, client: float, server: float
) -> None:
    size = zipped.stat().st_size / MB
    print(f"bundle: {zipped} ({size:.0f} MiB), 3 nodes over HTTPS, best of {ARGS.repeat}")
    print(f"curl, nodes one after the other   {sequential:7.2f} s")
    print(f"curl, three nodes at once         {parallel:7.2f} s")
    print(
        f"modpack publish                   {published:7.2f} s   "
        f"{published / sequential:.2f}x curl one-by-one, {published / parallel:.2f}x curl at once"
    )
    print(
        f"peak memory: modpack publish {client:6.1f} MB, modpack serve {server:6.1f} MB (target < 100 MB each)"
    )
    verdict = published <= 1.2 * min(sequential, parallel) and client < 100 and server < 100
    print("targets met" if verdict else "targets NOT met")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    ARGS = parser.parse_args()
    main()
