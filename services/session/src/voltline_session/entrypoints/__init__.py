"""Entry points (API routes, bus consumers) of the session service. Empty until its issue is built."""
