"""The floor for a Python client: upload one bundle to several nodes at once, and nothing else.

The standard library only (http.client, ssl, one thread per node), 256 KiB sends as modpack's
client makes them: no validation, no cluster reads, no module object, no listing check. It runs
beside curl in bench/bench_publish.py, so the report shows how much of publish's time beyond
curl's is Python's start-up and transfer, and how much is publish's own work.

Usage: python bench/bare_upload.py BUNDLE.zip CA_CERT USER:PASSWORD NODE_URL [NODE_URL ...]
Exit status 0 when every node answered 200, else 1 (each failure printed); 2 for bad usage.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import sys
import threading
import urllib.parse
from pathlib import Path

ARTIFACTS = "/v2/local/modules/user-defined/artifacts"
SEND = 256 * 1024


def upload(url: str, bundle: Path, context: ssl.SSLContext, authorization: str, failures: list[str]) -> None:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, context=context)
    boundary = os.urandom(16).hex()
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="module"; filename="{bundle.name}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    try:
        connection.putrequest("POST", ARTIFACTS)
        connection.putheader("Authorization", authorization)
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection.putheader("Content-Length", str(len(head) + bundle.stat().st_size + len(tail)))
        connection.endheaders()
        connection.send(head)
        with bundle.open("rb") as source:
            while chunk := source.read(SEND):
                connection.send(chunk)
        connection.send(tail)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            failures.append(f"{url}: HTTP {answer.status}")
    except (OSError, http.client.HTTPException) as exc:  # BadStatusLine, IncompleteRead, ...
        failures.append(f"{url}: {exc}")
    finally:
        connection.close()


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    bundle, ca_cert, credentials, *urls = argv
    context = ssl.create_default_context(cafile=ca_cert)
    authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
    failures: list[str] = []
    threads = [
        threading.Thread(target=upload, args=(url, Path(bundle), context, authorization, failures))
        for url in urls
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
