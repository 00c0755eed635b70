"""Receiving a file a station uploads over HTTP: the raw body (PUT) or one multipart/form-data part (POST).

The body is spooled to disk with a size limit, never held in memory; a multipart body is cut down to its
first part's content by locating the part's header end and the closing boundary.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

_CHUNK = 1 << 20  # 1 MiB: the part scan is bound by the number of find() calls


class UploadTooLarge(ValueError):
    pass


class BadUpload(ValueError):
    pass


async def spool(chunks: AsyncIterator[bytes], folder: Path, limit: int) -> tuple[Path, int]:
    """Write the stream to a new temp file in `folder`; UploadTooLarge (file removed) beyond `limit` bytes."""
    path = folder / f"{uuid.uuid4().hex}.part"
    size = 0
    try:
        with path.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"the upload is larger than the limit of {limit} bytes")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


def boundary_of(content_type: str) -> str | None:
    if not content_type.lower().startswith("multipart/"):
        return None
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not match:
        raise BadUpload("multipart upload without a boundary")
    return match.group(1)


def first_part(path: Path, boundary: str) -> tuple[Path, str | None, int]:
    """Extract the first file part (else the first part) of a multipart body: (new file, its filename, size)."""
    try:
        return _first_part(path, boundary)
    except BaseException:
        path.unlink(missing_ok=True)
        path.with_suffix(".content").unlink(missing_ok=True)
        raise


def _first_part(path: Path, boundary: str) -> tuple[Path, str | None, int]:
    delimiter = b"\r\n--" + boundary.encode()
    out_path = path.with_suffix(".content")
    with path.open("rb") as src:
        head = src.read(_CHUNK)
        first = head.find(delimiter[2:])
        end_of_headers = head.find(b"\r\n\r\n", first)
        if first < 0 or end_of_headers < 0:
            raise BadUpload("malformed multipart body: no part headers")
        headers = head[first + len(delimiter) - 2 : end_of_headers].decode("latin-1")
        name = re.search(r'filename\*?="?([^";\r\n]+)"?', headers, re.IGNORECASE)
        src.seek(end_of_headers + 4)
        size = 0
        found = False
        carry = b""
        with out_path.open("wb") as out:
            while not found:
                block = src.read(_CHUNK)
                if not block:
                    break
                data = carry + block
                at = data.find(delimiter)
                if at >= 0:
                    out.write(data[:at])
                    size += at
                    found = True
                else:
                    keep = len(delimiter) - 1
                    out.write(data[:-keep] if len(data) > keep else b"")
                    size += max(0, len(data) - keep)
                    carry = data[-keep:] if len(data) > keep else data
    if not found:
        raise BadUpload("malformed multipart body: no closing boundary")
    os.unlink(path)
    return out_path, name.group(1) if name else None, size
