"""Upload parsing: a multipart body cut to its file part without holding it in memory; the size limit."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from voltline_diagnostics.adapters.storage import LocalFolderStorage, safe_name
from voltline_diagnostics.adapters.uploads import BadUpload, UploadTooLarge, boundary_of, first_part, spool


async def chunks(data: bytes, size: int = 7000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def multipart(boundary: str, content: bytes) -> bytes:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.tar.gz"\r\n\r\n'.encode()
    rest = f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--{boundary}--\r\n'.encode()
    return head + content + rest


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 200_001])
async def test_first_part_is_byte_identical(tmp_path: Path, size: int) -> None:
    content = os.urandom(size)
    boundary = boundary_of("multipart/form-data; boundary=abc123")
    assert boundary == "abc123"
    path, _ = await spool(chunks(multipart(boundary, content)), tmp_path, 10**7)
    out, name, length = first_part(path, boundary)
    assert (out.read_bytes(), name, length) == (content, "d.tar.gz", size)
    assert not path.exists()


async def test_limits_and_malformed_bodies(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLarge):
        await spool(chunks(b"x" * 100), tmp_path, 99)
    assert not os.listdir(tmp_path)
    path, _ = await spool(chunks(b"--abc\r\nno end of headers"), tmp_path, 1000)
    with pytest.raises(BadUpload):
        first_part(path, "abc")
    assert not os.listdir(tmp_path)


def test_storage_keys_stay_inside_the_folder(tmp_path: Path) -> None:
    storage = LocalFolderStorage(tmp_path)
    with pytest.raises(ValueError):
        storage.path("../etc/passwd")
    assert safe_name("../../x/diag log.tgz") == "diag_log.tgz" and safe_name("..") == "upload.bin"
