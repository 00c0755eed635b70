"""How the outside reaches the auth service: operator API, bus consumers, process entry point."""
