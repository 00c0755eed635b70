"""The CSMS refused the token of a transaction the station started (or authorised later, 2.x).

A station told Invalid/Blocked/ConcurrentTx... in its StartTransaction / TransactionEvent answer may not stop
the transaction itself; the session service ends the session (`NotAuthorized`) so an unauthorised start is
never an active session. Published by the gateway right after the station's own event (same key, so in order).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from voltline_events.payloads.station import OcppVersion
from voltline_events.payloads.transactions import IdToken
from voltline_events.registry import Event, event


@event
class TransactionRefused(Event):
    TYPE = "station.transaction_refused"
    VERSION = 1

    ocpp_version: OcppVersion
    transaction_id: str = Field(description="2.x: the station's id; 1.6: the id the gateway assigned.")
    id_token: IdToken
    status: str = Field(description="The authorisation status the station was answered (Invalid, Blocked, ...).")
    timestamp: datetime = Field(description="The station's timestamp of the refused message.")
