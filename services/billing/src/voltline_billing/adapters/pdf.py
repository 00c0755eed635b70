"""Receipts and invoices as PDF, with fpdf2 (pure Python; ADR 0019).

The documents print the figures of the JSON they are made from, as they are (decimal strings): the PDF
never computes an amount. Text uses the PDF core font Helvetica (no font files to ship), whose encoding is
Latin-1: other characters print as `?`, and currencies print as their ISO code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

_WIDTHS = (78, 24, 30, 24, 18)  # description, quantity, unit price, net amount, VAT %


def _text(value: object) -> str:
    text = value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else str(value)
    return text.replace("…", "...").encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.set_title(title)
        self.set_creator("voltline billing")
        self.add_page()
        self.set_auto_page_break(auto=True, margin=15)

    def line_of(self, text: object, size: float = 9, bold: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)
        self.multi_cell(0, 5, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, cells: tuple[object, ...], bold: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", 8)
        for i, (width, value) in enumerate(zip(_WIDTHS, cells, strict=True)):
            last = i == len(_WIDTHS) - 1
            text = _text(value)
            while self.get_string_width(text) > width - 2 and len(text) > 4:  # a cell never spills into the next
                text = text[:-4] + "..."
            self.cell(width, 5, text, align="L" if i == 0 else "R",
                      new_x=XPos.LMARGIN if last else XPos.RIGHT, new_y=YPos.NEXT if last else YPos.TOP)  # fmt: skip

    def header_block(self, title: str, number: str, issued_at: object, seller: dict[str, Any]) -> None:
        self.line_of(seller["name"], 12, bold=True)
        self.line_of(seller["address"])
        self.line_of(f"VAT ID: {seller['vat_id']}")
        self.ln(4)
        self.line_of(title, 14, bold=True)
        self.line_of(f"Number: {number}")
        self.line_of(f"Date of issue: {_text(issued_at)}")

    def totals(self, doc: dict[str, Any]) -> None:
        cur = doc["currency"]
        self.ln(2)
        for vat in doc.get("vat", []):
            self.line_of(f"VAT {vat['vat_percent']}% on {vat['taxable']} {cur}: {vat['vat']} {cur}")
        self.line_of(f"Net total (excl. VAT): {doc['total_excl_vat']} {cur}", bold=True)
        self.line_of(f"VAT total: {doc['total_vat']} {cur}", bold=True)
        self.line_of(f"Total (incl. VAT): {doc['total_incl_vat']} {cur}", 11, bold=True)


def receipt_pdf(receipt: dict[str, Any]) -> bytes:
    """A CDR's receipt (domain.receipts.receipt) as an A4 PDF."""
    pdf = _Document(f"Receipt {receipt['number']}")
    pdf.header_block("Receipt / Invoice", receipt["number"], receipt["issued_at"], receipt["seller"])
    buyer = receipt["buyer"]
    pdf.line_of(f"Buyer: {buyer['name'] + ', ' if buyer.get('name') else ''}driver {buyer['driver_id']}")
    if buyer.get("address"):
        pdf.line_of(f"Buyer address: {buyer['address']}")
    if buyer.get("vat_id"):
        pdf.line_of(f"Buyer VAT ID: {buyer['vat_id']}")
    pdf.ln(3)
    where = f"Station: {receipt['station_id']}"
    if receipt["evse_id"] is not None:
        where += f", EVSE {receipt['evse_id']}"
    pdf.line_of(where)
    pdf.line_of(f"Station address: {receipt['station_address'] or 'not recorded'}")
    pdf.line_of(f"Charging period: {receipt['period']['start']} to {receipt['period']['end']} (UTC)")
    pdf.line_of(f"Energy delivered: {receipt['energy_kwh']} kWh")
    pdf.line_of(f"Session: {receipt['session_id']}  CDR: {receipt['cdr_id']}")
    pdf.ln(3)
    cur = receipt["currency"]
    pdf.row(("Item", "Quantity", f"Unit price ({cur})", f"Net ({cur})", "VAT %"), bold=True)
    for line in receipt["lines"]:
        pdf.row((line["description"], f"{line['quantity']} {line['unit']}", f"{line['unit_price']}/{line['price_per']}",
                 line["amount"], line["vat_percent"] or "-"))  # fmt: skip
    pdf.totals(receipt)
    pay = receipt["payment"]
    paid = f"Payment: {pay['method']}" + (f" ({pay['label']})" if pay["label"] else "") + f", {pay['state']}"
    if pay["captured"] is not None:
        paid += f", charged {pay['captured']} {cur}"
    pdf.ln(2)
    pdf.line_of(paid)
    return bytes(pdf.output())


def invoice_pdf(invoice: dict[str, Any], seller: dict[str, Any]) -> bytes:
    """A monthly invoice or credit note (as the invoices API returns it) as an A4 PDF."""
    kind = "Credit note" if invoice["kind"] == "credit_note" else "Invoice"
    pdf = _Document(f"{kind} {invoice['number']}")
    pdf.header_block(kind, invoice["number"], invoice["issued_at"], seller)
    pdf.line_of(f"Buyer: driver {invoice['driver_id']}")
    if invoice.get("period"):
        pdf.line_of(f"Period: {invoice['period']}")
    if invoice.get("corrects"):
        pdf.line_of(f"Corrects: {invoice['corrects']} ({invoice.get('reason') or ''})")
    pdf.ln(3)
    cur = invoice["currency"]
    pdf.row(("Item", "", "", f"Net ({cur})", "VAT %"), bold=True)
    for line in invoice["lines"]:
        pdf.row((line["description"], "", "", line["amount"], line["vat_percent"] or "-"))
    pdf.totals(invoice)
    return bytes(pdf.output())
