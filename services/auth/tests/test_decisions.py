"""Authorisation decisions over real Kafka and PostgreSQL, for OCPP 1.6, 2.0.1 and 2.1.

The fake gateway asks exactly what the real one asks (AuthorizationRequested by request/reply on the
auth requests topic); session events are published on the sessions topic as the session service does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from auth_testing import Running, eventually, read_topic
from voltline_events import Envelope, decode_payload
from voltline_events.payloads import (
    AuthorizationDecision,
    AuthorizeAnswered,
    IdToken,
    SessionEnded,
    SessionStarted,
    TokenDecisions,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

VERSIONS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
# What each version asks when a transaction starts: 1.6 StartTransaction, 2.x TransactionEvent(Started).
START = {"ocpp1.6": "start_transaction", "ocpp2.0.1": "transaction_event", "ocpp2.1": "transaction_event"}
NEXT_YEAR = datetime.now(UTC) + timedelta(days=365)
YESTERDAY = datetime.now(UTC) - timedelta(days=1)


def info(decision: AuthorizationDecision, version: str) -> dict[str, Any]:
    """What the station gets: 1.6 idTagInfo or 2.x idTokenInfo."""
    return decision.id_tag_info() if version == "ocpp1.6" else decision.id_token_info()


async def _driver(auth: Running, email: str, **extra: Any) -> str:
    created = await auth.api.post("/api/v1/drivers", json={"name": "Ada", "email": email, **extra})
    assert created.status_code == 201, created.text
    return str(created.json()["driver_id"])


async def _token(auth: Running, id_token: str, **extra: Any) -> None:
    body = {"id_token": id_token, "type": "ISO14443", **extra}
    created = await auth.api.post("/api/v1/id-tokens", json=body)
    assert created.status_code == 201, created.text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tokens(auth: Running) -> dict[str, str]:
    driver = await _driver(auth, "ada@example.com", language="de", max_concurrent_sessions=1)
    await _token(auth, "ACC-1", driver_id=driver, group_id="FLEET-1", expires_at=NEXT_YEAR.isoformat())
    await _token(auth, "BLOCKED-1", status="Blocked", driver_id=driver)
    await _token(auth, "PAST-1", expires_at=YESTERDAY.isoformat())
    await _token(auth, "EXPIRED-1", status="Expired")
    await _token(auth, "INVALID-1", status="Invalid")
    await _token(auth, "KEY-1", type="KeyCode")
    return {"driver": driver}


@pytest.mark.parametrize("version", VERSIONS)
async def test_accepted_token_gets_expiry_group_and_language(
    auth: Running, tokens: dict[str, str], version: str
) -> None:
    decision = await auth.gateway.authorize("CP-D", "acc-1", ocpp_version=version)  # ids are case-insensitive
    assert decision.status == "Accepted" and decision.driver_id == tokens["driver"]
    expiry = NEXT_YEAR.isoformat(timespec="seconds").replace("+00:00", "Z")
    if version == "ocpp1.6":
        assert info(decision, version) == {"status": "Accepted", "expiryDate": expiry, "parentIdTag": "FLEET-1"}
    else:
        assert info(decision, version) == {
            "status": "Accepted",
            "cacheExpiryDateTime": expiry,
            "groupIdToken": {"idToken": "FLEET-1", "type": "Central"},
            "language1": "de",
        }


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("id_token", "status"),
    [("BLOCKED-1", "Blocked"), ("PAST-1", "Expired"), ("EXPIRED-1", "Expired"), ("INVALID-1", "Invalid")],
)
async def test_unusable_tokens_get_their_status(
    auth: Running, tokens: dict[str, str], version: str, id_token: str, status: str
) -> None:
    decision = await auth.gateway.authorize("CP-D", id_token, ocpp_version=version, purpose=START[version])
    assert decision.status == status
    assert info(decision, version)["status"] == status


@pytest.mark.parametrize("version", VERSIONS)
async def test_group_tokens_share_their_group(auth: Running, tokens: dict[str, str], version: str) -> None:
    """Cards of one group (parentIdTag / groupIdToken) let a station accept one card stopping another's charge."""
    suffix = version[-3:].replace(".", "")
    await _token(auth, f"GRP-A-{suffix}", group_id="DEPOT-7")
    await _token(auth, f"GRP-B-{suffix}", type="ISO15693", group_id="DEPOT-7")
    await _token(auth, f"GRP-C-{suffix}", group_id="DEPOT-7", status="Blocked")
    answers = [
        await auth.gateway.authorize("CP-D", f"GRP-{card}-{suffix}", ocpp_version=version, token_type=kind)
        for card, kind in (("A", "ISO14443"), ("B", "ISO15693"), ("C", "ISO14443"))
    ]
    assert [a.status for a in answers] == ["Accepted", "Accepted", "Blocked"]
    if version == "ocpp1.6":
        assert {a.id_tag_info()["parentIdTag"] for a in answers} == {"DEPOT-7"}
    else:
        assert {a.id_token_info()["groupIdToken"]["idToken"] for a in answers} == {"DEPOT-7"}


