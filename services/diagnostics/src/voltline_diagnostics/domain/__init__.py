"""Pure domain logic of the diagnostics service (no I/O). Empty until its issue is built."""
