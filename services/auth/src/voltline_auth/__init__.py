"""voltline auth."""
