"""The embedded broker fails safely: killed a few times under load, it loses nothing a station was told was stored.

tansu (as under `make run`) forgets everything when it dies; the supervisor brings it back, the services
notice the new cluster id, recreate their topics and republish, and the gateway sends again what it had
acknowledged from its spool. Counts answered TransactionEvent Ended without a completed session (goal 0); the
station lifecycle topic (ADR 0037), which auth reads for presence, is replayed from the spool too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_chaos import ChaosSystem, lifecycle_while_auth_is_away, run, start


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[ChaosSystem]:
    yield from start(tmp_path)


async def test_broker_killed_three_times_under_load_loses_nothing(chaos: ChaosSystem) -> None:
    tally, missing = await run(chaos, stations=6, kills=3)
    assert chaos.broker.restarts >= 3
    assert len(tally.ended) > 20, "too little load to mean anything"
    assert not missing, f"{len(missing)} of {len(tally.ended)} answered transactions lost: {sorted(missing)[:5]}"


async def test_lifecycle_copies_acknowledged_before_a_kill_reach_auth_from_the_spool(chaos: ChaosSystem) -> None:
    """Auth is away while stations connect and boot (the gateway answers their boots Pending without it) and while
    the gateway answers Authorize from auth's published decisions, so their lifecycle copies exist only on the
    broker; some stations leave just before the broker dies with them (session 9: one was still shown connected,
    ADR 0045); auth comes back: what it shows of every station's presence, and its log of the local answers, came
    from the gateway's spool, each answer once. The session service (up all along) agrees on who is connected."""
    seen = await lifecycle_while_auth_is_away(chaos, staying=3, leaving=2)
    assert chaos.broker.restarts >= 1
    assert seen.presence["staying"] == [{"connected": True, "ocpp_version": "ocpp2.0.1"}] * 3
    # Their version may stay unknown: a disconnect read before the connect it follows is the newest event.
    assert [p["connected"] for p in seen.presence["leaving"]] == [False] * 2
    assert seen.session_connected == {"staying": [True] * 3, "leaving": [False] * 2}
    assert len(seen.local_answers_logged) == seen.local_answers_given, seen.local_answers_logged
    assert {row["status"] for row in seen.local_answers_logged} == {"Accepted"}
