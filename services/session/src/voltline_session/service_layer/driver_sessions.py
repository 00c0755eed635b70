"""Charging from the drivers' app: start, stop, list and follow one's own sessions (docs/drivers.md).

A driver is known by the access token auth signed (voltline_chassis.driver_tokens): the driver id, and the
app id token the session is started with. A driver's sessions are those linked to the driver id (a remote start
records the driver auth named) or carrying the app token; any other session is "not found" to them, never
"forbidden", so ids of other drivers' sessions leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voltline_session.domain.remote import StartRequest
from voltline_session.domain.session import Session
from voltline_session.service_layer import queries, remote
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ports import SessionFilter
from voltline_session.service_layer.supervision import SessionNotFound


@dataclass(frozen=True)
class Driver:
    driver_id: str
    id_token: str | None


class NoAppToken(Exception):
    """The driver's access token carries no app id token (an account confirmed before it had one)."""


class CannotPay(Exception):
    """Billing knows no way for this driver to pay: no payment method and no wallet balance."""


class PaymentCheckUnavailable(Exception):
    """Billing did not answer the can-pay question."""


class PaymentCheck(Protocol):
    async def can_pay(self, driver_id: str) -> bool:
        """True when the driver has a payment method or wallet money; raises PaymentCheckUnavailable."""
        ...


class NoPaymentCheck:
    """Used when no billing URL is configured: every driver may start (the gap is documented)."""

    async def can_pay(self, driver_id: str) -> bool:
        return True


def owned_by(driver: Driver) -> SessionFilter:
    return SessionFilter(driver_or_id_token=(driver.driver_id, driver.id_token))


def owns(driver: Driver, session: Session) -> bool:
    if session.driver_id is not None:
        return session.driver_id == driver.driver_id
    return driver.id_token is not None and (session.id_token or "").upper() == driver.id_token.upper()


async def my_sessions(
    ctx: SessionContext, driver: Driver, *, status: str | None, limit: int, offset: int
) -> list[Session]:
    where = owned_by(driver)
    if status is not None:
        where = SessionFilter(status=status, driver_or_id_token=where.driver_or_id_token)
    return await queries.list_sessions(ctx, where, limit=limit, offset=offset)


async def my_session(ctx: SessionContext, driver: Driver, session_id: str) -> Session:
    async with ctx.reader() as uow:
        session = await uow.sessions.get(session_id)
    if session is None or not owns(driver, session):
        raise SessionNotFound(session_id)
    return session


async def start(
    ctx: SessionContext,
    auth: remote.Authorizer,
    commands: remote.CommandSender,
    payments: PaymentCheck,
    driver: Driver,
    *,
    station_id: str,
    evse_id: int | None,
) -> remote.CommandOutcome:
    if driver.id_token is None:
        raise NoAppToken(driver.driver_id)
    if not await payments.can_pay(driver.driver_id):
        raise CannotPay(driver.driver_id)
    request = StartRequest(station_id, driver.id_token, "Central", evse_id, None, None)
    return await remote.remote_start(ctx, auth, commands, request, by=f"driver:{driver.driver_id}")


async def stop(
    ctx: SessionContext, commands: remote.CommandSender, driver: Driver, session_id: str
) -> remote.CommandOutcome:
    await my_session(ctx, driver, session_id)
    return await remote.remote_stop(ctx, commands, session_id, by=f"driver:{driver.driver_id}")
