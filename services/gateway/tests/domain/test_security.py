from __future__ import annotations

import base64
from http import HTTPStatus

import pytest
from voltline_gateway.domain.security import (
    Admit,
    CheckPassword,
    Presented,
    Refuse,
    RegistryEntry,
    UnknownStations,
    admission,
    parse_basic,
)

PLAIN, TLS = Presented(tls=False), Presented(tls=True)
BASIC = Presented(tls=False, basic_user="CP-1", basic_password="pw-0123456789abcdef")
BASIC_TLS = Presented(tls=True, basic_user="CP-1", basic_password="pw-0123456789abcdef")
CERT = Presented(tls=True, certificate_cn="CP-1", certificate_fingerprint="AB:CD")


def entry(profile: int, **kw: str) -> RegistryEntry:
    return RegistryEntry(status="Accepted", security_profile=profile, **kw)


def test_unknown_stations_follow_the_policy() -> None:
    refused = admission("CP-1", None, PLAIN, UnknownStations.REFUSE)
    assert isinstance(refused, Refuse) and refused.status == HTTPStatus.NOT_FOUND
    assert admission("CP-1", None, PLAIN, UnknownStations.ADMIT) == Admit(profile=None, authenticated=False)


def test_profile_0_needs_nothing() -> None:
    assert admission("CP-1", entry(0), PLAIN, UnknownStations.REFUSE) == Admit(profile=0, authenticated=False)


@pytest.mark.parametrize(("profile", "shown"), [(1, BASIC), (1, BASIC_TLS), (2, BASIC_TLS)])
def test_basic_auth_profiles_check_the_password(profile: int, shown: Presented) -> None:
    verdict = admission("CP-1", entry(profile, password_hash="$2b$hash"), shown, UnknownStations.REFUSE)
    assert verdict == CheckPassword("pw-0123456789abcdef", ("$2b$hash",), profile)
    assert "pw-0123456789abcdef" not in repr(verdict) and "pw-0123" not in repr(shown)


@pytest.mark.parametrize(
    ("profile", "shown", "status"),
    [
        (1, PLAIN, HTTPStatus.UNAUTHORIZED),
        (1, Presented(tls=False, basic_user="CP-2", basic_password="x"), HTTPStatus.UNAUTHORIZED),
        (2, BASIC, HTTPStatus.FORBIDDEN),  # profile 2 on the plain port
        (2, TLS, HTTPStatus.UNAUTHORIZED),
        (3, BASIC_TLS, HTTPStatus.UNAUTHORIZED),  # no certificate
        (3, Presented(tls=True, certificate_cn="CP-2"), HTTPStatus.FORBIDDEN),
        (3, CERT, HTTPStatus.FORBIDDEN),  # pinned fingerprint differs
        (3, Presented(tls=False, certificate_cn="CP-1"), HTTPStatus.FORBIDDEN),
    ],
)
def test_wrong_or_missing_credentials_are_refused(profile: int, shown: Presented, status: HTTPStatus) -> None:
    registered = entry(profile, password_hash="$2b$hash", certificate_fingerprint="00:11")
    verdict = admission("CP-1", registered, shown, UnknownStations.ADMIT)
    assert isinstance(verdict, Refuse) and verdict.status == status


def test_profile_3_admits_the_right_certificate() -> None:
    assert admission("CP-1", entry(3), CERT, UnknownStations.REFUSE) == Admit(profile=3, authenticated=True)
    pinned = entry(3, certificate_fingerprint="ab:cd")
    assert admission("CP-1", pinned, CERT, UnknownStations.REFUSE) == Admit(profile=3, authenticated=True)


def test_basic_header_parsing() -> None:
    header = "Basic " + base64.b64encode(b"CP-1:pa:ss").decode()
    assert parse_basic(header) == ("CP-1", "pa:ss")
    assert parse_basic(None) is None and parse_basic("Bearer x") is None and parse_basic("Basic !!!") is None
    assert parse_basic("Basic " + base64.b64encode(b"nocolon").decode()) is None
