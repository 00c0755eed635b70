"""Pure billing rules: tariffs, pricing, payments, ledger, invoices. No I/O here."""
