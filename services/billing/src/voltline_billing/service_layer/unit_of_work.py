"""One transaction over the billing store: repositories, outbox and inbox commit together."""

from __future__ import annotations

from voltline_store import UnitOfWork

from voltline_billing.adapters.cdr_repository import CdrRepository
from voltline_billing.adapters.ledger_repository import LedgerRepository
from voltline_billing.adapters.payment_repository import PaymentRepository
from voltline_billing.adapters.plan_repository import InvoiceRepository, PlanRepository
from voltline_billing.adapters.tariff_repository import SessionRepository, TariffRepository


class BillingUnitOfWork(UnitOfWork):
    tariffs: TariffRepository
    sessions: SessionRepository
    cdrs: CdrRepository
    payments: PaymentRepository
    ledger: LedgerRepository
    plans: PlanRepository
    invoices: InvoiceRepository

    def attach_repositories(self) -> None:
        self.tariffs = TariffRepository(self.session)
        self.sessions = SessionRepository(self.session)
        self.cdrs = CdrRepository(self.session)
        self.payments = PaymentRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        self.plans = PlanRepository(self.session)
        self.invoices = InvoiceRepository(self.session)
