"""Adapters (database, bus) of the billing service. Empty until its issue is built."""
