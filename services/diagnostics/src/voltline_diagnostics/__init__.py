"""voltline diagnostics."""
