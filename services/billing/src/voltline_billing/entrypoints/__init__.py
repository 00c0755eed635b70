"""How the outside reaches the billing service: operator API, bus consumers, process entry point."""
