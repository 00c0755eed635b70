"""The four event types a replay is made of, translated from the payload dict without a pydantic model.

Validating `session.started`, `session.ended`, `billing.cdr_created` and `station.connector_status` into
their models cost about a tenth of a replay's CPU (issue 15). Here the fields analytics reads are taken from
the dict and checked just as strictly where it matters (required fields present, integers are integers, no
negative energy, timestamps parse, amounts are decimals); anything else raises `ValueError`/`KeyError`/
`TypeError`, which fails the batch like a `ValidationError` would, so the worker isolates the event and
parks it on the dead-letter topic. Other types, and other schema versions, go through `translate` as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, get_args

from voltline_events.payloads import ConnectorStatus
from voltline_events.payloads.sessions import PeriodState

from voltline_analytics.domain.facts import CdrFact, Period, SessionFact, driver_key
from voltline_analytics.domain.timeslots import utc
from voltline_analytics.domain.translate import Change, PortStatus, Timed

PERIOD_STATES = frozenset(get_args(PeriodState))
OCPP_VERSIONS = frozenset(get_args(ConnectorStatus.model_fields["ocpp_version"].annotation))


def _str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if type(value) is not int:  # bool is not an int here, as in pydantic's strict JSON ints
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _count(value: Any) -> int:
    if _int(value) < 0:
        raise ValueError(f"expected >= 0, got {value}")
    return int(value)


_times: dict[str, datetime] = {}  # a session's times recur in its events (start, end, periods, CDR, status)


def _time(value: Any) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; each text parsed once while it recurs (a bounded memo:
    the same text always gives the same instant)."""
    found = _times.get(value) if type(value) is str else None
    if found is not None:
        return found
    parsed = utc(datetime.fromisoformat(_str(value)))
    if len(_times) >= 20_000:
        _times.clear()
    _times[value] = parsed
    return parsed


def _decimal(value: Any) -> Decimal:
    if type(value) is str:
        try:
            result = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal: {value!r}") from exc
    elif type(value) in (int, float):
        result = Decimal(str(value))
    else:
        raise TypeError(f"expected a decimal, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return result


def _session(p: dict[str, Any], ended: bool) -> Timed:
    started = _time(p["started_at"])
    fact = SessionFact(
        session_id=_str(p["session_id"]),
        station_id=_str(p["station_id"]),
        evse_id=_opt_int(p.get("evse_id")),
        connector_id=_opt_int(p.get("connector_id")),
        started_at=started,
        ended_at=None,
        driver=driver_key(_opt_str(p.get("driver_id")), _opt_str(p.get("id_token"))),
        id_token_type=_opt_str(p.get("id_token_type")),
        ocpp_version=_opt_str(p.get("ocpp_version")),
    )
    if not ended:
        return Timed(fact, "session", started)
    fact.ended_at = ended_at = _time(p["ended_at"])
    fact.energy_wh = _count(p["energy_wh"])
    peak = p.get("peak_power_w")
    if peak is not None and type(peak) not in (int, float):
        raise TypeError(f"peak_power_w: expected a number, got {type(peak).__name__}")
    fact.peak_power_w = None if peak is None else float(peak)
    fact.stop_reason = _opt_str(p.get("stop_reason"))
    revision = p.get("revision", 1)
    if _int(revision) < 1:
        raise ValueError(f"revision: expected >= 1, got {revision}")
    fact.revision = revision
    periods = []
    for x in p.get("periods") or ():
        if x["state"] not in PERIOD_STATES:
            raise ValueError(f"periods.state: unknown {x['state']!r}")
        _count(x.get("energy_wh", 0))
        periods.append(Period(x["state"], _time(x["start"]), _time(x["end"])))
    fact.periods = periods
    fact.timeline = [(_time(r["at"]), _count(r["energy_wh"])) for r in p.get("energy_timeline") or ()]
    return Timed(fact, "session", ended_at)


def _cdr(p: dict[str, Any], _: dict[str, Any]) -> Timed:
    currency = _str(p["currency"])
    if len(currency) != 3:
        raise ValueError(f"currency: expected 3 letters, got {currency!r}")
    revision = p.get("revision", 1)
    if _int(revision) < 1:
        raise ValueError(f"revision: expected >= 1, got {revision}")
    _opt_str(p.get("driver_id"))
    _decimal(p["energy_kwh"]), _decimal(p["total_vat"])  # checked as the model checks them; not used here
    fact = CdrFact(_str(p["session_id"]), _str(p["cdr_id"]), _str(p["station_id"]), _time(p["started_at"]), currency,
                   _decimal(p["total_excl_vat"]), _decimal(p["total_incl_vat"]), revision)  # fmt: skip
    return Timed(fact, "billing", _time(p["ended_at"]))


def _status(p: dict[str, Any], envelope: dict[str, Any]) -> Change | None:
    if p["ocpp_version"] not in OCPP_VERSIONS:
        raise ValueError(f"ocpp_version: unknown {p['ocpp_version']!r}")
    station = envelope["station_id"] or p.get("station_id")
    if station is None:
        return None
    connector = _int(p["connector_id"])
    evse = _opt_int(p.get("evse_id"))
    port = evse if evse is not None else connector
    if not port:
        return None  # connector 0 / EVSE 0: the station as a whole, not a port
    stamp = p.get("timestamp")
    at = _time(stamp) if stamp is not None else utc(envelope["time"])
    return PortStatus(station, port, connector, _str(p["status"]), _opt_str(p.get("error_code")), at)


FAST: dict[tuple[str, int], Callable[[dict[str, Any], dict[str, Any]], Change | None]] = {
    ("session.started", 1): lambda p, _: _session(p, False),
    ("session.ended", 1): lambda p, _: _session(p, True),
    ("billing.cdr_created", 1): _cdr,
    ("station.connector_status", 1): _status,
}
"""(type, schema version) -> translator of (payload, {"station_id", "time"} of the envelope)."""
