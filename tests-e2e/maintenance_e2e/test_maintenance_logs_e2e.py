"""Logs end to end: GetDiagnostics/GetLog to simulated stations, uploads by HTTP (multipart POST, PUT) and FTP,
status notifications, download byte-identical; the size limit; security events stored.
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import os
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from e2e_support import RunningSystem
from maintenance_support import UPLOAD_LIMIT as LIMIT
from maintenance_support import client, connected, register
from voltline_devinfra.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANSWERS = {"GetDiagnostics": {"fileName": "diag.tar.gz"}, "GetLog": {"status": "Accepted", "filename": "sec.log"}}


async def ask_for_log(api: httpx.AsyncClient, station_id: str, **body: Any) -> dict[str, Any]:
    response = await api.post(f"/stations/{station_id}/logs", json={"wait_for_station_s": 30, **body})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["command"]["status"] == "accepted" and record["status"] == "requested", record
    return record  # type: ignore[no-any-return]


async def uploaded(api: httpx.AsyncClient, log_id: str, station_status: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def check() -> bool:
        found.update((await api.get(f"/logs/{log_id}")).json())
        return found["status"] == "uploaded" and found["station_status"] == station_status

    await eventually(check)
    return found


def ftp_upload(location: str, name: str, data: bytes) -> None:
    url = urlparse(location)
    with ftplib.FTP() as ftp:
        ftp.connect(url.hostname or "", url.port or 21, timeout=30)
        ftp.login(url.username or "", url.password or "")
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))


async def test_get_diagnostics_by_http_and_ftp_download_byte_identical(system: RunningSystem) -> None:
    await register(system, "CP-LOG-HTTP", "CP-LOG-FTP")
    async with client(system, "diagnostics") as api:
        for station_id, transport in (("CP-LOG-HTTP", "http"), ("CP-LOG-FTP", "ftp")):
            data = os.urandom(200_000)
            async with connected(system, station_id, "ocpp1.6", ANSWERS) as cp:
                await cp.boot()
                record = await ask_for_log(api, station_id, transport=transport, **{"from": "2026-12-01T00:00:00Z"})
                sent = cp.last("GetDiagnostics")
                assert sent["startTime"] == "2026-12-01T00:00:00Z" and record["command"]["action"] == "GetDiagnostics"
                location = sent["location"]
                await cp.call("DiagnosticsStatusNotification", {"status": "Uploading"})
                if transport == "http":
                    async with httpx.AsyncClient(timeout=30) as station_http:
                        files = {"file": ("diag.tar.gz", data, "application/gzip")}
                        response = await station_http.post(location, files=files)
                        assert response.status_code == 201, response.text
                        again = await station_http.post(location, files=files)
                        assert again.status_code == 404, "an upload location takes one upload"
                else:
                    assert location.startswith("ftp://voltline:")
                    await asyncio.to_thread(ftp_upload, location, "diag.tar.gz", data)
                await cp.call("DiagnosticsStatusNotification", {"status": "Uploaded"})
                done = await uploaded(api, record["log_id"], "Uploaded")
                assert (done["file_name"], done["size_bytes"]) == ("diag.tar.gz", len(data))
                download = await api.get(done["download"].removeprefix("/api/v1"))
                assert download.status_code == 200 and download.content == data


async def test_get_log_2x_by_http_put_and_the_size_limit(system: RunningSystem) -> None:
    await register(system, "CP-LOG-201")
    async with client(system, "diagnostics") as api:
        async with connected(system, "CP-LOG-201", "ocpp2.0.1", ANSWERS) as cp:
            await cp.boot()
            record = await ask_for_log(api, "CP-LOG-201", log_type="security")
            sent = cp.last("GetLog")
            assert sent["logType"] == "SecurityLog" and sent["requestId"] == record["request_id"]
            async with httpx.AsyncClient(timeout=30) as station_http:
                too_big = await station_http.put(f"{sent['log']['remoteLocation']}/sec.log", content=b"x" * (LIMIT + 1))
                assert too_big.status_code == 413, too_big.text
                data = os.urandom(5000)
                ok = await station_http.put(f"{sent['log']['remoteLocation']}/sec.log", content=data)
                assert ok.status_code == 201, ok.text
            await cp.call("LogStatusNotification", {"status": "Uploaded", "requestId": record["request_id"]})
            done = await uploaded(api, record["log_id"], "Uploaded")
            assert (await api.get(f"/logs/{done['log_id']}/file")).content == data

            event = {"type": "FirmwareUpdated", "timestamp": "2026-12-05T06:00:00Z", "techInfo": "v2"}
            await cp.call("SecurityEventNotification", event)

            async def stored() -> bool:
                items = (await api.get("/security-events", params={"station_id": "CP-LOG-201"})).json()["items"]
                return bool(items) and items[0]["type"] == "FirmwareUpdated" and items[0]["tech_info"] == "v2"

            await eventually(stored)


async def test_ftp_refuses_a_wrong_password(system: RunningSystem) -> None:
    port = int(system.stack.services["diagnostics"].env["VOLTLINE_FTP_PORT"])
    with pytest.raises(ftplib.error_perm, match="530"):
        await asyncio.to_thread(ftp_upload, f"ftp://voltline:wrong@127.0.0.1:{port}/", "x", b"x")
