"""Local list updates and station answers: pure rules, every OCPP version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from voltline_auth.domain.local_lists import (
    Entry,
    LocalList,
    OnStation,
    Plan,
    plan_update,
    reported_version,
    send_local_list,
)
from voltline_auth.domain.station_commands import judge, set_basic_auth_password
from voltline_auth.domain.sync import StationSync, next_attempt
from voltline_auth.domain.tokens import IdToken, TokenView
from voltline_events.payloads import StationCommandResult

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
LIST = LocalList("L-1", None, 7, NOW, NOW)


@pytest.mark.parametrize(
    ("held", "plan"),
    [
        (OnStation("L-1", 7), Plan(None, 7)),
        (OnStation("L-1", 5), Plan("Differential", 7, since=5)),
        (OnStation("L-1", 9), Plan("Full", 7)),  # ahead of us: start over
        (OnStation("L-2", 5), Plan("Full", 7)),  # another list
        (OnStation(None, 5), Plan("Full", 7)),  # a version we did not install
        (OnStation("L-1", 0), Plan("Full", 7)),
    ],
)
def test_plan_update(held: OnStation, plan: Plan) -> None:
    assert plan_update(LIST, held) == plan


def test_no_list_clears_whatever_the_station_holds() -> None:
    assert plan_update(None, OnStation("L-1", 7)) == Plan("Full", 8)  # the list voltline installed
    assert plan_update(None, OnStation(None, 3, known=False)) == Plan("Full", 4)  # a list from elsewhere
    assert plan_update(None, OnStation("?", 3)) == Plan("Full", 4)  # ... as recorded when it was reported
    assert plan_update(None, OnStation(None, 3)).update_type is None  # the empty list voltline installed
    assert plan_update(None, OnStation(None, 0, known=False)).update_type is None  # nothing there
    assert plan_update(None, OnStation(None, None)).update_type is None


def entry(id_token: str, status: str = "Accepted", **kw: object) -> Entry:
    token = IdToken(id_token, "eMAID", status, None, kw.get("expires"), kw.get("group"), NOW, NOW)  # type: ignore[arg-type]
    return Entry(id_token, "eMAID", TokenView(token, language=kw.get("language")))  # type: ignore[arg-type]


def test_send_local_list_per_version() -> None:
    expires = NOW + timedelta(days=1)
    entries = [
        entry("A", group="G", expires=expires, language="en"),
        entry("OLD", expires=NOW),  # expired by now: sent as Expired
        Entry("GONE", "eMAID", None),
        entry("NL-TNM-C12345678-J-LONGER"),  # longer than a 1.6 idTag
    ]
    assert send_local_list("ocpp1.6", 8, "Differential", entries, NOW) == {
        "listVersion": 8,
        "updateType": "Differential",
        "localAuthorizationList": [
            {
                "idTag": "A",
                "idTagInfo": {"status": "Accepted", "expiryDate": "2026-11-22T12:00:00Z", "parentIdTag": "G"},
            },
            {"idTag": "OLD", "idTagInfo": {"status": "Expired", "expiryDate": "2026-11-21T12:00:00Z"}},
            {"idTag": "GONE"},
        ],
    }
    v201 = send_local_list("ocpp2.0.1", 8, "Full", entries[:1], NOW)
    assert v201 == {
        "versionNumber": 8,
        "updateType": "Full",
        "localAuthorizationList": [
            {
                "idToken": {"idToken": "A", "type": "eMAID"},
                "idTokenInfo": {
                    "status": "Accepted",
                    "cacheExpiryDateTime": "2026-11-22T12:00:00Z",
                    "groupIdToken": {"idToken": "G", "type": "Central"},
                    "language1": "en",
                },
            }
        ],
    }
    assert send_local_list("ocpp2.1", 1, "Full", [], NOW) == {"versionNumber": 1, "updateType": "Full"}
    assert reported_version("ocpp1.6", {"listVersion": -1}) == -1
    assert reported_version("ocpp2.0.1", {"versionNumber": 4}) == 4


def result(action: str, outcome: str = "answered", **kw: object) -> StationCommandResult:
    return StationCommandResult(outcome=outcome, action=action, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("res", "ok", "retry"),
    [
        (result("ClearCache", payload={"status": "Accepted"}), True, False),
        (result("ClearCache", payload={"status": "Rejected"}), False, False),
        (result("ChangeConfiguration", payload={"status": "RebootRequired"}), True, False),
        (result("ChangeConfiguration", payload={"status": "NotSupported"}), False, False),
        (result("SetVariables", payload={"setVariableResult": [{"attributeStatus": "Accepted"}]}), True, False),
        (result("SetVariables", payload={"setVariableResult": [{"attributeStatus": "UnknownVariable"}]}), False, False),
        (result("SendLocalList", payload={"status": "Failed"}), False, True),
        (result("SendLocalList", payload={"status": "VersionMismatch"}), False, True),
        (result("SendLocalList", payload={"status": "NotSupported"}), False, False),
        (result("GetLocalListVersion", payload={"listVersion": 3}), True, False),
        (result("ClearCache", "offline"), False, True),
        (result("ClearCache", "timeout"), False, True),
        (result("ClearCache", "invalid"), False, False),
        (result("SendLocalList", "call_error", error_code="NotImplemented"), False, False),
        (result("SendLocalList", "call_error", error_code="InternalError"), False, True),
    ],
)
def test_judging_station_answers(res: StationCommandResult, ok: bool, retry: bool) -> None:
    verdict = judge(res)
    assert (verdict.ok, verdict.retry) == (ok, retry)


def test_password_calls_per_version() -> None:
    v16 = set_basic_auth_password("ocpp1.6", "p" * 20)
    assert (v16.action, v16.payload) == ("ChangeConfiguration", {"key": "AuthorizationKey", "value": "p" * 20})
    v21 = set_basic_auth_password("ocpp2.1", "p" * 20)
    assert v21.action == "SetVariables"
    assert v21.payload["setVariableData"][0]["variable"] == {"name": "BasicAuthPassword"}


def test_sync_state_and_backoff() -> None:
    assert StationSync("CP", generation=2, synced_generation=1).pending
    assert not StationSync("CP").has_list_work
    assert not StationSync("CP", list_version_on_station=0).has_list_work  # known to hold nothing
    assert StationSync("CP", list_on_station="L").has_list_work  # a list to clear
    assert StationSync("CP", list_on_station="?", list_version_on_station=5).has_list_work  # one from elsewhere
    assert StationSync("CP", list_version_on_station=3).has_list_work  # the empty list we left: still checked
    assert not StationSync("CP", local_list="L", list_supported=False).has_list_work
    assert [next_attempt(n, NOW) - NOW for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (10, 20, 40)]
    assert next_attempt(30, NOW) - NOW == timedelta(minutes=10)