@pytest.mark.parametrize("version", VERSIONS)
async def test_unknown_tokens(auth: Running, tokens: dict[str, str], version: str) -> None:
    decision = await auth.gateway.authorize("CP-D", "NEVER-SEEN", ocpp_version=version)
    assert decision.status == "Unknown"
    # 1.6 has no Unknown: the station is told Invalid.
    assert info(decision, version) == {"status": "Invalid" if version == "ocpp1.6" else "Unknown"}


async def test_a_token_matches_on_its_value_when_the_station_sends_another_type(
    auth: Running, tokens: dict[str, str]
) -> None:
    """1.6 has no token types (its idTags arrive as ISO14443); 2.x stations send one card as Local in Authorize
    and as ISO14443 in TransactionEvent. The value decides when it names one token holder."""
    assert (await auth.gateway.authorize("CP-D", "KEY-1", ocpp_version="ocpp1.6")).status == "Accepted"
    as_rfid = await auth.gateway.authorize("CP-D", "KEY-1", ocpp_version="ocpp2.0.1", token_type="ISO14443")
    assert as_rfid.status == "Accepted"
    as_key = await auth.gateway.authorize("CP-D", "KEY-1", ocpp_version="ocpp2.0.1", token_type="KeyCode")
    assert as_key.status == "Accepted"


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_tag_registered_under_two_types(auth: Running, tokens: dict[str, str], version: str) -> None:
    same = f"DUO-{version[-3:]}".replace(".", "")
    await _token(auth, same, type="KeyCode")
    await _token(auth, same, type="Local")  # the same holder twice: one token, whatever type is sent
    assert (await auth.gateway.authorize("CP-D", same, ocpp_version=version, token_type="ISO14443")).status == (
        "Accepted"
    )


async def test_an_id_of_several_holders_is_ambiguous(auth: Running, tokens: dict[str, str]) -> None:
    await _token(auth, "TWIN-1", type="KeyCode")
    await _token(auth, "TWIN-1", type="Local", status="Blocked")
    assert (await auth.gateway.authorize("CP-D", "TWIN-1", ocpp_version="ocpp1.6")).status == "Invalid"
    local = await auth.gateway.authorize("CP-D", "TWIN-1", ocpp_version="ocpp2.0.1", token_type="Local")
    assert local.status == "Blocked"


@pytest.mark.parametrize("version", VERSIONS)
async def test_concurrent_session_limit(auth: Running, version: str) -> None:
    driver = await _driver(auth, f"limit-{version}@example.com", max_concurrent_sessions=1)
    token = f"LIMIT-{version[-3:]}".replace(".", "")
    await _token(auth, token, driver_id=driver)
    started = SessionStarted(
        session_id=f"S-{token}", station_id="CP-A", evse_id=1, id_token=token.lower(), started_at=datetime.now(UTC)
    )
    await auth.gateway.publish(auth.topics.sessions, started, "CP-A")

    async def elsewhere() -> str:
        decision = await auth.gateway.authorize("CP-B", token, ocpp_version=version, purpose=START[version], evse_id=2)
        return decision.status

    await eventually(lambda: _is(elsewhere(), "ConcurrentTx"))
    refused = await auth.gateway.authorize("CP-B", token, ocpp_version=version, purpose=START[version], evse_id=2)
    assert info(refused, version)["status"] == "ConcurrentTx"
    # The session's own transaction (same station and EVSE) is not "another" one.
    same = await auth.gateway.authorize("CP-A", token, ocpp_version=version, purpose=START[version], evse_id=1)
    assert same.status == "Accepted"
    # ConcurrentTx only answers transaction starts; Authorize stays Accepted (OCPP says so for both versions).
    assert (await auth.gateway.authorize("CP-B", token, ocpp_version=version)).status == "Accepted"

    ended = SessionEnded(
        session_id=f"S-{token}",
        station_id="CP-A",
        started_at=started.started_at,
        ended_at=datetime.now(UTC),
        energy_wh=1000,
    )
    await auth.gateway.publish(auth.topics.sessions, ended, "CP-A")
    await eventually(lambda: _is(elsewhere(), "Accepted"))


async def _is(status: Any, expected: str) -> bool:
    return bool(await status == expected)


