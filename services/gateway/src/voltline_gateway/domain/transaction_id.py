"""OCPP 1.6 transaction ids, assigned by the CSMS without keeping any state.

A station that does not get the answer to its StartTransaction sends the same call again; it must get the
same id back, or the session would split in two. Hashing what identifies the start (station, connector,
station timestamp, meter reading, idTag) gives exactly that, with no database in the gateway. Collisions
between two starts of one station are possible in principle (31 bits), so consumers key transactions by
(station id, transaction id) and treat a start that reuses the id of a finished one as a new transaction.
"""

from __future__ import annotations

import hashlib

_MASK = 0x7FFFFFFF  # 1.6 transactionId is an integer; stay positive in a signed 32-bit field


def transaction_id_16(station_id: str, connector_id: int, timestamp: str, meter_start: int, id_tag: str) -> int:
    key = "\x1f".join((station_id, str(connector_id), timestamp, str(meter_start), id_tag)).encode()
    value = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") & _MASK
    return value or 1
