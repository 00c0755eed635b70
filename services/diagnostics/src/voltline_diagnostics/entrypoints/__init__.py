"""Entry points (API routes, bus consumers) of the diagnostics service. Empty until its issue is built."""
