"""The cost so far of a driver's session, as billing prices it (ADR 0018): the session service never prices.

Billing computes it with the engine that writes the CDR, so the app, the station's display and the receipt
agree; once the CDR exists the figure is the CDR's total. `CostSource` is how this service asks (the adapter
reads billing's `GET /api/v1/sessions/{id}/cost`, cached a few seconds per session so a stream polling every
2 s does not ask billing every time); without billing configured, or when billing does not answer, the cost is
unknown (null), never an error of the session's own routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class Cost:
    currency: str
    total_incl_vat: Decimal
    final: bool  # the CDR's total


class CostSource(Protocol):
    async def cost(self, session_id: str) -> Cost | None: ...


class NoCosts:
    async def cost(self, session_id: str) -> Cost | None:
        return None
