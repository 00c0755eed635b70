from __future__ import annotations

from voltline_gateway.domain.presence import Role, rendezvous, role
from voltline_gateway.domain.rate_limit import TokenBucket
from voltline_gateway.domain.transaction_id import transaction_id_16


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.refused_in_a_row == 1
    assert bucket.allow(0.1) and not bucket.allow(0.1)
    assert bucket.allow(10.0) and bucket.refused_in_a_row == 0


def test_transaction_ids_are_deterministic_positive_31_bit() -> None:
    a = transaction_id_16("CP-1", 1, "2024-05-01T08:00:00Z", 100, "CARD")
    assert a == transaction_id_16("CP-1", 1, "2024-05-01T08:00:00Z", 100, "CARD")
    assert a != transaction_id_16("CP-2", 1, "2024-05-01T08:00:00Z", 100, "CARD")
    ids = {transaction_id_16("CP-1", 1, f"2024-05-01T08:00:{i:02d}Z", i, "CARD") for i in range(60)}
    assert len(ids) == 60 and all(0 < i < 2**31 for i in ids)


def test_the_holder_executes_and_exactly_one_other_answers_offline() -> None:
    live = {"gw-a", "gw-b", "gw-c"}
    assert role("CP-1", me="gw-a", holds=True, named="gw-b", live=live) is Role.EXECUTE
    # named holder alive: only it acts (it executes, or answers offline if the station left it)
    assert [role("CP-1", me=g, holds=False, named="gw-b", live=live) for g in sorted(live)] == [
        Role.IGNORE,
        Role.ANSWER_OFFLINE,
        Role.IGNORE,
    ]
    # no record, or the named instance is gone: the rendezvous winner among the living answers
    for named in (None, "gw-dead"):
        roles = {g: role("CP-9", me=g, holds=False, named=named, live=live) for g in live}
        assert [g for g, r in roles.items() if r is Role.ANSWER_OFFLINE] == [rendezvous("CP-9", live)]
