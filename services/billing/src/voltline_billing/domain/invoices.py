"""Invoices and credit notes: built from priced sessions and plan fees, numbered without gaps when issued,
never changed afterwards. A correction is a credit note: a document of its own, with its own gapless
number, that refers to the invoice and gives back at most what that invoice still holds.

VAT on an invoice is the VAT its sessions were priced with (per rate), so the invoice total is exactly
the sum of the sessions' totals; a plan fee line carries its own VAT, rounded half-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from voltline_billing.domain.money import fmt, round_money
from voltline_billing.domain.priced import VatAmount

DocumentKind = Literal["invoice", "credit_note"]
PREFIX = {"invoice": "INV", "credit_note": "CN"}


class InvoiceError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    kind: str  # session | subscription_fee | credit
    reference: str  # cdr id, subscription id and month, or the credited line
    description: str
    amount: Decimal  # excluding VAT
    vat_percent: Decimal | None
    vat: Decimal

    def to_json(self, currency: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "description": self.description,
            "amount": fmt(self.amount, currency),
            "vat_percent": None if self.vat_percent is None else str(self.vat_percent),
            "vat": fmt(self.vat, currency),
            "amount_incl_vat": fmt(self.amount + self.vat, currency),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InvoiceLine:
        rate = data.get("vat_percent")
        return cls(
            data["kind"], data["reference"], data["description"], Decimal(data["amount"]),
            None if rate is None else Decimal(rate), Decimal(data["vat"]),
        )  # fmt: skip


def session_lines(cdr_id: str, label: str, no_vat_amount: Decimal, vat: tuple[VatAmount, ...]) -> list[InvoiceLine]:
    """One line per VAT rate of a priced session (usually one)."""
    lines = [
        InvoiceLine("session", cdr_id, f"{label} ({v.vat_percent}% VAT)", v.taxable, v.vat_percent, v.vat) for v in vat
    ]
    if no_vat_amount or not lines:
        lines.append(InvoiceLine("session", cdr_id, label, no_vat_amount, None, Decimal(0)))
    return lines


def fee_line(reference: str, description: str, fee: Decimal, vat_percent: Decimal | None, currency: str) -> InvoiceLine:
    vat = Decimal(0) if vat_percent is None else round_money(Fraction(fee) * Fraction(vat_percent) / 100, currency)
    return InvoiceLine("subscription_fee", reference, description, fee, vat_percent, vat)


@dataclass(frozen=True)
class Totals:
    excl_vat: Decimal
    vat: Decimal

    @property
    def incl_vat(self) -> Decimal:
        return self.excl_vat + self.vat


def totals(lines: list[InvoiceLine] | tuple[InvoiceLine, ...]) -> Totals:
    return Totals(sum((x.amount for x in lines), Decimal(0)), sum((x.vat for x in lines), Decimal(0)))


def document_number(kind: DocumentKind, year: int, sequence: int) -> str:
    """`INV-2026-000042`: one gapless sequence per kind and year."""
    return f"{PREFIX[kind]}-{year}-{sequence:06d}"


def series(kind: DocumentKind, year: int) -> str:
    return f"{PREFIX[kind]}-{year}"


def credit_lines(
    invoice_lines: tuple[InvoiceLine, ...],
    already_credited: dict[int, tuple[Decimal, Decimal]],
    requested: dict[int, Decimal] | None,
    currency: str,
) -> list[InvoiceLine]:
    """Credit note lines (negative). `requested` maps invoice line index to an amount excluding VAT;
    None credits everything not yet credited. No line can be credited beyond its amount, and a line
    credited in full gives back exactly its VAT (partial credits take their share, rounded half-up)."""
    wanted = requested if requested is not None else {i: line.amount for i, line in enumerate(invoice_lines)}
    out: list[InvoiceLine] = []
    for index, amount in sorted(wanted.items()):
        if not 0 <= index < len(invoice_lines):
            raise InvoiceError(f"the invoice has no line {index}")
        line = invoice_lines[index]
        done_amount, done_vat = already_credited.get(index, (Decimal(0), Decimal(0)))
        left = line.amount - done_amount
        if requested is None:
            amount = left
            if amount <= 0:
                continue
        if amount <= 0 or amount > left:
            raise InvoiceError(f"line {index} can be credited by at most {fmt(left, currency)} {currency}")
        if amount == left:
            vat = line.vat - done_vat
        else:
            vat = round_money(Fraction(line.vat) * Fraction(amount) / Fraction(line.amount), currency)
        out.append(InvoiceLine("credit", str(index), f"Credit: {line.description}", -amount, line.vat_percent, -vat))
    if not out:
        raise InvoiceError("nothing is left to credit on this invoice")
    return out


def credited_by_line(notes: list[tuple[InvoiceLine, ...]]) -> dict[int, tuple[Decimal, Decimal]]:
    """What earlier credit notes gave back, per invoice line: (amount, VAT), both positive."""
    out: dict[int, tuple[Decimal, Decimal]] = {}
    for lines in notes:
        for line in lines:
            amount, vat = out.get(int(line.reference), (Decimal(0), Decimal(0)))
            out[int(line.reference)] = (amount - line.amount, vat - line.vat)
    return out
