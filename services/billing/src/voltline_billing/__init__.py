"""voltline billing."""
