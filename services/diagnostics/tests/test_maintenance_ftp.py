"""The embedded FTP receiver with real FTP clients (ftplib): passive and active data connections, the size
limit, and nothing without the one-time password."""

from __future__ import annotations

import asyncio
import ftplib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from voltline_diagnostics.adapters.ftp import FtpReceiver

TOKEN = "one-time-token"


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[tuple[FtpReceiver, dict[str, bytes]]]:
    received: dict[str, bytes] = {}

    async def valid(token: str) -> bool:
        return token == TOKEN

    async def accept(token: str, name: str, temp: Path, size: int) -> object:
        received[name] = await asyncio.to_thread(temp.read_bytes)
        await asyncio.to_thread(temp.unlink)
        return None

    ftp = FtpReceiver(
        host="127.0.0.1",
        port=0,
        public_host="127.0.0.1",
        passive_ports=(0, 0),
        incoming=tmp_path,
        max_bytes=100_000,
        valid=valid,
        accept=accept,
    )
    await ftp.start()
    yield ftp, received
    await ftp.stop()


def upload(port: int, password: str, name: str, data: bytes, *, passive: bool) -> str:
    with ftplib.FTP() as client:
        client.connect("127.0.0.1", port, timeout=10)
        client.login("voltline", password)
        client.set_pasv(passive)
        client.cwd("/logs")
        return client.storbinary(f"STOR {name}", io.BytesIO(data))


async def test_passive_and_active_uploads_land_whole(receiver: tuple[FtpReceiver, dict[str, bytes]]) -> None:
    ftp, received = receiver
    first, second = os.urandom(70_000), os.urandom(1234)
    assert (await asyncio.to_thread(upload, ftp.port, TOKEN, "a.tgz", first, passive=True)).startswith("226")
    assert (await asyncio.to_thread(upload, ftp.port, TOKEN, "dir/b.log", second, passive=False)).startswith("226")
    assert received == {"a.tgz": first, "b.log": second}


async def test_size_limit_and_wrong_password(receiver: tuple[FtpReceiver, dict[str, bytes]]) -> None:
    ftp, received = receiver
    with pytest.raises(ftplib.error_perm, match="552"):
        await asyncio.to_thread(upload, ftp.port, TOKEN, "big", os.urandom(100_001), passive=True)
    with pytest.raises(ftplib.error_perm, match="530"):
        await asyncio.to_thread(upload, ftp.port, "guess", "x", b"x", passive=True)
    assert received == {}
