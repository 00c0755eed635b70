"""One transaction over the billing database: repositories, outbox and inbox commit together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import UnitOfWork

from voltline_billing.adapters.adhoc_repository import AdhocRepository
from voltline_billing.adapters.cdr_repository import CdrRepository
from voltline_billing.adapters.ledger_repository import LedgerRepository
from voltline_billing.adapters.payment_repository import PaymentRepository
from voltline_billing.adapters.plan_repository import InvoiceRepository, PlanRepository
from voltline_billing.adapters.receipt_repository import ReceiptRepository
from voltline_billing.adapters.tariff_repository import SessionRepository, TariffRepository
from voltline_billing.service_layer import ports

R = TypeVar("R")


class Repository(Generic[R]):
    """A unit of work's repository, built on `self.session` at its first use in the block.

    A consumed session event opens two units of work (the CDR path's and the cost path's), each using one or two
    of the ten repositories: building all ten each time was 13% of `bench.pipeline.billing_rules`'s time under
    cProfile. Built inside the block, a repository sees the same session and batch as one built on entering it."""

    def __init__(self, make: Callable[[AsyncSession], R]) -> None:
        self._make = make
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> R: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Self | R:
        if obj is None:
            return self
        state = obj.__dict__
        built = state[self._name] = self._make(obj.session)  # type: ignore[attr-defined]
        state.setdefault(_BUILT, []).append(self._name)
        return built  # kept in the instance: later uses in the block do not come here


_BUILT = "_repositories_built"  # the names a unit of work built, forgotten when it is entered again


class SqlBillingUnitOfWork(UnitOfWork):
    """The billing unit of work (service_layer.ports.BillingUnitOfWork) over SQLAlchemy and the outbox."""

    duplicate_error = ports.Duplicate

    tariffs = Repository(TariffRepository)
    sessions = Repository(SessionRepository)
    cdrs = Repository(CdrRepository)
    payments = Repository(PaymentRepository)
    ledger = Repository(LedgerRepository)
    plans = Repository(PlanRepository)
    invoices = Repository(InvoiceRepository)
    receipts = Repository(ReceiptRepository)
    adhoc = Repository(AdhocRepository)

    def attach_repositories(self) -> None:
        """Repositories are built at their first use (`Repository`); one entered again starts afresh."""
        state: dict[str, Any] = self.__dict__
        for name in state.pop(_BUILT, ()):
            state.pop(name, None)

    def after_batch(self, key: str, callback: Callable[[], None]) -> bool:
        if self.batch is None:
            return False
        self.batch.after_commit(("billing.after_batch", key), callback)
        return True
