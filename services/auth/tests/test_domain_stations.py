from __future__ import annotations

from datetime import UTC, datetime

import pytest
from voltline_auth.domain.stations import (
    BootPolicy,
    InvalidStation,
    Station,
    UnknownStationPolicy,
    check_certificate,
    check_password,
    check_security_profile,
    decide_boot,
    normalise_fingerprint,
)

NOW = datetime(2026, 11, 21, tzinfo=UTC)
REJECT = BootPolicy(UnknownStationPolicy.REJECT, heartbeat_interval=300, retry_interval=60)
PENDING = BootPolicy(UnknownStationPolicy.PENDING, heartbeat_interval=300, retry_interval=60)


def station(status: str = "Accepted") -> Station:
    return Station("CP-1", 1, status, "hash", NOW, NOW)  # type: ignore[arg-type]


def test_registered_station_is_accepted_with_heartbeat_interval() -> None:
    answer = decide_boot(station(), REJECT)
    assert (answer.status, answer.interval) == ("Accepted", 300)


def test_unknown_station_rejected_or_pending_per_policy() -> None:
    assert decide_boot(None, REJECT).status == "Rejected"
    assert decide_boot(None, PENDING).status == "Pending"
    assert decide_boot(None, PENDING).interval == 60


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
def test_non_accepted_registrations_keep_their_status(status: str) -> None:
    assert decide_boot(station(status), REJECT).status == status


def test_security_profile_rules_name_the_field() -> None:
    check_security_profile(1, has_password=True)
    check_security_profile(3, has_password=False)
    with pytest.raises(InvalidStation) as exc:
        check_security_profile(2, has_password=False)
    assert exc.value.field == "password"
    with pytest.raises(InvalidStation) as exc:
        check_security_profile(4, has_password=False)
    assert exc.value.field == "security_profile"


def test_password_length_follows_ocpp() -> None:
    check_password("x" * 16)
    with pytest.raises(InvalidStation):
        check_password("short")
    with pytest.raises(InvalidStation):
        check_password("x" * 41)


def test_certificate_fingerprints_are_sha256_and_only_for_profile_3() -> None:
    colons = ":".join(["AB"] * 32)
    assert normalise_fingerprint(colons) == "ab" * 32
    with pytest.raises(InvalidStation) as exc:
        normalise_fingerprint("abc")
    assert exc.value.field == "certificate_fingerprint"
    check_certificate(3, "ab" * 32)
    check_certificate(1, None)
    with pytest.raises(InvalidStation):
        check_certificate(2, "ab" * 32)
