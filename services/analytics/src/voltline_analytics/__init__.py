"""voltline analytics."""
