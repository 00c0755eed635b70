"""Log uploads: throughput and memory of receiving a large upload (spooled to disk, multipart cut on disk).

`python -m bench.maintenance [size_mb]` prints MB/s for a raw PUT body and a multipart POST body, and the
peak Python memory while doing it (tracemalloc), which must stay flat whatever the size.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

from voltline_diagnostics.adapters.uploads import first_part, spool

CHUNK = 64 * 1024


async def body(size: int, head: bytes = b"", tail: bytes = b"") -> AsyncIterator[bytes]:
    block = os.urandom(CHUNK)
    yield head
    sent = 0
    while sent < size:
        n = min(CHUNK, size - sent)
        yield block[:n]
        sent += n
    yield tail


async def main(size_mb: int) -> None:
    size = size_mb * 1024 * 1024
    folder = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    head = b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="d.tgz"\r\n\r\n'
    tail = b"\r\n--b0undary--\r\n"
    for kind in ("put", "multipart"):
        tracemalloc.start()
        started = time.perf_counter()
        if kind == "put":
            path, got = await spool(body(size), folder, size + 1)
        else:
            spooled, _ = await spool(body(size, head, tail), folder, size + 1024)
            path, _name, got = first_part(spooled, "b0undary")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert got == size
        path.unlink()
        print(f"{kind:9s} {size_mb} MiB: {size_mb / elapsed:7.1f} MiB/s, peak Python memory {peak / 1024:7.0f} KiB")
    os.rmdir(folder)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
