"""The double-entry ledger in the database: entries, their postings, and running account balances.

An entry is written with all its postings and the balances they move in one transaction; its unique
reference makes a repeated effect (the same payment charged again) fail instead of posting twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_billing.adapters.orm import ledger_accounts, ledger_entries, ledger_postings
from voltline_billing.domain.ledger import Entry


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def account(self, account: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(ledger_accounts).where(ledger_accounts.c.account == account)
        row = (await self._s.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else dict(row._mapping)

    async def open(self, account: str, currency: str, now: datetime, credit_limit: Decimal = Decimal(0)) -> None:
        if await self.account(account) is None:
            await self._s.execute(
                insert(ledger_accounts).values(
                    account=account, currency=currency, balance=Decimal(0), credit_limit=credit_limit, updated_at=now
                )
            )

    async def set_credit_limit(self, account: str, credit_limit: Decimal, now: datetime) -> None:
        stmt = update(ledger_accounts).where(ledger_accounts.c.account == account)
        await self._s.execute(stmt.values(credit_limit=credit_limit, updated_at=now))

    async def has_entry(self, reference: str) -> bool:
        query = select(func.count()).where(ledger_entries.c.reference == reference)
        return bool((await self._s.execute(query)).scalar())

    async def posted(self, reference: str, account: str) -> tuple[str, Decimal] | None:
        """(currency, amount) that the entry with `reference` moved on `account`; None when there is none."""
        query = (
            select(ledger_entries.c.currency, ledger_postings.c.amount)
            .join(ledger_postings, ledger_postings.c.entry_id == ledger_entries.c.entry_id)
            .where(ledger_entries.c.reference == reference, ledger_postings.c.account == account)
        )
        row = (await self._s.execute(query)).first()
        return None if row is None else (row[0], Decimal(row[1]))

    async def post(self, entry: Entry, now: datetime) -> str:
        entry_id = f"je_{uuid.uuid4().hex[:20]}"
        await self._s.execute(
            insert(ledger_entries).values(
                entry_id=entry_id, kind=entry.kind, currency=entry.currency, reference=entry.reference, created_at=now
            )
        )
        for posting in entry.postings:
            await self.open(posting.account, entry.currency, now)
            await self._s.execute(
                insert(ledger_postings).values(entry_id=entry_id, account=posting.account, amount=posting.amount)
            )
            row = await self.account(posting.account, lock=True)
            assert row is not None
            stmt = update(ledger_accounts).where(ledger_accounts.c.account == posting.account)
            await self._s.execute(stmt.values(balance=row["balance"] + posting.amount, updated_at=now))
        return entry_id

    async def statement(self, account: str, limit: int, offset: int) -> list[dict[str, Any]]:
        query = (
            select(
                ledger_entries.c.entry_id,
                ledger_entries.c.kind,
                ledger_entries.c.reference,
                ledger_entries.c.currency,
                ledger_entries.c.created_at,
                ledger_postings.c.amount,
            )
            .join(ledger_postings, ledger_postings.c.entry_id == ledger_entries.c.entry_id)
            .where(ledger_postings.c.account == account)
            .order_by(ledger_postings.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [dict(row._mapping) for row in await self._s.execute(query)]

    async def trial_balance(self) -> dict[str, Any]:
        """Every account's balance, recomputed from the postings and compared with the running balances."""
        sums = select(ledger_postings.c.account, ledger_postings.c.amount)
        recomputed: dict[str, Decimal] = {}
        for account, amount in await self._s.execute(sums):
            recomputed[account] = recomputed.get(account, Decimal(0)) + amount
        accounts = {row.account: row for row in await self._s.execute(select(ledger_accounts))}
        per_entry: dict[str, Decimal] = {}
        for entry_id, amount in await self._s.execute(select(ledger_postings.c.entry_id, ledger_postings.c.amount)):
            per_entry[entry_id] = per_entry.get(entry_id, Decimal(0)) + amount
        return {
            "accounts": {
                name: {"currency": row.currency, "balance": row.balance, "recomputed": recomputed.get(name, Decimal(0))}
                for name, row in sorted(accounts.items())
            },
            "unbalanced_entries": sorted(entry for entry, total in per_entry.items() if total != 0),
        }
