"""The gateway's local durable spool of acknowledged station events, for a broker that can forget them.

The embedded tansu broker keeps records in memory: when it dies, events it had acknowledged (and the
gateway had answered to their station) but that a consumer had not read yet are gone. So every event
the broker acknowledges is also appended here, with the partition and offset it got, before the station
gets its answer. When the broker comes back empty, the gateway sends the spooled events again (consumers
drop the ones they had already handled, by event id) and they are spooled anew with their new offsets.

What every consumer group has committed is polled (`Floors`): events below it were read by everyone and
are neither sent again nor kept; the rest is kept for `keep_s` seconds at most.

Segments are append-only files written with one `write()` per acknowledged batch: the data is in the
kernel before the answer goes out, so it survives a crash of the gateway process (not of the machine:
no fsync). Records are `marshal`-encoded (this Python's own format: a spool is read by the installation
that wrote it); a torn record at the end of a segment (crash mid-write) ends its reading.
"""

from __future__ import annotations

import marshal
import os
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger()

Message = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers
# topic, key, value, headers, partition, offset, written at (unix time)
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]], int, int, float]
_LENGTH = struct.Struct(">I")
_EPOCH_FILE = "broker-cluster-id"


@dataclass
class Floors:
    """Per (topic, partition), the lowest offset any consumer group has committed, as polled at `polled_at`
    from the broker `cluster_id`: a record written before that poll with a lower offset was read by all."""

    cluster_id: str
    polled_at: float
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def consumed(self, record: Record) -> bool:
        topic, _key, _value, _headers, partition, offset, written_at = record
        floor = self.offsets.get((topic, partition))
        return floor is not None and offset < floor and written_at < self.polled_at


@dataclass
class _Segment:
    path: Path
    last_write: float = 0.0
    highest: dict[tuple[str, int], int] = field(default_factory=dict)  # unknown for segments read from disk
    known: bool = True


class Spool:
    def __init__(self, directory: Path, *, keep_s: float = 900.0, segment_s: float = 10.0) -> None:
        self._dir = directory
        self._keep_s = keep_s
        self._segment_s = segment_s
        self._fd: int | None = None
        self._current: _Segment | None = None
        self._opened_at = 0.0
        self._segments: dict[Path, _Segment] = {}
        self.floors: Floors | None = None
        # Consumers' commits right after a broker restart may still be the old broker's offsets: not trusted.
        self.trust_floors_from = 0.0
        self.appended = 0

    def open(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._dir.glob("segment-*.log")):
            self._segments[path] = _Segment(path, last_write=path.stat().st_mtime, known=False)
        self.trim()
        self.rotate()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._current = None

    def append(self, messages: Sequence[Message], partition: int, base_offset: int) -> None:
        """One write for a batch the broker acknowledged at `base_offset`; raises OSError when it cannot."""
        if self._fd is None or self._current is None:
            raise OSError("the spool is not open")
        now = time.time()
        if now - self._opened_at > self._segment_s:
            self.rotate()
            self.trim()
        assert self._fd is not None and self._current is not None
        chunks = []
        for index, (topic, key, value, headers) in enumerate(messages):
            data = marshal.dumps((topic, key, value, headers, partition, base_offset + index, now))
            chunks.append(_LENGTH.pack(len(data)))
            chunks.append(data)
        view = memoryview(b"".join(chunks))
        while view:
            view = view[os.write(self._fd, view) :]
        self.appended += len(messages)
        segment = self._current
        segment.last_write = now
        if messages:
            tp = (messages[0][0], partition)
            segment.highest[tp] = max(segment.highest.get(tp, -1), base_offset + len(messages) - 1)

    def rotate(self) -> list[Path]:
        """Start a new segment; returns the ones before it, oldest first."""
        self.close()
        before = sorted(self._segments)
        self._opened_at = time.time()
        # Zero-padded nanoseconds: names sort in writing order.
        path = self._dir / f"segment-{time.time_ns():020d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._current = self._segments[path] = _Segment(path, last_write=self._opened_at)
        return before

    def records(self, segments: Iterable[Path]) -> Iterator[Record]:
        """The records of these segments not known to be read by every consumer group, oldest first."""
        floors = self._trusted_floors()
        for path in segments:
            for record in _read(path):
                if floors is None or not floors.consumed(record):
                    yield record

    def drop(self, segments: Iterable[Path]) -> None:
        for path in segments:
            if self._current is not None and path == self._current.path:
                continue
            path.unlink(missing_ok=True)
            self._segments.pop(path, None)

    def trim(self) -> int:
        """Delete segments older than `keep_s` or read by every consumer group; returns how many."""
        cutoff = time.time() - self._keep_s
        floors = self._trusted_floors()
        done = [
            s.path
            for s in self._segments.values()
            if s is not self._current and (s.last_write < cutoff or (floors is not None and _read_by_all(s, floors)))
        ]
        self.drop(done)
        return len(done)

    def _trusted_floors(self) -> Floors | None:
        floors = self.floors
        if floors is None or floors.cluster_id != self.epoch() or floors.polled_at < self.trust_floors_from:
            return None
        return floors

    def epoch(self) -> str | None:
        """The broker cluster id the spooled records were delivered to."""
        path = self._dir / _EPOCH_FILE
        return (path.read_text().strip() or None) if path.exists() else None

    def set_epoch(self, cluster_id: str) -> None:
        path = self._dir / _EPOCH_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(cluster_id + "\n")
        tmp.replace(path)


def _read_by_all(segment: _Segment, floors: Floors) -> bool:
    if not segment.known or segment.last_write >= floors.polled_at:
        return False
    return all(highest < floors.offsets.get(tp, -1) for tp, highest in segment.highest.items())


def _read(path: Path) -> Iterator[Record]:
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return
    with file:
        while len(prefix := file.read(_LENGTH.size)) == _LENGTH.size:
            (length,) = _LENGTH.unpack(prefix)
            data = file.read(length)
            if len(data) < length:
                log.warning("torn record at the end of a spool segment ignored", segment=path.name)
                return
            try:
                record = marshal.loads(data)
            except (EOFError, ValueError, TypeError):
                log.warning("unreadable spool record; rest of the segment skipped", segment=path.name)
                return
            yield record
