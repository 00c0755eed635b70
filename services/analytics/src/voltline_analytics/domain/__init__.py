"""Pure domain logic of the analytics service (no I/O). Empty until its issue is built."""
