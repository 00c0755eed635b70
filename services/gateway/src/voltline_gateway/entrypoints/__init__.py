"""How the outside reaches the gateway: the operator API and the process entry point."""
