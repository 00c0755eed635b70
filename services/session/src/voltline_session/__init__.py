"""voltline session."""
