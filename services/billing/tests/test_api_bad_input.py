"""Bad input to the billing API: 4xx naming the field, before any arithmetic; nothing is created (issue 11)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from billing_testing import ADMIN, RunningBilling
from voltline_devinfra.api_probes import list_routes_refuse_huge_offsets, problem_field

pytestmark = pytest.mark.asyncio(loop_scope="module")

NEVER_S = 60.0  # an answer that takes this long is not coming (nothing here is a speed assertion)
ENERGY = {"price_components": [{"type": "ENERGY", "price": "0.30"}]}


def tariff(**changes: Any) -> dict[str, Any]:
    return {"tariff_id": "T-BAD", "currency": "EUR", "energy_price_per_kwh": "0.30"} | changes


def ocpi(restrictions: dict[str, Any]) -> dict[str, Any]:
    return {"tariff_id": "T-BAD", "currency": "EUR", "elements": [ENERGY | {"restrictions": restrictions}]}


CASES = [
    ("post", "/payments/p-1/refunds", {"amount": "1e999999999"}, 422, "body.amount"),
    ("post", "/payments/p-1/refunds", {"amount": "NaN"}, 422, "body.amount"),
    (
        "post",
        "/invoices/i-1/credit-notes",
        {"reason": "x", "lines": [{"line": 0, "amount": "1e999999999"}]},
        422,
        "amount",
    ),
    ("post", "/tariffs", ocpi({"min_kwh": "1e10000000"}), 422, "min_kwh"),
    ("post", "/tariffs", ocpi({"max_power": "-1"}), 422, "max_power"),
    ("post", "/tariffs", ocpi({"min_duration": 10**30}), 422, "min_duration"),
    ("post", "/tariffs", ocpi({"min_current": "0.0000001"}), 422, "min_current"),
    ("post", "/tariffs", tariff(time_zone="America"), 422, "body.time_zone"),
    ("post", "/tariffs", tariff(time_zone="Europe/" + "x" * 300), 422, "body.time_zone"),
    ("post", "/tariffs", tariff(energy_price_per_kwh=None), 422, "body.energy_price_per_kwh"),
    ("post", "/tariffs", tariff(session_fee="1e999999999"), 422, "body.session_fee"),
    ("post", "/tariffs", {"tariff_id": "T-BAD", "currency": "EUR", "elements": [ENERGY] * 101}, 422, "body.elements"),
    ("post", "/tariffs", {"tariff_id": "T-BAD", "currency": "EUR", "elements": [ENERGY] * 120_000}, 413, ""),
    ("get", "/wallets/%00", None, 422, "path.driver_id"),
    ("get", "/wallets/a%0Ab", None, 422, "path.driver_id"),
    ("post", "/wallets/" + "d" * 10_000 + "/top-ups", {"amount": "5", "currency": "EUR"}, 422, "path.driver_id"),
    ("post", "/wallets/d-1/top-ups", {"amount": "1e999999999", "currency": "EUR"}, 422, "body.amount"),
    ("get", "/cdrs?driver_id=a%0Ab", None, 422, "query.driver_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), CASES)
async def test_bad_input_is_refused_quickly_naming_the_field(
    billing: RunningBilling, method: str, path: str, body: Any, status: int, field: str
) -> None:
    # The answer is the signal (no speed target here): arithmetic on such a number (int(Decimal("1e999999999")))
    # would never finish, and a request that never answers fails here, or at pytest's timeout if it blocks the loop.
    async with asyncio.timeout(NEVER_S):
        answer = await billing.api.request(method.upper(), f"/api/v1{path}", json=body, headers=ADMIN)
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in problem_field(answer) if status == 422 else True
    assert (await billing.api.get("/healthz")).status_code == 200


async def test_no_wallet_was_opened_by_bad_driver_ids(billing: RunningBilling) -> None:
    answer = await billing.api.get("/api/v1/ledger/trial-balance", headers=ADMIN)
    assert "d" * 100 not in answer.text and "\\u0000" not in answer.text


async def test_every_list_refuses_huge_offsets(billing: RunningBilling) -> None:
    answers = await list_routes_refuse_huge_offsets(billing.api, ADMIN, skip=("/api/v1/me/",))  # test_me has those
    assert answers and all(status == 422 for status in answers.values()), answers


async def test_an_idempotency_key_reused_with_another_body_is_a_conflict(billing: RunningBilling) -> None:
    key = {"Idempotency-Key": "top-up-0001"} | ADMIN
    first = await billing.api.post(
        "/api/v1/wallets/d-idem/top-ups", json={"amount": "5", "currency": "EUR"}, headers=key
    )
    assert first.status_code == 201, first.text
    again = await billing.api.post(
        "/api/v1/wallets/d-idem/top-ups", json={"amount": "5", "currency": "EUR"}, headers=key
    )
    assert again.status_code == 201 and again.json()["balance"] == first.json()["balance"]  # a no-op
    other = await billing.api.post(
        "/api/v1/wallets/d-idem/top-ups", json={"amount": "50", "currency": "EUR"}, headers=key
    )
    assert other.status_code == 409, other.text
    wallet = await billing.api.get("/api/v1/wallets/d-idem", headers=ADMIN)
    assert wallet.json()["balance"] == first.json()["balance"]
