"""A minimal blocking Kafka Metadata (v1) request, used as the broker readiness probe.

An open TCP port is not enough: Kafka accepts connections before it can serve metadata.
Speaking the wire protocol directly keeps this package free of a Kafka client dependency
and works from sync code (fixtures, CLI) without an event loop.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_METADATA_API_KEY = 3
_METADATA_VERSION = 1
_CLIENT_ID = b"voltline-devinfra-probe"


@dataclass(frozen=True)
class BrokerInfo:
    """One broker as listed in a Metadata response."""

    node_id: int
    host: str
    port: int


@dataclass(frozen=True)
class ClusterMetadata:
    """The part of a Metadata response the readiness probe cares about."""

    brokers: tuple[BrokerInfo, ...]
    controller_id: int


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        buf += chunk
    return bytes(buf)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self._data, self._pos)
        self._pos += struct.calcsize(fmt)
        return int(value)

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        raw = self._data[self._pos : self._pos + length]
        self._pos += length
        return raw.decode("utf-8")


def fetch_metadata(host: str, port: int, timeout: float = 2.0) -> ClusterMetadata:
    """Ask the broker at host:port for cluster metadata (no topics); raises OSError on failure."""
    header = struct.pack(">hhih", _METADATA_API_KEY, _METADATA_VERSION, 1, len(_CLIENT_ID)) + _CLIENT_ID
    body = struct.pack(">i", 0)  # empty topic list: brokers and controller only
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        reader = _Reader(_recv_exact(sock, size))
    try:
        if reader.int32() != 1:
            raise ConnectionError("unexpected correlation id in Metadata response")
        brokers = []
        for _ in range(reader.int32()):
            node_id = reader.int32()
            broker_host = reader.string() or ""
            broker_port = reader.int32()
            reader.string()  # rack
            brokers.append(BrokerInfo(node_id, broker_host, broker_port))
        controller_id = reader.int32()
    except struct.error as exc:
        raise ConnectionError(f"malformed Metadata response: {exc}") from exc
    return ClusterMetadata(tuple(brokers), controller_id)


def metadata_ready(host: str, port: int, timeout: float = 2.0) -> bool:
    """True once the broker answers Metadata and lists at least one broker."""
    try:
        return bool(fetch_metadata(host, port, timeout).brokers)
    except OSError:  # includes ConnectionError and timeouts
        return False
