"""The session model: merging messages in any order, periods, and remote commands per protocol."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from voltline_events.payloads import IdToken, StationTransaction
from voltline_session.domain.periods import Observation, build_periods, state_from_charging_state, state_from_status
from voltline_session.domain.remote import (
    CommandNotPossible,
    StartRequest,
    check_command,
    start_command,
    station_confirmed,
    station_forgot,
    stop_command,
    verdict,
)
from voltline_session.domain.session import (
    CLOSED_BY_OPERATOR,
    Session,
    close_by_operator,
    goes_on,
    merge,
    missing_messages,
    newest,
    open_session,
    ready_to_announce_end,
    went_on,
)

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def tx(kind: str, minutes: float, **fields: object) -> StationTransaction:
    return StationTransaction(
        ocpp_version="ocpp2.0.1", kind=kind, transaction_id="t-1", timestamp=at(minutes), **fields
    )  # type: ignore[arg-type]


MESSAGES = [
    tx("started", 0, evse_id=1, connector_id=1, id_token=IdToken(id_token="A"), remote_start_id=7, seq_no=0),
    tx("updated", 10, seq_no=1, trigger_reason="MeterValuePeriodic"),
    tx("updated", 20, seq_no=2, id_token=IdToken(id_token="LATER")),
    tx("ended", 30, seq_no=3, stop_reason="EVDisconnected", id_token=IdToken(id_token="STOPPER")),
]


def play(messages: list[StationTransaction]) -> Session:
    session = open_session("s-1", "CP-1", messages[0], NOW)
    for message in messages[1:]:
        session = merge(session, message, NOW)
    return session


def essentials(s: Session) -> tuple[object, ...]:
    return (s.status, s.started_at, s.ended_at, s.id_token, s.evse_id, s.remote_start_id, s.stop_reason, s.start_seen)


def test_any_order_gives_the_same_session() -> None:
    expected = ("completed", at(0), at(30), "A", 1, 7, "EVDisconnected", True)
    for order in itertools.permutations(MESSAGES):
        assert essentials(play(list(order))) == expected, [m.kind for m in order]


def test_merging_again_changes_nothing() -> None:
    once = play(MESSAGES)
    assert play(MESSAGES + MESSAGES) == once


def test_an_end_without_start_is_reconciled_until_the_start_arrives() -> None:
    reconciled = open_session("s-2", "CP-1", MESSAGES[-1], NOW)
    assert (reconciled.reconciled, reconciled.start_seen, reconciled.status) == (True, False, "completed")
    assert reconciled.started_at == at(30)
    later = merge(reconciled, MESSAGES[0], NOW)
    assert (later.reconciled, later.started_at) == (False, at(0))


def test_stop_reason_defaults_to_local_and_the_station_end_replaces_an_operator_close() -> None:
    active = play(MESSAGES[:3])
    closed = close_by_operator(active, by="ops", reason="silent", now=NOW)
    assert (closed.status, closed.stop_reason, closed.ended_at, closed.closed_by) == (
        "completed",
        CLOSED_BY_OPERATOR,
        at(20),
        "ops",
    )
    station_end = merge(closed, tx("ended", 45), NOW)
    assert (station_end.stop_reason, station_end.ended_at, station_end.end_seen) == ("Local", at(45), True)


def test_16_bay_is_the_connector_and_2x_bay_is_the_evse() -> None:
    sixteen = StationTransaction(
        ocpp_version="ocpp1.6", kind="started", transaction_id="9", timestamp=T0, connector_id=2
    )
    assert open_session("s", "CP", sixteen, NOW).bay == 2
    assert play(MESSAGES).bay == 1


def cumulative(*points: tuple[float, int]) -> list[tuple[datetime, Decimal]]:
    return [(at(m), Decimal(e)) for m, e in points]


def test_periods_follow_observations_and_energy_goes_to_charging_time() -> None:
    observations = [Observation(at(-0.5), "idle"), Observation(at(1), "charging"), Observation(at(40), "suspended_ev")]
    periods = build_periods(
        at(0), at(60), observations, cumulative((0, 0), (30, 9_000), (50, 12_000), (60, 12_100)), 12_100
    )
    assert [(p.state, p.start, p.end, p.energy_wh) for p in periods] == [
        ("idle", at(0), at(1), 0),  # plugged in, not yet charging: no energy although a reading spans it
        ("charging", at(1), at(40), 12_000),  # 30-50 min: the energy came while charging, not while suspended
        ("suspended_ev", at(40), at(50), 0),
        ("charging", at(50), at(60), 100),  # 50-60 min: energy flowed although the label said suspended
    ]
    assert sum(p.energy_wh for p in periods) == 12_100


def test_time_with_energy_is_charging_whatever_the_label_and_idle_has_no_energy() -> None:
    # A 2.0.1 station says EVConnected while the register grows, and only later Charging.
    observations = [Observation(at(0), "idle"), Observation(at(20), "charging"), Observation(at(50), "idle")]
    register = cumulative((0, 0), (5, 500), (10, 1_500), (15, 2_500), (25, 4_000), (50, 9_000), (60, 9_000))
    periods = build_periods(at(0), at(60), observations, register, 9_000)
    assert [(p.state, p.start, p.end, p.energy_wh) for p in periods] == [
        ("charging", at(0), at(15), 2_500),  # labelled idle, but the register grew: charging
        ("idle", at(15), at(20), 0),  # this step was partly labelled charging: its energy goes to that part
        ("charging", at(20), at(50), 6_500),
        ("idle", at(50), at(60), 0),  # parking only once the register stopped growing
    ]


def test_unplugged_time_is_in_no_period_and_no_observation_means_charging() -> None:
    observations = [Observation(at(10), "unplugged"), Observation(at(20), "charging")]
    periods = build_periods(at(0), at(30), observations, cumulative((0, 0), (10, 1_000), (30, 3_000)), 3_000)
    assert [(p.state, p.start, p.end, p.energy_wh) for p in periods] == [
        ("charging", at(0), at(10), 1_000),
        ("charging", at(20), at(30), 2_000),
    ]
    assert [p.state for p in build_periods(at(0), at(5), [], [], 0)] == ["charging"]


def test_state_mapping_per_protocol() -> None:
    assert state_from_status("ocpp1.6", "SuspendedEVSE") == "suspended_evse"
    assert state_from_status("ocpp1.6", "Finishing") == "idle"
    assert state_from_status("ocpp2.0.1", "Occupied") is None  # says nothing about charging
    assert state_from_charging_state("EVConnected") == "idle"
    assert state_from_charging_state("Idle") == "unplugged"


def test_remote_start_per_protocol() -> None:
    request = StartRequest("CP-1", "TAG-1", "ISO14443", evse_id=2, connector_id=None)
    assert start_command("ocpp1.6", request, 5) == ("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 2})
    assert start_command("ocpp2.1", request, 5) == (
        "RequestStartTransaction",
        {"idToken": {"idToken": "TAG-1", "type": "ISO14443"}, "remoteStartId": 5, "evseId": 2},
    )
    with pytest.raises(CommandNotPossible) as too_long:
        start_command("ocpp1.6", StartRequest("CP-1", "X" * 21), 1)
    assert too_long.value.field == "id_token"


def test_remote_stop_per_protocol() -> None:
    assert stop_command("ocpp1.6", "1234") == ("RemoteStopTransaction", {"transactionId": 1234})
    assert stop_command("ocpp2.0.1", "abc") == ("RequestStopTransaction", {"transactionId": "abc"})
    with pytest.raises(CommandNotPossible):
        stop_command("ocpp1.6", "abc")


def test_verdicts_say_what_happened() -> None:
    def judge(outcome: str, payload: dict | None = None, **kw: object) -> tuple[str, str]:
        v = verdict(station_id="CP-1", action="RemoteStartTransaction", outcome=outcome, payload=payload, **kw)  # type: ignore[arg-type]
        return v.kind, v.message

    assert judge("answered", {"status": "Accepted"})[0] == "accepted"
    assert judge("answered", {"status": "Rejected"}) == (
        "rejected",
        "Station CP-1 answered RemoteStartTransaction with 'Rejected'.",
    )
    assert judge("offline") == ("offline", "Station CP-1 is offline: it is not connected to any gateway.")
    assert judge("timeout", timeout_s=15.0)[1] == "Station CP-1 did not answer RemoteStartTransaction within 15 s."
    assert judge("call_error", error_code="NotSupported")[0] == "call_error"
    assert judge("invalid", error_description="schema")[0] == "invalid"


def test_a_2x_end_waits_for_its_missing_messages_but_not_forever() -> None:
    grace = timedelta(minutes=10)
    gap = play([MESSAGES[0], MESSAGES[1], MESSAGES[3]])  # seqNo 2 has not arrived
    assert missing_messages(gap, {0, 1, 3}) == [2]
    assert not ready_to_announce_end(gap, [2], NOW, grace)
    assert ready_to_announce_end(gap, [2], NOW + grace, grace)
    assert ready_to_announce_end(play(MESSAGES), [], NOW, grace)
    no_start = open_session("s-3", "CP-1", MESSAGES[3], NOW)
    assert not ready_to_announce_end(no_start, [], NOW, grace)
    station_wide = open_session("s-4", "CP-1", tx("started", 0, seq_no=812), NOW)
    assert missing_messages(merge(station_wide, tx("ended", 5, seq_no=830), NOW), {812, 830}) == []


def test_what_a_station_says_about_a_transaction_it_may_have_forgotten() -> None:
    assert check_command("ocpp1.6", "17", 2) == (
        "TriggerMessage",
        {"requestedMessage": "MeterValues", "connectorId": 2},
    )
    assert check_command("ocpp2.0.1", "tx-1", 1) == ("GetTransactionStatus", {"transactionId": "tx-1"})
    status = "GetTransactionStatus"
    assert station_forgot("ocpp2.0.1", status, {"ongoingIndicator": False, "messagesInQueue": False})
    assert not station_forgot("ocpp2.0.1", status, {"ongoingIndicator": False, "messagesInQueue": True})  # coming
    assert station_confirmed(status, {"ongoingIndicator": True, "messagesInQueue": False})
    assert station_forgot("ocpp1.6", "RemoteStopTransaction", {"status": "Rejected"})
    rejected = {"status": "Rejected", "statusInfo": {"reasonCode": "TxNotFound"}}
    assert station_forgot("ocpp2.0.1", "RequestStopTransaction", rejected)
    assert not station_forgot("ocpp2.0.1", "RequestStopTransaction", {"status": "Rejected"})  # ask first
    assert not station_forgot("ocpp1.6", "RemoteStopTransaction", {"status": "Accepted"})


def test_a_card_session_takes_the_driver_of_its_own_token_only() -> None:
    """ADR 0024: the start names the card's driver; a stop by another driver's card changes nothing."""
    started = tx("started", 0, evse_id=1, id_token=IdToken(id_token="CARD"), driver_id="drv-1", seq_no=0)
    stopped = tx("ended", 30, seq_no=1, id_token=IdToken(id_token="OTHER"), driver_id="drv-2")
    assert play([started, stopped]).driver_id == "drv-1"
    assert play([stopped, started]).driver_id == "drv-1"  # the start's token is the session's, whatever the order
    no_driver = tx("started", 0, id_token=IdToken(id_token="CARD"), seq_no=0)
    later = tx("updated", 5, seq_no=1, id_token=IdToken(id_token="CARD"), driver_id="drv-1")
    assert play([no_driver]).driver_id is None and play([no_driver, later]).driver_id == "drv-1"


def test_a_remote_starts_driver_stays() -> None:
    started = tx("started", 0, id_token=IdToken(id_token="APP"), seq_no=0)
    session = replace(open_session("s-1", "CP-1", started, NOW), driver_id="drv-app")  # linked to a remote start
    update = tx("updated", 5, id_token=IdToken(id_token="APP"), driver_id="drv-other", seq_no=1)
    assert merge(session, update, NOW).driver_id == "drv-app"


# Any message of a transaction: what `goes_on` must tell apart (a token, a place, a remote start, an offline
# flag, a start or an end) or let through (a plain MeterValues, with or without a trigger, early or late).
message = st.builds(
    lambda kind, minute, evse, connector, token, remote, offline, trigger: tx(
        kind,
        minute,
        evse_id=evse,
        connector_id=connector,
        id_token=IdToken(id_token=token) if token else None,
        remote_start_id=remote,
        offline=offline,
        trigger_reason=trigger,
    ),
    st.sampled_from(["started", "updated", "updated", "updated", "updated", "ended"]),
    st.integers(-5, 60),
    st.sampled_from([None, None, 1, 2]),
    st.sampled_from([None, None, 1]),
    st.sampled_from([None, None, None, "A", "B"]),
    st.sampled_from([None, None, None, 7]),
    st.sampled_from([False, False, False, True]),
    st.sampled_from([None, "MeterValuePeriodic", "ChargingStateChanged"]),
)


@settings(max_examples=300, deadline=None)
@given(
    history=st.lists(message, min_size=1, max_size=6),
    then=st.lists(message, min_size=1, max_size=6),
    doubt=st.sampled_from([None, "rebooted"]),
)
def test_messages_that_only_say_the_transaction_goes_on_merge_as_went_on_says(
    history: list[StationTransaction], then: list[StationTransaction], doubt: str | None
) -> None:
    """The batch appends such messages and merges them once (`batching.append`): the same session as merging
    each, for any session (in doubt or not) and any run of them; anything else is not let through."""
    session = open_session("s-1", "CP-1", history[0], NOW)
    for m in history[1:]:
        session = merge(session, m, NOW)
    session = replace(session, doubt=doubt, doubt_since=NOW if doubt else None, checked_at=NOW if doubt else None)
    merged, last, reason, later = session, session.last_event_at, session.trigger_reason, NOW
    plain = list(itertools.takewhile(lambda m: goes_on(session, m), then))  # then the batch merges the general way
    for n, m in enumerate(plain):
        later = NOW + timedelta(seconds=n)
        merged = merge(merged, m, later)
        last, reason = newest(last, reason, m)
    if plain:
        assert went_on(session, later, last, reason) == merged


def test_a_plain_meter_values_goes_on_and_news_does_not() -> None:
    started = open_session("s-1", "CP-1", MESSAGES[0], NOW)
    assert goes_on(started, tx("updated", 10, seq_no=1, trigger_reason="MeterValuePeriodic", evse_id=1))
    assert not goes_on(started, tx("updated", 10, id_token=IdToken(id_token="A")))  # a token: the driver may change
    assert not goes_on(started, tx("updated", 10, offline=True))
    assert not goes_on(started, tx("ended", 10))
    unstarted = open_session("s-2", "CP-1", tx("updated", 5), NOW)
    assert not goes_on(unstarted, tx("updated", 10))  # may move the stand-in start
    assert not goes_on(unstarted, tx("updated", 10, evse_id=1))  # the place is news
