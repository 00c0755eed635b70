"""Adapters (database, bus) of the session service. Empty until its issue is built."""
