"""Entry points (API routes, bus consumers) of the billing service. Empty until its issue is built."""