async def test_decisions_are_audited(auth: Running, tokens: dict[str, str]) -> None:
    await auth.gateway.authorize("CP-AUDIT", "BLOCKED-1", ocpp_version="ocpp2.0.1", purpose="transaction_event")

    async def logged() -> list[dict[str, Any]]:
        page = await auth.api.get("/api/v1/authorizations", params={"station_id": "CP-AUDIT"})
        return list(page.json()["items"])

    await eventually(lambda: _nonempty(logged()))
    [row] = await logged()
    assert row["id_token"] == "BLOCKED-1" and row["status"] == "Blocked" and row["purpose"] == "transaction_event"
    assert row["ocpp_version"] == "ocpp2.0.1" and row["driver_id"] == tokens["driver"]


async def _nonempty(items: Any) -> bool:
    return bool(await items)


async def test_unreadable_requests_are_answered_invalid(auth: Running) -> None:
    from voltline_events import Envelope, decode_payload, station_key

    bad = Envelope(
        type="auth.authorization.requested", schema_version=1, source="gw/fake", station_id="CP-D", payload={}
    )
    answer = await auth.gateway.rpc.request(auth.topics.auth_requests, bad, key=station_key("CP-D"), timeout=30)
    assert decode_payload(answer) == AuthorizationDecision(status="Invalid")


async def _published(auth: Running) -> dict[str, TokenDecisions]:
    """The newest auth.token_decisions record per token value (what a gateway's table holds)."""
    out: dict[str, TokenDecisions] = {}
    for key, envelope in await read_topic(auth.settings.kafka_bootstrap, auth.topics.auth_decisions):
        record = decode_payload(Envelope.model_validate(envelope))
        assert isinstance(record, TokenDecisions) and key == record.id_token.encode()
        out[record.id_token] = record
    return out


async def test_published_decisions_say_what_auth_answers(auth: Running, tokens: dict[str, str]) -> None:
    """ADR 0015: gateways answer Authorize from these records, so each must equal auth's own answer, for every
    version and presented type (tokens of several types, ambiguous values, expiries included)."""
    await _token(auth, "PUB-LOCAL", type="Local", expires_at=NEXT_YEAR.isoformat())
    records = await _published(auth)
    now = datetime.now(UTC)
    valid_until = records["ACC-1"].valid_until  # the answer changes when the token expires: ask auth from then on
    assert valid_until is not None and abs((valid_until - NEXT_YEAR).total_seconds()) < 1
    for value in ("ACC-1", "BLOCKED-1", "PAST-1", "EXPIRED-1", "INVALID-1", "KEY-1", "TWIN-1", "PUB-LOCAL"):
        for version in VERSIONS:
            for presented in ("ISO14443", "KeyCode", "Local", "Central") if version != "ocpp1.6" else ("ISO14443",):
                asked = await auth.gateway.authorize("CP-PUB", value, ocpp_version=version, token_type=presented)
                published = records[value].decision_for(version, presented, now)
                assert published == asked, (value, version, presented)
    assert "NEVER-SEEN" not in records  # unknown values are asked of auth


async def test_a_blocked_or_deleted_token_is_published_before_the_api_answers(
    auth: Running, tokens: dict[str, str]
) -> None:
    await _token(auth, "REVOKE-1")
    assert (await _published(auth))["REVOKE-1"].decision_for("ocpp1.6", "ISO14443", datetime.now(UTC)) is not None
    blocked = await auth.api.patch("/api/v1/id-tokens/REVOKE-1", json={"status": "Blocked"})
    assert blocked.status_code == 200, blocked.text
    answer = (await _published(auth))["REVOKE-1"].decision_for("ocpp2.0.1", "ISO14443", datetime.now(UTC))
    assert answer is not None and answer.status == "Blocked"
    deleted = await auth.api.delete("/api/v1/id-tokens/REVOKE-1")
    assert deleted.status_code == 204, deleted.text
    assert (await _published(auth))["REVOKE-1"].decisions == {}  # the gateways ask auth again


async def test_answers_the_gateway_gave_alone_are_audited(auth: Running, tokens: dict[str, str]) -> None:
    answered = AuthorizeAnswered(
        ocpp_version="ocpp1.6", status="Accepted", local=True, id_token=IdToken(id_token="acc-1")
    )
    await auth.gateway.publish(auth.topics.station_events, answered, "CP-LOCAL")

    async def logged() -> list[dict[str, Any]]:
        page = await auth.api.get("/api/v1/authorizations", params={"station_id": "CP-LOCAL"})
        return list(page.json()["items"])

    await eventually(lambda: _nonempty(logged()))
    [row] = await logged()
    assert (row["id_token"], row["status"], row["purpose"]) == ("ACC-1", "Accepted", "authorize")
