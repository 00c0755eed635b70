"""voltline gateway."""
