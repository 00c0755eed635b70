"""The auth service's Authorize answers for one id token value, published so the gateway can answer alone.

Auth decides (its domain's rules), the gateway only applies: for a presented token it looks up the record
of the token's normalised value and takes the decision for the station's version and the presented type.
A record is a snapshot that is true until replaced or until `valid_until` (a token that expires); a
missing record, a missing type or a record past `valid_until` means "ask the auth service" (ADR 0015).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from voltline_events.payloads.authorization import AuthorizationDecision
from voltline_events.registry import Event, event

# The `decisions` key of the answer to a 1.6 idTag (1.6 has no token types); 2.x answers are keyed by type.
OCPP16_KEY = "ocpp1.6"


@event
class TokenDecisions(Event):
    """Compacted on `Topics.auth_decisions`, keyed by the normalised id token value."""

    TYPE = "auth.token_decisions"
    VERSION = 1

    id_token: str = Field(description="The normalised (upper-case) id token value; also the record key.")
    decisions: dict[str, AuthorizationDecision] = Field(
        default_factory=dict,
        description=f"Authorize answers: '{OCPP16_KEY}' for 1.6 idTags, else the 2.x IdTokenType presented. "
        "Empty: the value is not registered (any more); the gateway asks the auth service.",
    )
    valid_until: datetime | None = Field(
        default=None, description="After this instant the snapshot may be wrong (a token expires): ask auth."
    )
    decided_at: datetime

    def decision_for(self, ocpp_version: str, token_type: str, now: datetime) -> AuthorizationDecision | None:
        """The published answer for a presented token, or None (ask the auth service)."""
        if self.valid_until is not None and now >= self.valid_until:
            return None
        return self.decisions.get(OCPP16_KEY if ocpp_version == "ocpp1.6" else token_type)
