"""An embedded FTP receiver for log uploads (many 1.6 stations upload only by FTP).

Only what an uploading station needs: USER/PASS (the password is the one-time upload token), TYPE,
PWD/CWD/MKD (accepted, there are no folders), PASV/EPSV/PORT data connections, STOR/APPE, QUIT. Files are
spooled to disk with the upload size limit and handed to `accept`; nothing can be listed or downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import structlog

from voltline_diagnostics.adapters.uploads import UploadTooLarge, spool

log = structlog.get_logger()

Accept = Callable[[str, str, Path, int], Awaitable[object]]
Valid = Callable[[str], Awaitable[bool]]
DATA_TIMEOUT_S = 30.0
IDLE_TIMEOUT_S = 300.0


class FtpReceiver:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        public_host: str,
        passive_ports: tuple[int, int],
        incoming: Path,
        max_bytes: int,
        valid: Valid,
        accept: Accept,
    ) -> None:
        self.host, self.port, self.public_host = host, port, public_host
        self._passive = passive_ports
        self._incoming, self._max, self._valid, self._accept = incoming, max_bytes, valid, accept
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("ftp receiver listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._sessions):
                task.cancel()
            await asyncio.gather(*self._sessions, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await _Session(self, reader, writer).run()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("ftp session failed")
        finally:
            self._sessions.discard(task)
            writer.close()

    async def passive_listener(
        self,
    ) -> tuple[asyncio.Server, asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
        connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )

        async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if connected.done():
                w.close()
            else:
                connected.set_result((r, w))

        low, high = self._passive
        ports = range(low, high + 1) if low and high >= low else [0]
        last: OSError | None = None
        for port in ports:
            try:
                return await asyncio.start_server(on_connect, self.host, port), connected
            except OSError as exc:
                last = exc
        raise OSError(f"no free passive port: {last}")


class _Session:
    def __init__(self, owner: FtpReceiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.owner, self.reader, self.writer = owner, reader, writer
        self.user: str | None = None
        self.token: str | None = None
        self.passive: asyncio.Server | None = None
        self.data: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None
        self.active: tuple[str, int] | None = None

    async def reply(self, text: str) -> None:
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()

    async def run(self) -> None:
        await self.reply("220 voltline upload receiver")
        try:
            while True:
                line = await asyncio.wait_for(self.reader.readline(), IDLE_TIMEOUT_S)
                if not line:
                    return
                verb, _, arg = line.decode("utf-8", "replace").strip().partition(" ")
                if not await self.handle(verb.upper(), arg.strip()):
                    return
        finally:
            self._close_passive()

    async def handle(self, verb: str, arg: str) -> bool:
        if verb == "QUIT":
            await self.reply("221 Bye")
            return False
        if verb == "USER":
            self.user, self.token = arg, None
            await self.reply("331 Password required")
        elif verb == "PASS":
            if self.user is not None and await self.owner._valid(arg):
                self.token = arg
                await self.reply("230 Logged in")
            else:
                await self.reply("530 Login incorrect")
        elif verb in ("NOOP", "MODE", "STRU", "OPTS", "ALLO"):
            await self.reply("200 OK")
        elif verb == "SYST":
            await self.reply("215 UNIX Type: L8")
        elif verb == "FEAT":
            await self.reply("211-Features:\r\n EPSV\r\n PASV\r\n211 End")
        elif self.token is None:
            await self.reply("530 Please log in with USER and PASS")
        elif verb == "TYPE":
            await self.reply("200 Type set")
        elif verb == "PWD":
            await self.reply('257 "/" is the current directory')
        elif verb in ("CWD", "CDUP"):
            await self.reply("250 OK")
        elif verb == "MKD":
            await self.reply(f'257 "{arg}" created')
        elif verb in ("PASV", "EPSV"):
            await self.open_passive(verb)
        elif verb == "PORT":
            parts = arg.split(",")
            if len(parts) != 6:
                await self.reply("501 Bad PORT")
            else:
                self._close_passive()
                self.active = (".".join(parts[:4]), int(parts[4]) * 256 + int(parts[5]))
                await self.reply("200 PORT command successful")
        elif verb in ("STOR", "APPE", "STOU"):
            await self.store(arg or "upload.bin")
        else:
            await self.reply("502 Command not implemented")
        return True

    async def open_passive(self, verb: str) -> None:
        self._close_passive()
        self.passive, self.data = await self.owner.passive_listener()
        port = self.passive.sockets[0].getsockname()[1]
        if verb == "EPSV":
            await self.reply(f"229 Entering Extended Passive Mode (|||{port}|)")
        else:
            host = self.owner.public_host.replace(".", ",")
            await self.reply(f"227 Entering Passive Mode ({host},{port // 256},{port % 256})")

    def _close_passive(self) -> None:
        if self.passive is not None:
            self.passive.close()
            self.passive = None

    async def _data_connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.data is not None:
            try:
                return await asyncio.wait_for(self.data, DATA_TIMEOUT_S)
            finally:
                self.data = None
                self._close_passive()
        if self.active is not None:
            host, port = self.active
            self.active = None
            return await asyncio.wait_for(asyncio.open_connection(host, port), DATA_TIMEOUT_S)
        raise ConnectionError("no data connection (PASV, EPSV or PORT first)")

    async def store(self, name: str) -> None:
        assert self.token is not None
        try:
            await self.reply("150 Ok to send data")
            reader, writer = await self._data_connection()
        except (ConnectionError, TimeoutError, OSError):
            await self.reply("425 Can't open data connection")
            return

        async def chunks() -> AsyncIterator[bytes]:
            while block := await asyncio.wait_for(reader.read(1 << 16), DATA_TIMEOUT_S):
                yield block

        try:
            temp, size = await spool(chunks(), self.owner._incoming, self.owner._max)
        except UploadTooLarge:
            writer.close()
            await self.reply("552 Exceeded storage allocation")
            return
        finally:
            writer.close()
        try:
            await self.owner._accept(self.token, name.rsplit("/", 1)[-1], temp, size)
        except Exception as exc:
            temp.unlink(missing_ok=True)
            await self.reply(f"550 Upload refused: {exc}")
            return
        await self.reply("226 Transfer complete")
