"""Entry points (API routes, bus consumers) of the analytics service. Empty until its issue is built."""
