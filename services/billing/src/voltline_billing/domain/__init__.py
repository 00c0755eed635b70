"""Pure domain logic of the billing service (no I/O). Empty until its issue is built."""
