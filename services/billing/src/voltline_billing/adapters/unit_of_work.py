"""One transaction over the billing database: repositories, outbox and inbox commit together."""

from __future__ import annotations

from collections.abc import Callable

from voltline_store import UnitOfWork

from voltline_billing.adapters.adhoc_repository import AdhocRepository
from voltline_billing.adapters.cdr_repository import CdrRepository
from voltline_billing.adapters.ledger_repository import LedgerRepository
from voltline_billing.adapters.payment_repository import PaymentRepository
from voltline_billing.adapters.plan_repository import InvoiceRepository, PlanRepository
from voltline_billing.adapters.receipt_repository import ReceiptRepository
from voltline_billing.adapters.tariff_repository import SessionRepository, TariffRepository
from voltline_billing.service_layer import ports


class SqlBillingUnitOfWork(UnitOfWork):
    """The billing unit of work (service_layer.ports.BillingUnitOfWork) over SQLAlchemy and the outbox."""

    duplicate_error = ports.Duplicate

    tariffs: ports.TariffRepository
    sessions: ports.SessionRepository
    cdrs: ports.CdrRepository
    payments: ports.PaymentRepository
    ledger: ports.LedgerRepository
    plans: ports.PlanRepository
    invoices: ports.InvoiceRepository
    receipts: ports.ReceiptRepository
    adhoc: ports.AdhocRepository

    def attach_repositories(self) -> None:
        self.tariffs = TariffRepository(self.session)
        self.sessions = SessionRepository(self.session)
        self.cdrs = CdrRepository(self.session)
        self.payments = PaymentRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        self.plans = PlanRepository(self.session)
        self.invoices = InvoiceRepository(self.session)
        self.receipts = ReceiptRepository(self.session)
        self.adhoc = AdhocRepository(self.session)

    def after_batch(self, key: str, callback: Callable[[], None]) -> bool:
        if self.batch is None:
            return False
        self.batch.after_commit(("billing.after_batch", key), callback)
        return True
