"""A synthetic network's event log: per station, connections, sessions (start + end), CDRs and statuses, in the
shapes the session, billing and gateway services publish."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from voltline_events import Envelope, Topics, envelope_for
from voltline_events.payloads import CdrCreated, ConnectorStatus, SessionEnded, SessionStarted, StationConnected
from voltline_events.payloads.sessions import SessionPeriod

START = datetime(2026, 1, 1, tzinfo=UTC)


def station_log(index: int, sessions: int, topics: Topics, seed: int = 7) -> Iterator[tuple[str, Envelope]]:
    """(topic, envelope) for one station: `sessions` sessions, 4 events each (start, end, CDR, status)."""
    rng = random.Random(seed * 1_000_003 + index)
    station = f"ST-{index:05d}"
    t = START + timedelta(minutes=rng.randrange(0, 600))
    connected = StationConnected(ocpp_version="ocpp2.0.1", gateway_instance="gw-bench")
    yield (
        topics.station_events,
        envelope_for(connected, source="gateway/bench", station_id=station).model_copy(update={"time": t}),
    )
    for n in range(sessions):
        t += timedelta(minutes=rng.randrange(20, 400))
        minutes = rng.randrange(10, 180)
        end = t + timedelta(minutes=minutes)
        charged = t + timedelta(minutes=max(1, minutes * 3 // 4))
        wh = rng.randrange(50, 60_000)
        sid = f"{station}-{n}"
        common = {"session_id": sid, "station_id": station, "evse_id": 1 + n % 2, "connector_id": 1,
                  "id_token": f"TOK{rng.randrange(5000)}", "started_at": t, "ocpp_version": "ocpp2.0.1",
                  "id_token_type": "ISO14443"}  # fmt: skip
        yield topics.sessions, envelope_for(SessionStarted(**common), source="session/bench", station_id=station)
        ended = SessionEnded(**common, ended_at=end, energy_wh=wh, stop_reason="EVDisconnected",
                             peak_power_w=float(rng.randrange(3000, 150_000)),
                             periods=[SessionPeriod(state="charging", start=t, end=charged, energy_wh=wh),
                                      SessionPeriod(state="idle", start=charged, end=end)])  # fmt: skip
        yield topics.sessions, envelope_for(ended, source="session/bench", station_id=station)
        excl = (Decimal(wh) * Decimal("0.0003")).quantize(Decimal("0.01"))
        incl = (excl * Decimal("1.19")).quantize(Decimal("0.01"))
        cdr = CdrCreated(cdr_id=f"cdr-{sid}", session_id=sid, station_id=station, started_at=t, ended_at=end,
                         currency="EUR", energy_kwh=Decimal(wh) / 1000, total_excl_vat=excl, total_vat=incl - excl,
                         total_incl_vat=incl)  # fmt: skip
        yield topics.billing, envelope_for(cdr, source="billing/bench", station_id=station)
        status = ConnectorStatus(ocpp_version="ocpp2.0.1", timestamp=end, evse_id=1 + n % 2, connector_id=1,
                                 status="Available")  # fmt: skip
        yield topics.station_events, envelope_for(status, source="gateway/bench", station_id=station)
        t = end


def network_log(stations: int, events: int, topics: Topics) -> Iterator[tuple[str, Envelope]]:
    """About `events` events over `stations` stations, interleaved station by station in time order."""
    per_station = max(1, events // stations // 4)
    logs = [station_log(i, per_station, topics) for i in range(stations)]
    while logs:
        alive = []
        for log in logs:
            batch = [next(log, None) for _ in range(4)]
            for item in batch:
                if item is not None:
                    yield item
            if batch[-1] is not None:
                alive.append(log)
        logs = alive
